"""`make test` runs two pytest-xdist workers (tests/conftest.py): each worker talks to its own
Redis database, so the cache, the presence, the stubs' ledger and the Celery queue of one never
hold the other's ids, and the live layer's pub/sub channels (shared by every database of a Redis
server) carry a prefix of its own."""

import os

import pytest
from django.conf import settings

from tests.conftest import redis_url_of_worker


@pytest.mark.parametrize(
    ("url", "worker", "expected"),
    [
        ("redis://127.0.0.1:6379/1", 0, "redis://127.0.0.1:6379/1"),
        ("redis://127.0.0.1:6379/1", 1, "redis://127.0.0.1:6379/2"),
        ("redis://127.0.0.1:6379/11", 3, "redis://127.0.0.1:6379/14"),
        ("redis://127.0.0.1:6379", 1, "redis://127.0.0.1:6379/1"),
        ("redis://:s3cret@cache.internal:6380/4", 1, "redis://:s3cret@cache.internal:6380/5"),
    ],
)
def test_each_worker_has_its_own_redis_database(url, worker, expected):
    assert redis_url_of_worker(url, worker) == expected


def test_this_workers_settings_all_use_its_redis_database():
    """In a worker, the URL is changed before Django reads its settings, so every setting built
    from it (broker, results, cache, the stubs' ledger, the live layer) names its database."""
    url = os.environ.get("REDIS_URL", "").strip()
    assert url == settings.REDIS_URL
    if not url:
        return  # embedded: no Redis at all
    assert url == settings.CELERY_BROKER_URL
    assert settings.CACHES["default"]["LOCATION"] == url
    assert url == settings.TIER2_STUB_EFFECTS_URL
    assert url == settings.TIER2_LIVE_REDIS_URL
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:  # Redis pub/sub ignores the database number: the live layer's channels differ
        prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
        assert prefix.endswith(f"-{worker}")
