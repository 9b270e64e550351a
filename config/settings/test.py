"""The test suite: PostgreSQL when DATABASE_URL is set (the Makefile sets it when 5432 answers)."""

from config.settings.base import *  # noqa: F403

SECRET_KEY = "test-only-key"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["*"]

# Static files straight from the app folders (no collectstatic needed to try the app).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
