"""Settings of the Tier-2 ticket console, read once from the environment (12-factor).

Without DATABASE_URL the console uses an SQLite file under var/; without REDIS_URL Celery runs
tasks eagerly in the web process and the cache is in local memory. That is the embedded default
for one machine (`make run`). Production and CI set both URLs. See docs/configuration.md.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# --- Mode, secrets, hosts -------------------------------------------------------------------
DEVELOPMENT_SECRET_KEY = "dev-only-insecure-key-change-me"  # noqa: S105 - refused in production
TIER2_MODE = os.environ.get("TIER2_MODE", "development").strip().lower()
if TIER2_MODE not in {"development", "production"}:
    raise ImproperlyConfigured("TIER2_MODE must be 'development' or 'production'.")
PRODUCTION = TIER2_MODE == "production"

SECRET_KEY = os.environ.get("SECRET_KEY") or DEVELOPMENT_SECRET_KEY
DEBUG = env_bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

if PRODUCTION:
    if SECRET_KEY == DEVELOPMENT_SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("Production mode needs a SECRET_KEY of 32 or more characters.")
    if DEBUG:
        raise ImproperlyConfigured("Production mode refuses to start with DEBUG on.")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("Production mode needs ALLOWED_HOSTS.")
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        raise ImproperlyConfigured(
            "Production mode needs DATABASE_URL (PostgreSQL) and REDIS_URL: the embedded "
            "SQLite and eager Celery are for one machine only."
        )
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)

# --- Applications ---------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from static files, no CDN
    "django_htmx",
    "tickets",
    "integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Bahasa Indonesia unless the user switches (ignores the browser's Accept-Language).
    "tickets.views.language.ConsoleLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

if PRODUCTION:
    # Static files served by the web process itself from STATIC_ROOT (collectstatic at build).
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "tier2.urls"
WSGI_APPLICATION = "tier2.wsgi.application"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DEFAULT_SQLITE_PATH = BASE_DIR / "var" / "db.sqlite3"
DATABASE_URL = os.environ.get("DATABASE_URL", "").strip()
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL or f"sqlite:///{DEFAULT_SQLITE_PATH}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60 if DATABASE_URL else 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DEFAULT_SQLITE_PATH.parent.mkdir(exist_ok=True)
    # SQLite serialises writers; wait for the lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The late-tickets index INCLUDEs columns for index-only scans on PostgreSQL; SQLite (the
# embedded default) builds it without them, which is fine.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

# --- Redis: Celery broker, result backend and cache ------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = env_bool("CELERY_TASK_EAGER_PROPAGATES", False)
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
# Nothing reads task results (effects are in the database); without them a broker outage
# fails `.delay()` fast with kombu's OperationalError instead of retrying a result backend.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "Asia/Jakarta"
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 600)}

if REDIS_URL:
    # The cache holds nothing that cannot be lost (My Kiss look-ups, import progress, cancel
    # flags), so a Redis outage degrades instead of failing requests: django-redis answers a
    # miss to reads, drops writes and logs each ignored error ("django_redis.cache" logger).
    # Short socket timeouts keep an unreachable Redis from holding a request up.
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 1,
            },
        }
    }
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "id"
LANGUAGES = [("id", _("Bahasa Indonesia")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Jakarta"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "tickets.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tier-2 ticket console API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # Eager Celery logs every task at INFO; keep the embedded default quiet.
    "loggers": {"celery": {"level": os.environ.get("CELERY_LOG_LEVEL", "WARNING")}},
}

# --- Tier-2 policy (SOP) --------------------------------------------------------------------
# Failed contact attempts after which a ticket may close as unreachable (SOP: 3).
TIER2_MAX_CONTACT_ATTEMPTS = env_int("TIER2_MAX_CONTACT_ATTEMPTS", 3)
# Lapul (lapor ulang): a report within this many days of a close is a Fresh Lapul.
TIER2_LAPUL_WINDOW_DAYS = env_int("TIER2_LAPUL_WINDOW_DAYS", 30)
# SLG: restoration guarantee from the first report of a fault (default 3 x 24 h).
TIER2_SLG_HOURS = env_int("TIER2_SLG_HOURS", 72)
# Share of the SLA time used after which a ticket is "at risk".
TIER2_SLA_AT_RISK_SHARE = env_float("TIER2_SLA_AT_RISK_SHARE", 0.8)
# Gamas recovery fan-out: children moved per batch (one transaction each).
TIER2_GAMAS_BATCH_SIZE = env_int("TIER2_GAMAS_BATCH_SIZE", 1000)
# Site that works the C4 Caring flow (SOP 8.4: Malang only).
TIER2_C4_CARING_SITE = os.environ.get("TIER2_C4_CARING_SITE", "MLG")

# --- Integrations (stub adapters; see docs/adapters.md) --------------------------------------
TIER2_ADAPTER_APPS = (
    "mycx", "ibooster", "mykiss", "nossa", "isiska", "epayment", "starclick",
    "callback", "webcare", "minitools", "sephia", "acs", "myindihome",
)  # fmt: skip
TIER2_ADAPTERS = {
    app: {
        key: value
        for key, value in {
            "class": os.environ.get(f"TIER2_ADAPTER_{app.upper()}_CLASS", ""),
            "latency_ms": env_int(f"TIER2_ADAPTER_{app.upper()}_LATENCY_MS", 0),
            "failure_rate": env_float(f"TIER2_ADAPTER_{app.upper()}_FAILURE_RATE", 0.0),
            "jitter_ms": env_int(f"TIER2_ADAPTER_{app.upper()}_JITTER_MS", 0),
            "lost_reply_rate": env_float(f"TIER2_ADAPTER_{app.upper()}_LOST_REPLY_RATE", 0.0),
        }.items()
        if value != ""
    }
    for app in TIER2_ADAPTER_APPS
}
# Where the stubs count their writes per idempotency key (a Redis URL; empty: process memory).
TIER2_STUB_EFFECTS_URL = os.environ.get("TIER2_STUB_EFFECTS_URL", REDIS_URL).strip()
TIER2_STUB_EFFECTS_KEY = os.environ.get("TIER2_STUB_EFFECTS_KEY", "tier2:stub-effects")
# Attempts of a call that fails as unavailable, and Celery's retry backoff between them
# (retry_backoff, retry_backoff_max, retry_jitter of `run_adapter_call`).
TIER2_ADAPTER_MAX_RETRIES = env_int("TIER2_ADAPTER_MAX_RETRIES", 4)
TIER2_ADAPTER_RETRY_BACKOFF_SECONDS = env_float("TIER2_ADAPTER_RETRY_BACKOFF_SECONDS", 2.0)
TIER2_ADAPTER_RETRY_BACKOFF_MAX_SECONDS = env_float("TIER2_ADAPTER_RETRY_BACKOFF_MAX_SECONDS", 120)
TIER2_ADAPTER_RETRY_JITTER = env_bool("TIER2_ADAPTER_RETRY_JITTER", True)
# A claimed (running) call is run again only after its lease: longer than any call may take.
TIER2_OUTBOX_LEASE_SECONDS = env_int("TIER2_OUTBOX_LEASE_SECONDS", 120)
# Grace before the sweep sends a call again whose message is missing or was lost.
TIER2_OUTBOX_REDISPATCH_AFTER_SECONDS = env_int("TIER2_OUTBOX_REDISPATCH_AFTER_SECONDS", 60)

# --- Periodic jobs (Celery beat) ------------------------------------------------------------
# Records a pull reads per page; each page and its cursor move commit together.
TIER2_PULL_PAGE_SIZE = env_int("TIER2_PULL_PAGE_SIZE", 100)
CELERY_BEAT_SCHEDULE = {
    "sla-sweep": {
        "task": "tickets.tasks.sla_sweep",
        "schedule": timedelta(seconds=env_int("TIER2_SLA_SWEEP_SECONDS", 60)),
    },
    "pull-nossa-tickets": {
        "task": "tickets.tasks.pull_nossa_tickets",
        "schedule": timedelta(seconds=env_int("TIER2_PULL_NOSSA_SECONDS", 60)),
    },
    "pull-callback-records": {
        "task": "tickets.tasks.pull_callback_records",
        "schedule": timedelta(seconds=env_int("TIER2_PULL_CALLBACK_SECONDS", 300)),
    },
    "pull-force-close-list": {
        "task": "tickets.tasks.pull_force_closed_tickets",
        "schedule": timedelta(seconds=env_int("TIER2_PULL_FORCE_CLOSE_SECONDS", 900)),
    },
    "resume-gamas-fan-outs": {
        "task": "tickets.tasks.resume_gamas_fan_outs",
        "schedule": timedelta(seconds=env_int("TIER2_OUTBOX_SWEEP_SECONDS", 30)),
    },
    "redispatch-outbox": {
        "task": "integrations.tasks.redispatch_outbox",
        "schedule": timedelta(seconds=env_int("TIER2_OUTBOX_SWEEP_SECONDS", 30)),
    },
}
