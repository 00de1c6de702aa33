"""A pull cut off by a killed worker loses nothing and duplicates nothing, with real processes.

A real Celery worker (prefork) runs the NOSSA pull against the pytest-django test database,
reading the fake feed of `tests/integrations/feeds.py` (1,000 tickets, page of 100), chosen
through `TIER2_ADAPTER_NOSSA_CLASS` as production chooses an adapter. The feed stalls once
inside the pull; the test checks what is committed at that moment, SIGKILLs the worker, starts
another and sends the pull again.

Needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL).
"""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import override_settings
from kombu import Connection

from integrations.models import PullCursor
from tests.integrations import feeds, worker
from tickets import tasks
from tickets.models import Ticket, TransitionLog

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

PAGE = 100
PULL_TIMEOUT_SECONDS = 240


# The workers, the test database and the broker: `processes`, `database_url` and
# `shared_broker` in tests/conftest.py.


# --- Helpers --------------------------------------------------------------------------------
def send_pull(redis_url: str) -> None:
    """Send the NOSSA pull to the workers of `redis_url`, as Celery beat would."""
    with Connection(redis_url) as broker:
        tasks.pull_nossa_tickets.apply_async(connection=broker, ignore_result=True)


def wait_for(processes, check, *, what: str, timeout: float = PULL_TIMEOUT_SECONDS):
    def done():
        crashed = processes.task_errors()
        if crashed:
            raise AssertionError(f"a task crashed on the worker: {crashed[0]}")
        return check()

    try:
        return worker.wait_until(done, timeout=timeout, what=what)
    except AssertionError as problem:
        raise AssertionError(f"{problem}\n{processes.logs()}") from None


def cursor_of() -> tuple:
    cursor = PullCursor.objects.get(source="nossa")
    return cursor.pulled_until, cursor.last_ref


def cursor_is_free() -> bool:
    """Nobody holds the cursor row (the killed worker's transaction has been rolled back)."""
    with transaction.atomic():
        free = PullCursor.objects.select_for_update(skip_locked=True).filter(source="nossa")
        return free.exists()


def pulled_numbers() -> list[str]:
    return list(Ticket.objects.filter(source_system="nossa").values_list("source_ref", flat=True))


# --- The test -------------------------------------------------------------------------------
@pytest.mark.parametrize("stall_at", [400, 450], ids=["between-pages", "mid-page"])
def test_a_pull_killed_with_its_worker_resumes_after_the_last_committed_page(
    processes, shared_broker, database_url, tmp_path, stall_at
):
    records = feeds.RECORDS
    assert len(records) == 1000
    # a source pulled before: everything of the feed is waiting
    PullCursor.objects.create(source="nossa", pulled_until=feeds.FEED_START, last_ref="")
    feed_dir = tmp_path / "feed"
    feed_dir.mkdir()
    env = {
        "TIER2_ADAPTER_NOSSA_CLASS": feeds.FEED_CLASS,
        "TIER2_PULL_PAGE_SIZE": str(PAGE),
        feeds.STALL_AT_ENV: str(stall_at),
        feeds.DIR_ENV: str(feed_dir),
    }
    first = processes.start_worker(redis_url=shared_broker, database_url=database_url, env=env)
    send_pull(shared_broker)
    wait_for(processes, (feed_dir / feeds.STALL_MARKER).exists, what="the pull to stall")

    # Stalled inside the page holding record `stall_at`: the pages before it are committed
    # with the cursor at their last record; the records of this page received so far are not.
    committed = stall_at // PAGE * PAGE
    assert set(pulled_numbers()) == {r.nossa_number for r in records[:committed]}
    assert cursor_of() == feeds.position(records[committed - 1])
    assert not cursor_is_free(), "the stalled pull does not hold the cursor"

    first.kill()
    wait_for(processes, cursor_is_free, what="the killed pull's transaction to end", timeout=30)
    assert set(pulled_numbers()) == {r.nossa_number for r in records[:committed]}

    second = processes.start_worker(redis_url=shared_broker, database_url=database_url, env=env)
    send_pull(shared_broker)
    wait_for(
        processes,
        lambda: "succeeded in" in second.log(last=400),
        what="the pull on the second worker to finish",
    )
    assert cursor_of() == feeds.position(records[-1])

    numbers = pulled_numbers()
    assert len(numbers) == len(set(numbers)) == 1000
    assert set(numbers) == {r.nossa_number for r in records}
    assert TransitionLog.objects.filter(transition="arrive").count() == 1000
    with override_settings(TIER2_ADAPTERS={"nossa": {"class": feeds.FEED_CLASS}}):
        assert tasks.pull_nossa_tickets() == 0  # nothing left, nothing created twice
    assert Ticket.objects.count() == 1000
