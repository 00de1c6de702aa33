"""Settings come from the environment; production mode refuses unsafe ones at start-up."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOOD_KEY = "k" * 50


def load_settings(**env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TIER2_", "DJANGO_"))}
    clean.update({"DJANGO_SETTINGS_MODULE": "tier2.settings", **env})
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"):
        if name not in env:
            clean.pop(name, None)
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
