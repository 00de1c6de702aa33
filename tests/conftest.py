"""Shared fixtures. Tests that need real services are marked and skipped without them, except
in CI (TIER2_REQUIRE_SERVICES=1), where a skip of any kind fails the run instead."""

import os
import shutil
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection
from kombu import Connection

from tests import factories
from tests.integrations import worker

REQUIRE_SERVICES = os.environ.get("TIER2_REQUIRE_SERVICES") == "1"


def _missing(item) -> str | None:
    if item.get_closest_marker("postgres") and not settings.DATABASES["default"]["ENGINE"].endswith(
        "postgresql"
    ):
        return "needs PostgreSQL: set DATABASE_URL=postgres://..."
    if item.get_closest_marker("replica") and "replica" not in settings.DATABASES:
        return "needs a PostgreSQL streaming replica: set READ_REPLICA_URL=postgres://..."
    if item.get_closest_marker("redis") and not settings.REDIS_URL:
        return "needs Redis: set REDIS_URL=redis://..."
    if item.get_closest_marker("browser") and not shutil.which(
        os.environ.get("CHROMIUM_PATH", "chromium")
    ):
        return "needs Debian chromium (apt-get install chromium)"
    return None


# --- Parallel runs (pytest-xdist; `make test` runs two workers) -------------------------------
# Each worker has its own test database (pytest-django adds the worker's id to its name) and,
# with REDIS_URL, its own Redis database: the cache, the presence, the stubs' ledger and the
# Celery queue hold ids of rows, and the two workers' rows share ids. Worker gwN uses the
# database number of REDIS_URL plus N, and the live layer's pub/sub channels (which Redis
# shares across its databases) the prefix TIER2_LIVE_PREFIX-gwN; both are set in the worker
# process before pytest (and so Django's settings) starts there. Whole files go to one worker
# (--dist loadfile), so the tests that pause the replica's replay (tests/test_replica.py) never
# overlap each other.
def redis_url_of_worker(url: str, worker: int) -> str:
    """REDIS_URL for xdist worker number `worker`: the same server, database number + worker."""
    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0) + worker
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_newgateway(gateway):
    url = os.environ.get("REDIS_URL", "").strip()
    if url:
        env = {
            "REDIS_URL": redis_url_of_worker(url, int(gateway.id.removeprefix("gw"))),
            # Pub/sub channels ignore the database number: the live layer's need a prefix each.
            "TIER2_LIVE_PREFIX": f"{os.environ.get('TIER2_LIVE_PREFIX') or 'tier2'}-{gateway.id}",
        }
        gateway.remote_exec(f"import os; os.environ.update({env!r}); channel.send(None)").receive()


def pytest_runtest_setup(item):
    reason = _missing(item)
    if reason:
        if REQUIRE_SERVICES:
            pytest.fail(f"TIER2_REQUIRE_SERVICES=1 but this test {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_SERVICES and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run every test: {report.longrepr}"


@pytest.fixture(autouse=True)
def eager_celery(request):
    """Tasks run in the test process, as in the embedded default, even when REDIS_URL (CI)
    makes the settings non-eager; tests marked `redis` keep the real broker and worker."""
    if request.node.get_closest_marker("redis"):
        yield
        return
    from tier2.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def primary_reads(request, settings):
    """Every read goes to the primary, where each test's rows are (inside its transaction),
    even in CI, where READ_REPLICA_URL names a real replica; tests marked `replica` use it."""
    if not request.node.get_closest_marker("replica"):
        settings.READ_REPLICA_READS = False


@pytest.fixture
def dispatch_mode():
    """`dispatch_mode("PST", "push", offer_seconds=60)` sets a site's dispatch for one test;
    afterwards the process's cache of push sites forgets it (the row itself rolls back)."""
    from tickets.services import dispatch

    yield factories.dispatch_at
    dispatch.push_sites.forget()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Tests create many users; the production hasher would make each take a tenth of a second."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def generous_api_rates(monkeypatch):
    """The suite sends far more API requests a minute from one address (and, rows rolled back,
    as the same user ids) than the production rates allow. DRF reads its rates once, into
    `SimpleRateThrottle.THROTTLE_RATES`; tests of the throttles set their own there."""
    from rest_framework.throttling import SimpleRateThrottle

    rates = settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {})
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", dict.fromkeys(rates, "100000/min"))


@pytest.fixture(autouse=True)
def english_messages(request, settings):
    """Tests read messages in English (the source language); the console's own tests switch
    to Bahasa Indonesia, the default for users, where they check it. Browser journeys run as
    users see the console, in Bahasa Indonesia (their screenshots are the product's pictures)."""
    from django.utils import translation

    if request.node.get_closest_marker("browser"):
        yield
        return
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def pusat(db):
    return factories.site("PST")


@pytest.fixture
def malang(db):
    return factories.site("MLG")


@pytest.fixture
def support_user(db):
    return factories.user("Support", username="support1")


@pytest.fixture
def supervisor(db):
    return factories.user("Supervisor", username="supervisor1")


# --- Real Celery workers (tests/integrations/worker.py) ----------------------------------------
@pytest.fixture
def processes(tmp_path):
    """Workers and Redis servers of one test; all stopped at teardown, logs shown on failure."""
    with worker.Processes(log_dir=tmp_path / "processes") as started:
        yield started
        print(started.logs())  # pytest shows it only when the test failed


@pytest.fixture
def database_url():
    """The test database, as the workers' DATABASE_URL."""
    return worker.database_url(connection.settings_dict)


@pytest.fixture
def shared_broker():
    """REDIS_URL under test, emptied of messages a crashed earlier run may have left behind.

    Only this database's Celery queue and unacked-message keys are removed; the Redis server
    is shared and is never flushed.
    """
    with Connection(settings.REDIS_URL) as broker:
        broker.default_channel.queue_purge("celery")
        broker.default_channel.client.delete("unacked", "unacked_index")
    return settings.REDIS_URL
