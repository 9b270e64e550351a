"""Production: refuses an insecure key or a missing broker, and passes `check --deploy`."""

import os

from django.core.exceptions import ImproperlyConfigured

from config.settings.base import *  # noqa: F403
from config.settings.base import REDIS_URL, env_bool

DEBUG = False

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure"):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a random value of at least 50 characters with at least "
        "5 distinct characters, e.g. python -c 'import secrets; print(secrets.token_urlsafe(64))'."
    )
if not REDIS_URL:
    raise ImproperlyConfigured(
        "REDIS_URL must be set in production: agreement reports and exports run on Celery workers."
    )

# Without an SMTP server (EMAIL_HOST) no mailer is configured (the console backend is for
# development): invitation emails are not sent, and the lead's page says to pass the link on.
if not os.environ.get("EMAIL_HOST"):
    MAILERS = {}
    # Django warns that sending would fail: the app does not send then (team.services).
    SILENCED_SYSTEM_CHECKS = [*globals().get("SILENCED_SYSTEM_CHECKS", []), "mail.W001"]

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    "exports": STORAGES["exports"],  # noqa: F405 (EXPORT_STORAGE_URL, from base)
}
