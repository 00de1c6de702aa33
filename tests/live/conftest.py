"""Channel layers and people of the live console's tests (none of these fixtures is autouse)."""

from __future__ import annotations

import uuid

import pytest
from channels.layers import get_channel_layer
from django.core.cache import cache

from tests import factories
from tickets.services import live


@pytest.fixture
def memory_layer(settings):
    """The in-memory channel layer of `make run` (a new one for the test)."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    return get_channel_layer()


@pytest.fixture
def redis_layer(settings):
    """The production layer, Redis pub/sub on REDIS_URL, under a prefix of the test's own (pub/sub
    channels are shared by every database of a Redis server)."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [settings.REDIS_URL], "prefix": f"t2test{uuid.uuid4().hex[:10]}"},
        }
    }
    return get_channel_layer()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def any_layer(request):
    """Each scenario on the in-memory layer (everywhere) and on Redis (marked `redis`)."""
    return request.getfixturevalue(f"{request.param}_layer")


class Recorded:
    """What the services sent to the channel layer, once the sender has sent it."""

    def __init__(self, layer) -> None:
        self.layer = layer

    def __call__(self, group: str | None = None) -> list:
        assert live.drain(5.0), "the sender did not finish"
        if group is None:
            return list(self.layer.sent)
        return [message for to, message in self.layer.sent if to == group]

    def clear(self) -> None:
        live.drain(5.0)
        self.layer.sent.clear()


@pytest.fixture
def recorded(settings):
    """Sends go to a layer that records them: `recorded()` is every (group, message) pair. The
    dashboard is told after every change (its coalescing has tests of its own)."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.live.RecordingLayer"}}
    settings.TIER2_LIVE_DASHBOARD_SECONDS = 0
    return Recorded(get_channel_layer())


@pytest.fixture
def local_cache(settings):
    """Presence in the local-memory cache (one process), emptied for the test."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "live"}
    }
    cache.clear()


@pytest.fixture
def redis_cache(settings):
    """Presence in Redis (django-redis, as in production), under keys of the test's own."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": f"t2test{uuid.uuid4().hex[:10]}",
        }
    }


@pytest.fixture
def fresh_cache(request, settings):
    """The cache the settings choose (Redis with REDIS_URL), with no presence of earlier runs."""
    request.getfixturevalue("redis_cache" if settings.REDIS_URL else "local_cache")


# --- People ----------------------------------------------------------------------------------
@pytest.fixture
def pusat_agent(transactional_db):
    """An agent of NOSSA, Gamas and C4 Caring at Pusat (C4 Caring is Malang's: not theirs)."""
    return factories.agent(site_code="PST", flows=("nossa", "gamas", "c4_caring"),
                           username="agent.pusat")  # fmt: skip


@pytest.fixture
def malang_agent(transactional_db):
    return factories.agent(site_code="MLG", flows=("nossa", "c4_caring"), username="agent.malang")


@pytest.fixture
def live_supervisor(transactional_db):
    return factories.user("Supervisor", username="supervisor.live")
