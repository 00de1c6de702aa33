"""Settings of the Tier-2 ticket console, read once from the environment (12-factor).

Without DATABASE_URL the console uses an SQLite file under var/; without REDIS_URL Celery runs
tasks eagerly in the web process and the cache is in local memory. That is the embedded default
for one machine (`make run`). Production and CI set both URLs. See docs/configuration.md.
"""

import ipaddress
import json
import os
from datetime import time as dt_time
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
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

# Refused in production: the development key, anything containing .env.example's placeholder
# ("change-me"), and what `check --deploy` calls weak (security.W009): under 50 characters, under
# 5 distinct ones, or Django's "django-insecure-" prefix.
EXAMPLE_SECRET_MARKER = "change-me"  # noqa: S105 - the placeholder text, refused in production
if PRODUCTION:
    if (
        SECRET_KEY == DEVELOPMENT_SECRET_KEY
        or EXAMPLE_SECRET_MARKER in SECRET_KEY.lower()
        or len(SECRET_KEY) < 50
        or len(set(SECRET_KEY)) < 5
        or SECRET_KEY.startswith("django-insecure-")
    ):
        raise ImproperlyConfigured(
            "Production mode needs a random SECRET_KEY of 50 or more characters, not the "
            ".env.example placeholder: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
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
    # HTTPS is terminated by the TLS proxy in front (docs/operations.md), which must set
    # X-Forwarded-Proto on every request; web is published on 127.0.0.1 only, so no one else can.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # The container's health probes speak plain HTTP to gunicorn: never redirect them.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)  # a year
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)

# --- Applications ---------------------------------------------------------------------------
INSTALLED_APPS = [
    # First: its `runserver` (make run) serves ASGI_APPLICATION, the websockets included.
    "daphne",
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
    "django_prometheus",  # request latency metrics (docs/metrics.md)
    "csp",  # Content-Security-Policy (django-csp 4), see CONTENT_SECURITY_POLICY
    "axes",  # sign-in lockout (docs/security.md)
    "django_otp",  # two-factor sign-in: TOTP apps and recovery codes
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "channels",  # the live console's websockets (docs/live.md)
    "tickets",
    "integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    # /healthz and /readyz answer here: before the host check, sessions, locale and login.
    "tickets.views.health.HealthCheckMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "tickets.views.account.SessionIdleMiddleware",  # idle timeout; after SessionMiddleware
    # Bahasa Indonesia unless the user switches (ignores the browser's Accept-Language).
    "tickets.views.language.ConsoleLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The request signals are sent from, for the security log's receivers (who, from where).
    "tickets.receivers.SecurityContextMiddleware",
    "django_otp.middleware.OTPMiddleware",  # user.is_verified(): passed the second factor
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Sends users who must pass a second factor to enrol or verify first (after htmx's).
    "tickets.views.account.TwoFactorMiddleware",
    # Turns a lockout into the login page's message or the API's error (keep it last).
    "axes.middleware.AxesMiddleware",
]

if PRODUCTION:
    # Static files served by the web process itself from STATIC_ROOT (collectstatic at build).
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

# Around everything else (docs/metrics.md): request latency (django-prometheus' pair), the
# request id of every log line, and /metrics answered before the host check and HTTPS redirect.
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "tickets.observability.RequestIdMiddleware",
    "tickets.observability.MetricsEndpointMiddleware",
    *MIDDLEWARE,
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "tier2.urls"
WSGI_APPLICATION = "tier2.wsgi.application"
ASGI_APPLICATION = "tier2.asgi.application"  # HTTP and the live console's websockets

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
# A streaming replica for chosen reads (dashboard, exports, search, API lists): tier2/replica.py
# and docs/replica.md. Tests run with the replica as a mirror of the test database.
READ_REPLICA_URL = os.environ.get("READ_REPLICA_URL", "").strip()
READ_REPLICA_READS = bool(READ_REPLICA_URL) and env_bool("READ_REPLICA_READS", True)
READ_REPLICA_MAX_LAG_SECONDS = env_float("READ_REPLICA_MAX_LAG_SECONDS", 5.0)
READ_REPLICA_CHECK_SECONDS = env_float("READ_REPLICA_CHECK_SECONDS", 2.0)
if READ_REPLICA_URL:
    if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
        raise ImproperlyConfigured("READ_REPLICA_URL needs a PostgreSQL DATABASE_URL.")
    DATABASES["replica"] = dj_database_url.parse(
        READ_REPLICA_URL, conn_max_age=DATABASES["default"]["CONN_MAX_AGE"]
    )
    # A replica that does not answer is skipped after this long, not waited for.
    DATABASES["replica"].setdefault("OPTIONS", {})["connect_timeout"] = env_int(
        "READ_REPLICA_CONNECT_TIMEOUT", 2
    )
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["tier2.replica.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The late-tickets index INCLUDEs columns for index-only scans on PostgreSQL; SQLite (the
# embedded default) builds it without them, which is fine.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
# check --deploy's W021 asks for SECURE_HSTS_PRELOAD. It stays off by default on purpose: the
# preload list covers the whole registered domain (every host of the company's domain, HTTPS
# only, for months after removal), a decision for its owner, who can set SECURE_HSTS_PRELOAD=1.
SILENCED_SYSTEM_CHECKS.append("security.W021")

# --- Redis: Celery broker, result backend and cache ------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = env_bool("CELERY_TASK_EAGER_PROPAGATES", False)
# Embedded: an in-memory broker, which eager mode still opens once to serialise a task's
# arguments. It is named with a host so kombu has none to "revert to" (no warning at the first
# task); the memory transport ignores the host.
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
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
    # The cache holds nothing that cannot be lost (My Kiss look-ups, import progress; an
    # import's cancel request is on its row), so a Redis outage degrades instead of failing
    # requests: django-redis answers a miss to reads, drops writes and logs each ignored error
    # ("django_redis.cache" logger).
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
# A session ends when the browser closes, and after TIER2_SESSION_IDLE_MINUTES with no request
# (default: a shift): a session in use is saved again, at most once a minute, which moves its
# expiry forward.
TIER2_SESSION_IDLE_MINUTES = env_int("TIER2_SESSION_IDLE_MINUTES", 480)
if TIER2_SESSION_IDLE_MINUTES < 1:
    raise ImproperlyConfigured("TIER2_SESSION_IDLE_MINUTES must be 1 or more.")
SESSION_COOKIE_AGE = TIER2_SESSION_IDLE_MINUTES * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# Kept alive by use, saved at most once a minute (tickets.views.account.SessionIdleMiddleware).
SESSION_SAVE_EVERY_REQUEST = False

# --- Browser security headers (docs/operations.md) ------------------------------------------
# Content-Security-Policy, in both modes: scripts and styles from our own origin only. No page
# has inline script, event handler or style attribute (tests/security); htmx runs with eval and
# its injected indicator style off (the htmx-config meta in base.html). The only nonce is the
# Swagger UI page's (templates/drf_spectacular/swagger_ui.html): the header carries a nonce only
# on a response whose template asked for one.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],  # Swagger UI's icons and the empty favicon are data: URIs
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Permissions-Policy: the console uses none of these browser features; no page may.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer", "autoplay", "browsing-topics", "camera", "display-capture",
        "geolocation", "gyroscope", "hid", "idle-detection", "magnetometer", "microphone",
        "midi", "payment", "screen-wake-lock", "serial", "usb",
        "xr-spatial-tracking",
    )
}  # fmt: skip
AUTHENTICATION_BACKENDS = [
    # First: refuses every sign-in of a locked user or address (django-axes), then passwords.
    "tickets.views.account.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# --- Sign-in protection (django-axes) and two-factor sign-in (django-otp); docs/security.md ---
# Reverse proxies in front of the web process that append to X-Forwarded-For (0: none, the
# client is REMOTE_ADDR). Locks and API throttles count per client address, so behind a TLS
# proxy this must be 1, or every user would share the proxy's address; never more than the
# proxies really there, or a client could choose its address.
TIER2_PROXY_COUNT = env_int("TIER2_PROXY_COUNT", 0)
# After this many failed sign-ins in a row for one user name, or from one address, the next one
# is refused even with the right password, until the lock ends TIER2_LOCKOUT_MINUTES after the
# last attempt (an attempt while locked restarts the wait) or an admin unlocks it.
TIER2_LOCKOUT_FAILURES = env_int("TIER2_LOCKOUT_FAILURES", 5)
TIER2_LOCKOUT_MINUTES = env_int("TIER2_LOCKOUT_MINUTES", 15)
# What a lock applies to: the user name and the address, each on its own; "username" alone
# suits a desk whose agents all sign in from one NAT address.
TIER2_LOCKOUT_BY = env_list("TIER2_LOCKOUT_BY", "username,ip_address")
if TIER2_LOCKOUT_FAILURES < 1 or TIER2_LOCKOUT_MINUTES < 1:
    raise ImproperlyConfigured("TIER2_LOCKOUT_FAILURES and TIER2_LOCKOUT_MINUTES must be 1+.")
if not TIER2_LOCKOUT_BY or set(TIER2_LOCKOUT_BY) - {"username", "ip_address"}:
    raise ImproperlyConfigured("TIER2_LOCKOUT_BY: 'username', 'ip_address' or both.")
AXES_FAILURE_LIMIT = TIER2_LOCKOUT_FAILURES
AXES_COOLOFF_TIME = timedelta(minutes=TIER2_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = TIER2_LOCKOUT_BY
# A success does not wipe the failures: with per-address locks it would wipe every failure from
# that address, so an attacker with an account of their own could reset the count at will.
AXES_RESET_ON_SUCCESS = False
AXES_CLIENT_IP_CALLABLE = "tickets.views.account.client_ip"
AXES_LOCKOUT_CALLABLE = "tickets.views.account.lockout_response"
# Sign-ins and lockouts go to the security log; axes keeps only the counters of failures.
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ACCESS_FAILURE_LOG = False

# Two-factor sign-in: who must have it. Roles (groups) listed in TIER2_2FA_REQUIRED_ROLES must
# enrol before any console page (production default: every role above agent); agents follow
# TIER2_2FA_AGENTS: optional (may enrol), required, or off (not offered). A user with a device
# is always asked for a code. API tokens are not affected.
TWO_FACTOR_ROLES = ("Supervisor", "Support", "Admin")
TIER2_2FA_REQUIRED_ROLES = env_list(
    "TIER2_2FA_REQUIRED_ROLES", ",".join(TWO_FACTOR_ROLES) if PRODUCTION else ""
)
TIER2_2FA_AGENTS = os.environ.get("TIER2_2FA_AGENTS", "optional").strip().lower()
if set(TIER2_2FA_REQUIRED_ROLES) - set(TWO_FACTOR_ROLES):
    raise ImproperlyConfigured(
        "TIER2_2FA_REQUIRED_ROLES names only Supervisor, Support and Admin "
        "(agents: TIER2_2FA_AGENTS=required)."
    )
if TIER2_2FA_AGENTS not in {"optional", "required", "off"}:
    raise ImproperlyConfigured("TIER2_2FA_AGENTS must be 'optional', 'required' or 'off'.")
OTP_TOTP_ISSUER = "Tier-2 CC Telkom"  # the account's name in the authenticator app
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # the admin never shows TOTP secrets or recovery codes

# --- Single sign-on (OpenID Connect, optional; see docs/sso.md) -----------------------------
# Off unless a client id, its secret and the provider (its issuer, for discovery, or its
# endpoints) are set. mozilla-django-oidc reads the OIDC_* names; tickets.services.sso maps the
# provider's groups to the console's roles.
TIER2_OIDC_ISSUER = os.environ.get("TIER2_OIDC_ISSUER", "").strip()
OIDC_RP_CLIENT_ID = os.environ.get("TIER2_OIDC_CLIENT_ID", "").strip()
OIDC_RP_CLIENT_SECRET = os.environ.get("TIER2_OIDC_CLIENT_SECRET", "").strip()
# Empty: read from the issuer's discovery document, when SSO first needs them.
OIDC_OP_AUTHORIZATION_ENDPOINT = os.environ.get("TIER2_OIDC_AUTHORIZATION_ENDPOINT", "").strip()
OIDC_OP_TOKEN_ENDPOINT = os.environ.get("TIER2_OIDC_TOKEN_ENDPOINT", "").strip()
OIDC_OP_USER_ENDPOINT = os.environ.get("TIER2_OIDC_USERINFO_ENDPOINT", "").strip()
OIDC_OP_JWKS_ENDPOINT = os.environ.get("TIER2_OIDC_JWKS_ENDPOINT", "").strip()
OIDC_RP_SIGN_ALGO = os.environ.get("TIER2_OIDC_SIGN_ALGO", "RS256").strip().upper()
OIDC_RP_SCOPES = " ".join(env_list("TIER2_OIDC_SCOPES", "openid,email,profile"))
OIDC_TIMEOUT = env_float("TIER2_OIDC_TIMEOUT_SECONDS", 10.0)
OIDC_USE_PKCE = True
# The token request authenticates the client with HTTP Basic (client_secret_basic) instead of
# form fields (client_secret_post): set it if the provider's client is configured that way.
OIDC_TOKEN_USE_BASIC_AUTH = env_bool("TIER2_OIDC_TOKEN_BASIC_AUTH", False)
OIDC_AUTHENTICATE_CLASS = "tickets.auth_backends.SsoStartView"
OIDC_CALLBACK_CLASS = "tickets.auth_backends.SsoCallbackView"
# Claims read at each login: the user's groups, and optionally an agent's site code and flows.
TIER2_OIDC_GROUPS_CLAIM = os.environ.get("TIER2_OIDC_GROUPS_CLAIM", "").strip() or "groups"
TIER2_OIDC_SITE_CLAIM = os.environ.get("TIER2_OIDC_SITE_CLAIM", "").strip()
TIER2_OIDC_FLOWS_CLAIM = os.environ.get("TIER2_OIDC_FLOWS_CLAIM", "").strip()


def oidc_role_map(text: str) -> dict[str, list[str]]:
    """Provider group -> console roles, from JSON (`{"noc-t2": "Agent", "t2-leads": ["Agent",
    "Supervisor"]}`) or from pairs (`noc-t2=Agent,t2-leads=Supervisor`; a group may repeat)."""
    text = text.strip()
    pairs: list[tuple[object, object]] = []
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError as error:
            raise ImproperlyConfigured(f"TIER2_OIDC_ROLE_MAP is not valid JSON: {error}") from None
        for group, roles in document.items():
            pairs += [(group, role) for role in (roles if isinstance(roles, list) else [roles])]
    else:
        for item in filter(None, (part.strip() for part in text.split(","))):
            group, _sep, role = item.rpartition("=")
            pairs.append((group.strip(), role.strip()))
    mapping: dict[str, list[str]] = {}
    for group, role in pairs:
        if not (isinstance(group, str) and group and isinstance(role, str) and role):
            raise ImproperlyConfigured(
                f"TIER2_OIDC_ROLE_MAP: {group!r}={role!r} is not a group and a role name."
            )
        mapping.setdefault(group, []).append(role)
    return mapping


TIER2_OIDC_ROLE_MAP = oidc_role_map(os.environ.get("TIER2_OIDC_ROLE_MAP", ""))
_oidc_provider = TIER2_OIDC_ISSUER or (OIDC_OP_AUTHORIZATION_ENDPOINT and OIDC_OP_TOKEN_ENDPOINT)
TIER2_OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET and _oidc_provider)
_oidc_urls = [
    TIER2_OIDC_ISSUER,
    OIDC_OP_AUTHORIZATION_ENDPOINT,
    OIDC_OP_TOKEN_ENDPOINT,
    OIDC_OP_USER_ENDPOINT,
    OIDC_OP_JWKS_ENDPOINT,
]
if not TIER2_OIDC_ENABLED and (OIDC_RP_CLIENT_ID or OIDC_RP_CLIENT_SECRET or any(_oidc_urls)):
    raise ImproperlyConfigured(
        "Single sign-on is half configured: set TIER2_OIDC_CLIENT_ID, TIER2_OIDC_CLIENT_SECRET "
        "and TIER2_OIDC_ISSUER (or the authorization and token endpoints), or none of them."
    )
if TIER2_OIDC_ENABLED:
    if not TIER2_OIDC_ROLE_MAP:
        raise ImproperlyConfigured("Single sign-on needs TIER2_OIDC_ROLE_MAP: no group, no role.")
    if OIDC_RP_SIGN_ALGO[:2] not in {"RS", "ES", "HS"}:
        raise ImproperlyConfigured("TIER2_OIDC_SIGN_ALGO must be an RS, ES or HS algorithm.")
    if OIDC_RP_SIGN_ALGO[:2] != "HS" and not (TIER2_OIDC_ISSUER or OIDC_OP_JWKS_ENDPOINT):
        raise ImproperlyConfigured(f"{OIDC_RP_SIGN_ALGO} needs TIER2_OIDC_JWKS_ENDPOINT.")
    if "openid" not in OIDC_RP_SCOPES.split():
        raise ImproperlyConfigured("TIER2_OIDC_SCOPES must include openid.")
    if PRODUCTION and any(url and not url.startswith("https://") for url in _oidc_urls):
        raise ImproperlyConfigured("Production mode needs https:// for the SSO provider.")
    # After the password backends (django-axes' lockout stays first).
    AUTHENTICATION_BACKENDS = [*AUTHENTICATION_BACKENDS, "tickets.auth_backends.SsoBackend"]

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
# Requests per signed-in user, per anonymous address, and to the token endpoint per address
# (DRF's format: a number per s, min, hour or day).
TIER2_API_RATES = {
    "user": os.environ.get("TIER2_API_RATE_USER", "").strip() or "600/min",
    "anon": os.environ.get("TIER2_API_RATE_ANON", "").strip() or "60/min",
    "token": os.environ.get("TIER2_API_RATE_TOKEN", "").strip() or "10/min",
    # Each TMF621 client (a user: a system client or a person) has a budget of its own.
    "tmf": os.environ.get("TIER2_API_RATE_TMF", "").strip() or "1200/min",
    # The message gateways' receipt webhooks, per calling address (a broadcast's receipts come
    # in bursts; a gateway answered 429 sends again later, and the sweep asks meanwhile).
    "receipts": os.environ.get("TIER2_API_RATE_RECEIPTS", "").strip() or "3000/min",
}


def is_rate(value: str) -> bool:
    """DRF's rate format: a count per s, min, hour or day (`600/min`)."""
    count, _slash, period = value.partition("/")
    return count.isdigit() and period[:1] in {"s", "m", "h", "d"}


for _scope, _rate in TIER2_API_RATES.items():
    if not is_rate(_rate):
        raise ImproperlyConfigured(f"TIER2_API_RATE_{_scope.upper()} must look like 600/min.")


def rate_map(value: str) -> dict[str, str]:
    """`crm=3000/min,partner-jatim=300/min`: a TMF621 client's username and its own rate."""
    rates = {}
    for item in value.split(","):
        if not item.strip():
            continue
        name, _equals, rate = item.partition("=")
        if not name.strip() or not is_rate(rate.strip()):
            raise ImproperlyConfigured(
                "TIER2_TMF_CLIENT_RATES must look like crm=3000/min,partner=300/min."
            )
        rates[name.strip()] = rate.strip()
    return rates


TIER2_TMF_CLIENT_RATES = rate_map(os.environ.get("TIER2_TMF_CLIENT_RATES", ""))
# A TMF621 listing's X-Total-Count of 10,000 or more is kept this many seconds in the cache, so
# paging through a big result counts it once, not once per page (0: count every page).
TIER2_TMF_COUNT_CACHE_SECONDS = env_int("TIER2_TMF_COUNT_CACHE_SECONDS", 30)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "tickets.api.errors.exception_handler",
    # Requests per user (token or session) and per anonymous address; the token endpoint has
    # its own, tighter scope. Counted in the default cache (Redis, or per process without it).
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": TIER2_API_RATES,
    "NUM_PROXIES": TIER2_PROXY_COUNT,  # the client address, as for the sign-in locks
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tier-2 ticket console API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Two choice fields named "kind" (import lists, calendar days): each enum its own name.
    "ENUM_NAME_OVERRIDES": {
        "KindEnum": "tickets.models.ImportKind",
        "CalendarDayKindEnum": "tickets.models.CalendarDayKind",
        # A message's channel and language, and the customer's preferred ones: one enum each.
        "MessageChannelEnum": "tickets.models.MessageChannel",
        "MessageLanguageEnum": "tickets.models.MessageLanguage",
    },
}

# --- Logging --------------------------------------------------------------------------------
# One JSON object per line in production (python-json-logger), text in development. Every
# record carries the request id (tickets.observability), in web processes and Celery workers.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json" if PRODUCTION else "text").strip().lower()
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured("LOG_FORMAT must be 'json' or 'text'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "tickets.observability.RequestIdFilter"},
        # A 403 or 400 is one line: its record loses Django's traceback (not a real error's).
        "client_errors": {"()": "tickets.observability.ClientErrorFilter"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": ["asctime", "levelname", "name", "message", "request_id", "process"],
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "client_errors"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Eager Celery logs every task at INFO; keep the embedded default quiet.
        "celery": {"level": os.environ.get("CELERY_LOG_LEVEL", "WARNING")},
        # Django's records go to the root handler only, not also to Django's default console;
        # so do the request lines of Django's own runserver (it gives them a handler otherwise).
        "django": {"handlers": [], "level": "INFO"},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
        # django-axes says "BEGIN version" at every process start and two INFO lines at every
        # sign-in; the security log records sign-ins. Its lockout warnings still show.
        "axes": {"level": "WARNING"},
    },
}

# --- Metrics (Prometheus; docs/metrics.md) -----------------------------------------------------
# /metrics answers a request with "Authorization: Bearer <TIER2_METRICS_TOKEN>" (when set), or
# one from an address in TIER2_METRICS_ALLOW (CIDRs) that no proxy forwarded; 403 otherwise.
TIER2_METRICS_TOKEN = os.environ.get("TIER2_METRICS_TOKEN", "").strip()
TIER2_METRICS_ALLOW = env_list("TIER2_METRICS_ALLOW", "127.0.0.1/32,::1/128")
for _network in TIER2_METRICS_ALLOW:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"TIER2_METRICS_ALLOW: {_network!r} is not a CIDR.") from None
if PRODUCTION and TIER2_METRICS_TOKEN and len(TIER2_METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("Production mode needs a TIER2_METRICS_TOKEN of 32+ characters.")
# Event counters of every process (gunicorn and Celery workers) are files in this directory,
# added up at each scrape (prometheus_client's multiprocess mode): one directory per host or
# container, shared by its processes. Exported here, before prometheus_client is imported.
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip() or str(
    BASE_DIR / "var" / "prometheus"
)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR
try:
    Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
except OSError as problem:
    raise ImproperlyConfigured(f"PROMETHEUS_MULTIPROC_DIR: cannot create it ({problem}).") from None
if not os.access(PROMETHEUS_MULTIPROC_DIR, os.W_OK | os.X_OK):  # else every request would fail
    raise ImproperlyConfigured(
        f"PROMETHEUS_MULTIPROC_DIR {PROMETHEUS_MULTIPROC_DIR} is not writable by this user."
    )
# A Celery worker serves its own /metrics on this port (0: none); the same token and networks.
TIER2_WORKER_METRICS_PORT = env_int("TIER2_WORKER_METRICS_PORT", 0)

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
# Dispatch (push, docs/dispatch.md): an agent marked available but not seen in the console for
# this long goes offline; each dispatch run offers at most this many tickets of one site.
TIER2_DISPATCH_IDLE_MINUTES = env_int("TIER2_DISPATCH_IDLE_MINUTES", 15)
TIER2_DISPATCH_BATCH = env_int("TIER2_DISPATCH_BATCH", 200)
# Customer messages (SMS, WhatsApp; docs/notifications.md). Quiet hours in the site's local
# time when the customer set none ("" for none); at most RATE messages per customer (DRF's rate
# format), the rest held until the limit allows; a gamas broadcast writes BATCH messages per
# transaction; receipts are asked for during RECEIPT_HOURS after a send, every SWEEP_SECONDS.
TIER2_MESSAGE_QUIET_HOURS = os.environ.get("TIER2_MESSAGE_QUIET_HOURS", "21:00-07:00").strip()
if TIER2_MESSAGE_QUIET_HOURS:
    try:
        _quiet = [
            dt_time.fromisoformat(end.strip()) for end in TIER2_MESSAGE_QUIET_HOURS.split("-")
        ]
    except ValueError:
        _quiet = []
    if len(_quiet) != 2 or _quiet[0] == _quiet[1]:
        raise ImproperlyConfigured(
            "TIER2_MESSAGE_QUIET_HOURS must be two different times (21:00-07:00) or empty."
        )
TIER2_MESSAGE_RATE = os.environ.get("TIER2_MESSAGE_RATE", "").strip() or "3/hour"
if not is_rate(TIER2_MESSAGE_RATE):
    raise ImproperlyConfigured("TIER2_MESSAGE_RATE must look like 3/hour.")
TIER2_MESSAGE_BATCH = env_int("TIER2_MESSAGE_BATCH", 500)
TIER2_MESSAGE_RECEIPT_HOURS = env_int("TIER2_MESSAGE_RECEIPT_HOURS", 48)
TIER2_MESSAGE_SWEEP_SECONDS = env_int("TIER2_MESSAGE_SWEEP_SECONDS", 60)
TIER2_SMS_SENDER_ID = os.environ.get("TIER2_SMS_SENDER_ID", "").strip() or "IndiHome"
# Receipts pushed by the gateways (webhooks): the secret each gateway shares with the console to
# sign its calls (HMAC-SHA256 of the body). Empty: that gateway's webhook is off (403) and its
# receipts are only asked for by the sweep. 32+ characters, not the example's, one per gateway.
TIER2_SMS_WEBHOOK_SECRET = os.environ.get("TIER2_SMS_WEBHOOK_SECRET", "").strip()
TIER2_WHATSAPP_WEBHOOK_SECRET = os.environ.get("TIER2_WHATSAPP_WEBHOOK_SECRET", "").strip()
for _name, _secret in (
    ("TIER2_SMS_WEBHOOK_SECRET", TIER2_SMS_WEBHOOK_SECRET),
    ("TIER2_WHATSAPP_WEBHOOK_SECRET", TIER2_WHATSAPP_WEBHOOK_SECRET),
):
    if _secret and (len(_secret) < 32 or EXAMPLE_SECRET_MARKER in _secret.lower()):
        raise ImproperlyConfigured(
            f"{_name} must be a random secret of 32 or more characters (or empty: no webhook): "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
if TIER2_SMS_WEBHOOK_SECRET and TIER2_SMS_WEBHOOK_SECRET == TIER2_WHATSAPP_WEBHOOK_SECRET:
    raise ImproperlyConfigured(
        "TIER2_SMS_WEBHOOK_SECRET and TIER2_WHATSAPP_WEBHOOK_SECRET must differ: a gateway's "
        "signature must not pass at the other's webhook."
    )

# --- Integrations (stub adapters; see docs/adapters.md) --------------------------------------
TIER2_ADAPTER_APPS = (
    "mycx", "ibooster", "mykiss", "nossa", "isiska", "epayment", "starclick",
    "callback", "webcare", "minitools", "sephia", "acs", "myindihome", "sms", "whatsapp",
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

# --- TMF621 event subscriptions (/hub; docs/tmf621.md) ------------------------------------------
# Attempts of one event delivery, and the backoff between them (Celery's, as for the adapters;
# jitter from TIER2_ADAPTER_RETRY_JITTER).
TIER2_HUB_MAX_ATTEMPTS = env_int("TIER2_HUB_MAX_ATTEMPTS", 10)
TIER2_HUB_RETRY_BACKOFF_SECONDS = env_float("TIER2_HUB_RETRY_BACKOFF_SECONDS", 5.0)
TIER2_HUB_RETRY_BACKOFF_MAX_SECONDS = env_float("TIER2_HUB_RETRY_BACKOFF_MAX_SECONDS", 300)
# Seconds a subscriber's callback has to answer one POST (at most half the outbox lease).
TIER2_HUB_TIMEOUT_SECONDS = env_float("TIER2_HUB_TIMEOUT_SECONDS", 10.0)
# Deliveries in a row that fail for good (every attempt spent) before a subscription is suspended.
TIER2_HUB_SUSPEND_AFTER = env_int("TIER2_HUB_SUSPEND_AFTER", 10)
# Subscriptions one client may hold.
TIER2_HUB_MAX_PER_CLIENT = env_int("TIER2_HUB_MAX_PER_CLIENT", 20)
# Seconds a process trusts that nobody subscribes (changes then cost no query); a new
# subscription gets the changes made in other processes at most this much later.
TIER2_HUB_CACHE_SECONDS = env_float("TIER2_HUB_CACHE_SECONDS", 2.0)
if min(TIER2_HUB_MAX_ATTEMPTS, TIER2_HUB_SUSPEND_AFTER, TIER2_HUB_MAX_PER_CLIENT) < 1:
    raise ImproperlyConfigured(
        "TIER2_HUB_MAX_ATTEMPTS, TIER2_HUB_SUSPEND_AFTER and TIER2_HUB_MAX_PER_CLIENT must be 1+."
    )

# --- The live console (websockets; docs/live.md) ----------------------------------------------
# The channel layer that carries pushed updates between the processes that change tickets (web,
# Celery) and those holding the websockets: Redis pub/sub on TIER2_LIVE_REDIS_URL (default
# REDIS_URL); without Redis an in-memory layer, which reaches only the sockets of the same
# process (`make run`). Pub/sub channels ignore the Redis database number: installations sharing
# one Redis need their own TIER2_LIVE_PREFIX.
TIER2_LIVE_REDIS_URL = os.environ.get("TIER2_LIVE_REDIS_URL", "").strip() or REDIS_URL
TIER2_LIVE_PREFIX = os.environ.get("TIER2_LIVE_PREFIX", "").strip() or "tier2"
if TIER2_LIVE_REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [{"address": TIER2_LIVE_REDIS_URL, "socket_connect_timeout": 2}],
                "prefix": TIER2_LIVE_PREFIX,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# Seconds a tab's presence on a ticket lasts without a heartbeat (the page sends one every 20 s).
TIER2_LIVE_PRESENCE_SECONDS = env_float("TIER2_LIVE_PRESENCE_SECONDS", 45.0)
# At most one "dashboard changed" message per this many seconds from each sending process.
TIER2_LIVE_DASHBOARD_SECONDS = env_float("TIER2_LIVE_DASHBOARD_SECONDS", 1.0)
# Changes of more tickets than this of one site and flow in one transaction (the gamas fan-out)
# reach the queues as one "queue changed" message instead of one per ticket.
TIER2_LIVE_BULK_THRESHOLD = env_int("TIER2_LIVE_BULK_THRESHOLD", 50)
if TIER2_LIVE_PRESENCE_SECONDS <= 0 or TIER2_LIVE_DASHBOARD_SECONDS < 0:
    raise ImproperlyConfigured(
        "TIER2_LIVE_PRESENCE_SECONDS must be above 0, TIER2_LIVE_DASHBOARD_SECONDS 0 or more."
    )

# --- Personal data protection (UU PDP; SOP IN.OCC.TELK.P-16 §10); docs/data-protection.md ---
# Days after a customer's last ticket closed before their personal data (name, phone, email,
# addresses, I-SISKA / E-payment answers, ticket summaries) is anonymised. The SOP's table of
# records (§10) lists no periods: these defaults are justified in docs/data-protection.md.
TIER2_RETENTION_CUSTOMER_DAYS = env_int("TIER2_RETENTION_CUSTOMER_DAYS", 365)
# Days for the phone numbers and notes of calls, ticket notes, escalation texts and uploaded
# call lists (never longer than the customer period).
TIER2_RETENTION_CALLS_DAYS = env_int("TIER2_RETENTION_CALLS_DAYS", 90)
# Days the security log is kept before its rows are deleted.
TIER2_RETENTION_SECURITY_LOG_DAYS = env_int("TIER2_RETENTION_SECURITY_LOG_DAYS", 365)
# Rows anonymised per transaction by the daily job, and the hour (local time) it runs.
TIER2_RETENTION_BATCH_SIZE = env_int("TIER2_RETENTION_BATCH_SIZE", 500)
TIER2_RETENTION_HOUR = env_int("TIER2_RETENTION_HOUR", 2)
if min(TIER2_RETENTION_CUSTOMER_DAYS, TIER2_RETENTION_CALLS_DAYS) < 1:
    raise ImproperlyConfigured("TIER2_RETENTION_CUSTOMER_DAYS and _CALLS_DAYS must be 1+.")
if TIER2_RETENTION_SECURITY_LOG_DAYS < 1 or TIER2_RETENTION_BATCH_SIZE < 1:
    raise ImproperlyConfigured("TIER2_RETENTION_SECURITY_LOG_DAYS and _BATCH_SIZE must be 1+.")
if not 0 <= TIER2_RETENTION_HOUR <= 23:
    raise ImproperlyConfigured("TIER2_RETENTION_HOUR must be an hour, 0 to 23.")

# --- The logs' monthly partitions (PostgreSQL); tier2/partitions.py, docs/partitions.md ----------
# Months after this one that always have their partition ready (the daily job creates them).
TIER2_LOG_PARTITIONS_AHEAD = env_int("TIER2_LOG_PARTITIONS_AHEAD", 3)
# Months of arrivals kept attached; older months are detached for archive by the daily job once
# every ticket of theirs is closed and nothing personal is left in them. 0: never detach.
TIER2_LOG_ARCHIVE_MONTHS = env_int("TIER2_LOG_ARCHIVE_MONTHS", 0)
if not 1 <= TIER2_LOG_PARTITIONS_AHEAD <= 24:
    raise ImproperlyConfigured("TIER2_LOG_PARTITIONS_AHEAD must be 1 to 24 months.")
if TIER2_LOG_ARCHIVE_MONTHS and TIER2_LOG_ARCHIVE_MONTHS * 28 < TIER2_RETENTION_CUSTOMER_DAYS:
    raise ImproperlyConfigured(
        "TIER2_LOG_ARCHIVE_MONTHS must be 0 (never detach) or cover TIER2_RETENTION_CUSTOMER_DAYS:"
        " a month is detached only after its personal data has been anonymised."
    )
if TIER2_LOG_ARCHIVE_MONTHS < 0:
    raise ImproperlyConfigured("TIER2_LOG_ARCHIVE_MONTHS must be 0 or more.")

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
    # Customer messages: held ones released, broadcasts resumed, receipts asked for.
    "message-sweep": {
        "task": "tickets.tasks.message_sweep",
        "schedule": timedelta(seconds=TIER2_MESSAGE_SWEEP_SECONDS),
    },
    # Dispatch (push): end offers not answered in time, idle agents offline, offer again.
    "dispatch-sweep": {
        "task": "tickets.tasks.dispatch_sweep",
        "schedule": timedelta(seconds=env_int("TIER2_DISPATCH_SWEEP_SECONDS", 10)),
    },
    "redispatch-outbox": {
        "task": "integrations.tasks.redispatch_outbox",
        "schedule": timedelta(seconds=env_int("TIER2_OUTBOX_SWEEP_SECONDS", 30)),
    },
    # Daily: the logs' partitions for the months ahead created, old ones detached for archive.
    "log-partitions": {
        "task": "tickets.tasks.maintain_log_partitions",
        "schedule": crontab(hour=TIER2_RETENTION_HOUR, minute=0),
    },
    # Daily, at night: anonymise personal data past its retention (tickets.services.privacy).
    "apply-retention": {
        "task": "tickets.tasks.apply_retention",
        "schedule": crontab(hour=TIER2_RETENTION_HOUR, minute=30),
    },
}
