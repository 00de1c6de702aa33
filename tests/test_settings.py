"""Settings come from the environment; production mode refuses unsafe ones at start-up."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.environment import clean_environment

ROOT = Path(__file__).resolve().parent.parent
GOOD_KEY = "Zq3-vT9xLw7rNk2sPb5yHc8mJd4fGt6aXe1uRo0iWn_QlYzMhE"  # 50 varied characters
SERVICES = {"DATABASE_URL": "postgres://u@db:5432/x", "REDIS_URL": "redis://r:6379/0"}


def load_settings(**env):
    clean = clean_environment()
    clean.update({"DJANGO_SETTINGS_MODULE": "tier2.settings", **env})
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER, "
        "s.TIME_ZONE, s.LANGUAGE_CODE)"
    )
    return subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_embedded_default_is_sqlite_with_eager_celery_in_jakarta_time_and_indonesian():
    result = load_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "True",
        "django.db.backends.sqlite3",
        "True",
        "Asia/Jakarta",
        "id",
    ]


def test_urls_select_postgresql_and_a_real_broker():
    result = load_settings(DATABASE_URL="postgres://u@db:5432/x", REDIS_URL="redis://r:6379/0")
    assert result.returncode == 0, result.stderr
    assert "django.db.backends.postgresql False" in result.stdout


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"ALLOWED_HOSTS": "tier2.example"}, "SECRET_KEY"),
        ({"SECRET_KEY": GOOD_KEY, "DEBUG": "1", "ALLOWED_HOSTS": "tier2.example"}, "DEBUG"),
        ({"SECRET_KEY": GOOD_KEY}, "ALLOWED_HOSTS"),
        ({"SECRET_KEY": GOOD_KEY, "ALLOWED_HOSTS": "tier2.example"}, "DATABASE_URL"),
    ],
    ids=["default-secret-key", "debug-on", "no-allowed-hosts", "embedded-database"],
)
def test_production_mode_refuses_to_start_with_unsafe_settings(env, complaint):
    result = load_settings(TIER2_MODE="production", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert complaint in result.stderr


def test_production_mode_starts_with_safe_settings():
    result = load_settings(
        TIER2_MODE="production",
        SECRET_KEY=GOOD_KEY,
        ALLOWED_HOSTS="t2.example",
        DATABASE_URL="postgres://u@db:5432/x",
        REDIS_URL="redis://r:6379/0",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("False")


def example_secret_key() -> str:
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.startswith("SECRET_KEY="):
            return line.split("=", 1)[1].strip()
    raise AssertionError(".env.example sets no SECRET_KEY")


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(example_secret_key(), id="env-example-key"),
        pytest.param(example_secret_key() + "-and-some-more-text", id="env-example-key-extended"),
        pytest.param("x7" + "CHANGE-ME" + "q" * 45, id="placeholder-any-case"),
        pytest.param(GOOD_KEY[:49], id="49-characters"),
        pytest.param("abcd" * 20, id="4-distinct-characters"),
        pytest.param("django-insecure-" + GOOD_KEY, id="django-insecure-prefix"),
    ],
)
def test_production_mode_refuses_weak_or_example_secret_keys(key):
    result = load_settings(
        TIER2_MODE="production", SECRET_KEY=key, ALLOWED_HOSTS="t2.example", **SERVICES
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_a_replica_url_adds_a_mirrored_replica_and_the_router():
    replica_url = "postgres://reader@replica:5432/x"
    shown = probe_settings(
        ("DATABASES", "DATABASE_ROUTERS", "READ_REPLICA_READS", "READ_REPLICA_MAX_LAG_SECONDS"),
        **SERVICES,
        READ_REPLICA_URL=replica_url,
        READ_REPLICA_MAX_LAG_SECONDS="2.5",
    )
    replica = shown["DATABASES"]["replica"]
    assert (replica["HOST"], replica["USER"], replica["NAME"]) == ("replica", "reader", "x")
    assert replica["OPTIONS"]["connect_timeout"] == 2
    assert replica["TEST"]["MIRROR"] == "default"
    assert shown["DATABASE_ROUTERS"] == ["tier2.replica.ReplicaRouter"]
    assert (shown["READ_REPLICA_READS"], shown["READ_REPLICA_MAX_LAG_SECONDS"]) == (True, 2.5)

    without = probe_settings(("DATABASES", "DATABASE_ROUTERS", "READ_REPLICA_READS"), **SERVICES)
    assert list(without["DATABASES"]) == ["default"]
    assert (without["DATABASE_ROUTERS"], without["READ_REPLICA_READS"]) == ([], False)


def test_a_replica_beside_sqlite_is_refused():
    result = load_settings(READ_REPLICA_URL="postgres://reader@replica:5432/x")
    assert result.returncode != 0
    assert "READ_REPLICA_URL needs a PostgreSQL DATABASE_URL" in result.stderr


def probe_settings(names: tuple[str, ...], **env) -> dict:
    """The named settings of a fresh process with this environment (as load_settings)."""
    clean = clean_environment(prefixes=("TIER2_", "DJANGO_", "SECURE_", "SESSION_", "CSRF_"))
    clean.update({"DJANGO_SETTINGS_MODULE": "tier2.settings", **env})
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n, None) for n in {list(names)!r}}}))"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


PRODUCTION = {"TIER2_MODE": "production", "SECRET_KEY": GOOD_KEY, "ALLOWED_HOSTS": "t2.example"}
SECURITY = (
    "SECURE_SSL_REDIRECT",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
)


def test_production_defaults_are_https_only_behind_the_tls_proxy():
    values = probe_settings(SECURITY, **PRODUCTION, **SERVICES)
    assert values == {
        "SECURE_SSL_REDIRECT": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SECURE_HSTS_SECONDS": 365 * 24 * 3600,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
    }


def test_production_hsts_and_redirect_follow_the_environment():
    values = probe_settings(
        SECURITY,
        **PRODUCTION,
        **SERVICES,
        SECURE_HSTS_SECONDS="300",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="0",
        SECURE_HSTS_PRELOAD="1",
        SECURE_SSL_REDIRECT="0",
    )
    assert values["SECURE_HSTS_SECONDS"] == 300
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert values["SECURE_HSTS_PRELOAD"] is True
    assert values["SECURE_SSL_REDIRECT"] is False


def test_development_keeps_plain_http():
    values = probe_settings(SECURITY)
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0
    assert values["SECURE_PROXY_SSL_HEADER"] is None


SESSIONS = ("SESSION_COOKIE_AGE", "SESSION_EXPIRE_AT_BROWSER_CLOSE", "SESSION_SAVE_EVERY_REQUEST")


@pytest.mark.parametrize("env", [{}, {**PRODUCTION, **SERVICES}], ids=["development", "production"])
def test_sessions_end_with_the_browser_or_after_a_shift_idle(env):
    assert probe_settings(SESSIONS, **env) == {
        "SESSION_COOKIE_AGE": 480 * 60,
        "SESSION_EXPIRE_AT_BROWSER_CLOSE": True,
        "SESSION_SAVE_EVERY_REQUEST": False,  # kept alive by SessionIdleMiddleware
    }


def test_session_idle_minutes_come_from_the_environment():
    values = probe_settings(SESSIONS, TIER2_SESSION_IDLE_MINUTES="30")
    assert values["SESSION_COOKIE_AGE"] == 30 * 60


def test_session_idle_minutes_must_be_positive():
    result = load_settings(TIER2_SESSION_IDLE_MINUTES="0")
    assert result.returncode != 0
    assert "TIER2_SESSION_IDLE_MINUTES" in result.stderr


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TIER2_MESSAGE_RATE": "3 per hour"}, "TIER2_MESSAGE_RATE"),
        ({"TIER2_MESSAGE_QUIET_HOURS": "21-7"}, "TIER2_MESSAGE_QUIET_HOURS"),
        ({"TIER2_MESSAGE_QUIET_HOURS": "21:00"}, "TIER2_MESSAGE_QUIET_HOURS"),
        ({"TIER2_MESSAGE_QUIET_HOURS": "07:00-07:00"}, "TIER2_MESSAGE_QUIET_HOURS"),
    ],
)
def test_customer_message_settings_are_checked_at_start(env, named):
    result = load_settings(**env)
    assert result.returncode != 0
    assert named in result.stderr


def test_quiet_hours_may_be_switched_off():
    assert load_settings(TIER2_MESSAGE_QUIET_HOURS="").returncode == 0


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"TIER2_LOG_PARTITIONS_AHEAD": "0"}, "TIER2_LOG_PARTITIONS_AHEAD must be 1 to 24"),
        ({"TIER2_LOG_PARTITIONS_AHEAD": "25"}, "TIER2_LOG_PARTITIONS_AHEAD must be 1 to 24"),
        # 13 months x 28 = 364 days, short of the default 365-day customer period
        ({"TIER2_LOG_ARCHIVE_MONTHS": "13"}, "must be 0 (never detach) or cover"),
        (
            {"TIER2_LOG_ARCHIVE_MONTHS": "6", "TIER2_RETENTION_CUSTOMER_DAYS": "200"},
            "must be 0 (never detach) or cover",
        ),
    ],
)
def test_log_partition_settings_out_of_range_are_refused(env, complaint):
    result = load_settings(**env)
    assert result.returncode != 0
    assert complaint in result.stderr


@pytest.mark.parametrize(
    "env",
    [
        {"TIER2_LOG_ARCHIVE_MONTHS": "14"},  # 392 days cover 365
        {"TIER2_LOG_ARCHIVE_MONTHS": "6", "TIER2_RETENTION_CUSTOMER_DAYS": "168"},  # 6 x 28
        {"TIER2_LOG_PARTITIONS_AHEAD": "24"},
    ],
)
def test_log_partition_settings_in_range_start(env):
    result = load_settings(**env)
    assert result.returncode == 0, result.stderr
