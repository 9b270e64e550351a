"""`make run`: SQLite by default, or PostgreSQL and Redis when DATABASE_URL, REDIS_URL are set."""

import os

from config.settings.base import *  # noqa: F403
from config.settings.base import env_bool

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "local-development-only-key-not-for-production"

# Static files straight from the app folders (no collectstatic needed to try the app).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True

# Local development: a webhook receiver on this machine (127.0.0.1) may be registered.
WEBHOOKS_ALLOW_PRIVATE = env_bool("WEBHOOKS_ALLOW_PRIVATE", True)
