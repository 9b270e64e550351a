"""The test suite: PostgreSQL when DATABASE_URL is set (the Makefile sets it when 5432 answers)."""

import os

from config.settings.base import *  # noqa: F403

SECRET_KEY = "test-only-key"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["*"]
# Webhook receivers in the tests listen on 127.0.0.1 (tests of the guard turn this off).
WEBHOOKS_ALLOW_PRIVATE = True

# Static files straight from the app folders (no collectstatic needed to try the app).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True

# Tasks run in-process unless a test starts a real worker (the `celery_worker` fixture).
CELERY_TASK_ALWAYS_EAGER = os.environ.get("RUBRIC_CELERY_EAGER", "1") == "1"

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # The browser tests' live server answers from several threads at once (a submit beside a
    # draft autosave). An in-memory test database shared between threads fails at once with
    # "database table is locked"; a file database makes them wait (the timeout above).
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}  # noqa: F405
