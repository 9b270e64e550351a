"""The test suite: PostgreSQL when DATABASE_URL is set (the Makefile sets it when 5432 answers)."""

import os

from config.settings.base import *  # noqa: F403

SECRET_KEY = "test-only-key"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["*"]

# Static files straight from the app folders (no collectstatic needed to try the app).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True

# Tasks run in-process unless a test starts a real worker (the `celery_worker` fixture).
CELERY_TASK_ALWAYS_EAGER = os.environ.get("RUBRIC_CELERY_EAGER", "1") == "1"
