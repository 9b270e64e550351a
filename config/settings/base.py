"""Settings shared by every environment, read from the environment (cookiecutter-django style).

Embedded default: SQLite under var/ and Celery tasks run in-process. Set DATABASE_URL for
PostgreSQL and REDIS_URL for Redis as broker and cache (then a separate worker runs the tasks).
"""

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("RUBRIC_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)
# Only the local/test settings supply a development key; production refuses to start without one.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "core",
    "annotation",
    "review",
    "hygiene",
    "team",
    "agreement",
    "exports",
    "routing",
    "evaluation",
    "console",
    "feedback",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "core.middleware.ApplicationErrorMiddleware",
    "core.middleware.DatabaseTroubleMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.runtime",
                "django.template.context_processors.csp",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    # Health checks: a persistent connection that died while idle (a database restart) is
    # replaced at the start of the next request instead of failing it; on PostgreSQL checked
    # without a round trip while the connection is sound (core/postgresql/base.py).
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["ENGINE"] = "core.postgresql"
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "rubric.sqlite3",
            # Writers wait for each other instead of failing at once with "database is locked".
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Behind N reverse proxies, each appending to X-Forwarded-For, the client's address is the N-th
# entry from the right (core/throttle.py); 0: REMOTE_ADDR, the header is ignored.
RUBRIC_TRUSTED_PROXIES = int(os.environ.get("RUBRIC_TRUSTED_PROXIES", "0"))
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", VAR_DIR / "staticfiles"))
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


def export_storage(url: str, environ: Mapping[str, str]) -> dict:
    """The export storage for ``EXPORT_STORAGE_URL``: ``s3://bucket/prefix`` writes exports to
    S3 or an S3-compatible store (``AWS_S3_ENDPOINT_URL``) through django-storages, with the
    usual AWS variables (credentials from boto3's chain); empty: the local disk (MEDIA_ROOT)."""
    if not url:
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"EXPORT_STORAGE_URL must look like s3://bucket/prefix, not {url!r}")
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": parts.netloc,
            "location": parts.path.strip("/"),
            "endpoint_url": environ.get("AWS_S3_ENDPOINT_URL") or None,
            "region_name": environ.get("AWS_S3_REGION_NAME")
            or environ.get("AWS_DEFAULT_REGION")
            or None,
            "addressing_style": environ.get("AWS_S3_ADDRESSING_STYLE") or None,
            "signature_version": "s3v4",
            # Downloads redirect to a pre-signed URL that expires after this many seconds.
            "querystring_auth": True,
            "querystring_expire": int(environ.get("EXPORT_URL_EXPIRES_SECONDS", "300")),
            "file_overwrite": True,  # an export's file keeps its one name
            "default_acl": None,
        },
    }


STORAGES["exports"] = export_storage(os.environ.get("EXPORT_STORAGE_URL", ""), os.environ)

# Bulk imports: 10,000 items or 50 MB per request; the view answers 413 past them.
RUBRIC_IMPORT_MAX_ITEMS = 10_000
RUBRIC_IMPORT_MAX_BYTES = 50 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = RUBRIC_IMPORT_MAX_BYTES + 1024 * 1024

REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://"
# Without a broker the tasks run in-process (the embedded default); the pages say so.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A publish to a broker that is down fails at once instead of retrying for seconds: the outbox
# keeps the job and hands it over again later (core/outbox.py).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Background jobs go through the outbox (core/outbox.py): its relay hands waiting jobs to the
# broker and its sweeper hands back (or fails) jobs whose worker stopped writing a heartbeat.
RUBRIC_OUTBOX_TICK_SECONDS = float(os.environ.get("RUBRIC_OUTBOX_TICK_SECONDS", "10"))
RUBRIC_JOB_HEARTBEAT_SECONDS = float(os.environ.get("RUBRIC_JOB_HEARTBEAT_SECONDS", "10"))
RUBRIC_JOB_STALE_SECONDS = float(os.environ.get("RUBRIC_JOB_STALE_SECONDS", "60"))
RUBRIC_OUTBOX_SENT_TIMEOUT_SECONDS = float(
    os.environ.get("RUBRIC_OUTBOX_SENT_TIMEOUT_SECONDS", "600")
)
RUBRIC_OUTBOX_RETRY_SECONDS = float(os.environ.get("RUBRIC_OUTBOX_RETRY_SECONDS", "5"))
# Webhooks (webhooks/services.py): an endpoint's URL may name a private, loopback or
# link-local address only when this is on (tests and `make run`; never in production).
WEBHOOKS_ALLOW_PRIVATE = env_bool("WEBHOOKS_ALLOW_PRIVATE", False)
WEBHOOKS_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOKS_TIMEOUT_SECONDS", "10"))
WEBHOOKS_RETRY_BASE_SECONDS = float(os.environ.get("WEBHOOKS_RETRY_BASE_SECONDS", "10"))
WEBHOOKS_RETRY_MAX_SECONDS = float(os.environ.get("WEBHOOKS_RETRY_MAX_SECONDS", "3600"))
WEBHOOKS_RETRY_WINDOW_SECONDS = float(os.environ.get("WEBHOOKS_RETRY_WINDOW_SECONDS", "86400"))
WEBHOOKS_DISABLE_AFTER_SECONDS = float(os.environ.get("WEBHOOKS_DISABLE_AFTER_SECONDS", "86400"))
WEBHOOKS_DELIVERIES_KEPT_DAYS = float(os.environ.get("WEBHOOKS_DELIVERIES_KEPT_DAYS", "30"))
CELERY_BEAT_SCHEDULE = {
    # Leases that ran out are already free for claims; this keeps counters and resume tidy.
    "expire-leases": {"task": "annotation.expire_leases", "schedule": 60.0},
    "outbox-tick": {"task": "core.outbox_tick", "schedule": RUBRIC_OUTBOX_TICK_SECONDS},
    "prune-auth-attempts": {"task": "core.prune_auth_attempts", "schedule": 3600.0},
    "prune-agreement-reports": {"task": "agreement.prune_reports", "schedule": 3600.0},
    "prune-webhook-deliveries": {"task": "webhooks.prune_deliveries", "schedule": 3600.0},
}
# Email (invitations): the console backend unless an SMTP host is given.
# (Django 6.1's MAILERS; EMAIL_HOST and friends are read from the environment.)
if os.environ.get("EMAIL_HOST"):
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": os.environ["EMAIL_HOST"],
                "port": int(os.environ.get("EMAIL_PORT", "587")),
                "username": os.environ.get("EMAIL_HOST_USER", ""),
                "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
                "use_tls": os.environ.get("EMAIL_USE_TLS", "1") == "1",
                "use_ssl": os.environ.get("EMAIL_USE_SSL", "0") == "1",
                "timeout": 10,
            },
        }
    }
else:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "rubric@localhost")
# Who may create projects (and become their lead): `staff`, or `everyone` logged in.
PROJECT_CREATORS = os.environ.get("PROJECT_CREATORS", "staff").strip().lower()
if PROJECT_CREATORS not in ("staff", "everyone"):
    raise ImproperlyConfigured("PROJECT_CREATORS must be `staff` or `everyone`.")
# Agreement reports each project keeps (the newest); older finished ones are deleted hourly.
# Audit events are never pruned.
RUBRIC_AGREEMENT_REPORTS_KEPT = int(os.environ.get("RUBRIC_AGREEMENT_REPORTS_KEPT", "50"))

if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.tokens.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "core.tokens.TokenScopePermission",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # DRF's JSON parser, refusing too deep nesting, lone surrogates and NaN with a 400.
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "core.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Rubric API",
    "DESCRIPTION": "Task queues, agreement and training-ready exports for LLM feedback data.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc are served from the project (the sidecar package), never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Every variant of a body by kind names its kind through one component per kind.
    "POSTPROCESSING_HOOKS": [
        "annotation.kinds.schemas.postprocess_kind_enums",
        "drf_spectacular.hooks.postprocess_schema_enums",
    ],
    # Choice sets that share a field name get names of their own (not "Status03cEnum").
    "ENUM_NAME_OVERRIDES": {
        "KindEnum": "annotation.models.Kind",
        "RoleEnum": "annotation.models.Role",
        "InvitationStateEnum": "team.models.InvitationState",
        "ItemStatusEnum": "annotation.models.ItemStatus",
        "AssignmentStatusEnum": "annotation.models.AssignmentStatus",
        "JobStatusEnum": "core.models.JobStatus",
        "SplitEnum": "annotation.models.Split",
        "ExportSplitEnum": "exports.models.ExportSplit",
        "EvaluationSplitEnum": "evaluation.reader.SPLITS",
        "RefusalDecisionEnum": "annotation.kinds.refusal.DECISIONS",
        "ReviewDecisionEnum": "review.models.ReviewDecision",
    },
    # No validator badge (Swagger UI would load it from validator.swagger.io).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # The stock Redoc page links Google Fonts; core/api_docs.py serves one without them.
    "REDOC_UI_SETTINGS": {
        "theme": {
            "typography": {
                "fontFamily": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
                "headings": {"fontFamily": "system-ui, -apple-system, 'Segoe UI', sans-serif"},
            }
        },
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
}

# A worker and its producers must agree on the queue; tests use a queue of their own.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("RUBRIC_CELERY_QUEUE", "celery")

# Pages: a Content-Security-Policy that runs only the project's own scripts (and the one that
# carries the request's nonce), no inline script, no eval, no other origin; not framed.
from django.utils.csp import CSP  # noqa: E402

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"

# Personal data scan of exports (hygiene.pii): the region phone numbers written without a
# country code are read for (an ISO 3166 code); numbers in international form are found
# whatever it is.
RUBRIC_PHONE_REGION = os.environ.get("RUBRIC_PHONE_REGION", "US")
# Rows an export scans in its own process before a helper process (hygiene.hint_process)
# searches the row hint on another core; "off": never.
_HINT_PROCESS_AFTER = os.environ.get("RUBRIC_PII_HINT_PROCESS_AFTER", "20000").strip().lower()
RUBRIC_PII_HINT_PROCESS_AFTER = None if _HINT_PROCESS_AFTER == "off" else int(_HINT_PROCESS_AFTER)
