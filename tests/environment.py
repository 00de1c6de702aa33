"""The environment the tests give a fresh settings process: the caller's own, without the
variables that would choose the mode, the services or the secrets behind the test's back (CI
sets DATABASE_URL, READ_REPLICA_URL and REDIS_URL for the suite itself)."""

from __future__ import annotations

import os

SETTINGS_VARIABLES = (
    "DATABASE_URL",
    "READ_REPLICA_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
)


def clean_environment(*, prefixes=("TIER2_", "DJANGO_"), also=()) -> dict[str, str]:
    """os.environ without SETTINGS_VARIABLES, the names in `also` and those with `prefixes`."""
    dropped = {*SETTINGS_VARIABLES, *also}
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(prefixes) and key not in dropped
    }
