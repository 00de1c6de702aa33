"""Periodic pulls lose nothing: they page through everything waiting after the cursor.

The fake NOSSA feed (`tests/integrations/feeds.py`) holds 1,000 tickets, several per timestamp;
it is configured the way production chooses an adapter class (`TIER2_ADAPTERS[app]["class"]`).
Expected counts come from the feed's records, never from the pull.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import override_settings

from integrations.models import PullCursor
from tests.integrations import feeds
from tickets import services, tasks
from tickets.models import Ticket, TransitionLog

FAKE_FEED = {"nossa": {"class": feeds.FEED_CLASS}}
FIXED_CLOCK_STUBS = {
    "nossa": {"class": "tests.integrations.feeds.FixedClockNossaStub"},
    "callback": {"class": "tests.integrations.feeds.FixedClockCallbackStub"},
}
PAGE = 100


@pytest.fixture
def fake_feed(settings):
    settings.TIER2_PULL_PAGE_SIZE = PAGE
    with override_settings(TIER2_ADAPTERS=FAKE_FEED):
        yield feeds.RECORDS


@pytest.fixture
def fetches(monkeypatch):
    """Every cursor and limit the pull asks the fake feed for, in order."""
    asked = []
    fetch = feeds.FakeNossaFeed.fetch_new_tickets

    def spy(self, *, since, after_ref="", limit):
        asked.append(((since, after_ref), limit))
        return fetch(self, since=since, after_ref=after_ref, limit=limit)

    monkeypatch.setattr(feeds.FakeNossaFeed, "fetch_new_tickets", spy)
    return asked


def start_cursor(source: str = "nossa", at=None, after_ref: str = "") -> tuple:
    """A source pulled before; by default its cursor is just before the feed's first ticket."""
    at = at or feeds.FEED_START - timedelta(seconds=1)
    PullCursor.objects.update_or_create(
        source=source, defaults={"pulled_until": at, "last_ref": after_ref}
    )
    return at, after_ref


def cursor_of(source: str = "nossa") -> tuple:
    cursor = PullCursor.objects.get(source=source)
    return cursor.pulled_until, cursor.last_ref


def pulled_numbers() -> list[str]:
    return list(Ticket.objects.filter(source_system="nossa").values_list("source_ref", flat=True))


# --- The fake feed itself -----------------------------------------------------------------------
def test_the_fake_feed_has_ties_across_page_boundaries():
    """The precondition that makes the tie-breaker matter: a page ends inside a timestamp."""
    records = feeds.RECORDS
    assert len(records) == feeds.FEED_SIZE == 1000
    assert len({r.nossa_number for r in records}) == 1000
    assert records == sorted(records, key=feeds.position)
    assert len({r.reported_at for r in records}) < 1000 // 3
    split = [
        k for k in range(PAGE, 1000, PAGE) if records[k - 1].reported_at == records[k].reported_at
    ]
    assert len(split) >= 3, split


# --- Paging to the end ------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_pull_reads_every_waiting_record_once_page_by_page_then_nothing_more(fake_feed, fetches):
    start = start_cursor()

    created = tasks.pull_nossa_tickets()

    assert created == len(fake_feed) == 1000
    numbers = pulled_numbers()
    assert len(numbers) == len(set(numbers)) == 1000
    assert set(numbers) == {r.nossa_number for r in fake_feed}
    assert TransitionLog.objects.filter(transition="arrive").count() == 1000
    assert cursor_of() == feeds.position(fake_feed[-1])
    # after each page the cursor moved to that page's last record; the 11th page was empty
    ends = [feeds.position(fake_feed[k - 1]) for k in range(PAGE, 1001, PAGE)]
    assert fetches == [(start, PAGE), *((end, PAGE) for end in ends)]

    assert tasks.pull_nossa_tickets() == 0  # a second pull finds nothing new
    assert Ticket.objects.count() == 1000
    assert cursor_of() == feeds.position(fake_feed[-1])


@pytest.mark.django_db
def test_tickets_the_cursor_already_passed_are_not_read_again(fake_feed):
    """The cursor sits inside a group of tickets sharing a timestamp: the rest of it is read."""
    k = max(k for k in range(1, 1000) if fake_feed[k - 1].reported_at == fake_feed[k].reported_at)
    start_cursor("nossa", *feeds.position(fake_feed[k - 1]))

    assert tasks.pull_nossa_tickets() == 1000 - k
    assert set(pulled_numbers()) == {r.nossa_number for r in fake_feed[k:]}


@pytest.mark.django_db
def test_a_page_that_fails_half_way_commits_nothing_and_the_next_pull_resumes_there(
    fake_feed, monkeypatch
):
    receive = services.receive_report
    seen = []

    def receive_until_the_150th(**report):
        seen.append(report["source_ref"])
        if len(seen) == 151:
            raise RuntimeError("worker lost")
        return receive(**report)

    start_cursor("nossa", *feeds.position(fake_feed[699]))  # 300 tickets left: three pages
    monkeypatch.setattr(services, "receive_report", receive_until_the_150th)
    with pytest.raises(RuntimeError, match="worker lost"):
        tasks.pull_nossa_tickets()

    # the first page committed with its cursor; the 50 tickets received of the second rolled back
    assert set(pulled_numbers()) == {r.nossa_number for r in fake_feed[700:800]}
    assert cursor_of() == feeds.position(fake_feed[799])

    monkeypatch.undo()
    assert tasks.pull_nossa_tickets() == 200
    numbers = pulled_numbers()
    assert len(numbers) == len(set(numbers)) == 300
    assert set(numbers) == {r.nossa_number for r in fake_feed[700:]}


@pytest.mark.django_db
def test_a_source_pulled_for_the_first_time_starts_a_minute_ago(fake_feed, fetches):
    from django.utils import timezone

    before = timezone.now()
    assert tasks.pull_nossa_tickets() == 0  # the fake feed's tickets are all older
    (since, after_ref), limit = fetches[0]
    assert after_ref == ""
    assert before - timedelta(minutes=1, seconds=5) < since <= before
    assert limit == PAGE


@pytest.mark.django_db
def test_a_page_size_below_one_is_refused(fake_feed, settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.TIER2_PULL_PAGE_SIZE = 0
    with pytest.raises(ImproperlyConfigured):
        tasks.pull_nossa_tickets()


# --- One pull of a source at a time -----------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_pull_leaves_a_source_alone_while_another_pull_holds_its_cursor(fake_feed):
    start_cursor("nossa", *feeds.position(fake_feed[-11]))  # ten tickets left
    outcome = {}

    def second_pull():
        try:
            outcome["created"] = tasks.pull_nossa_tickets()
        finally:
            connection.close()

    with transaction.atomic():
        PullCursor.objects.select_for_update().get(source="nossa")  # the first pull's page
        thread = threading.Thread(target=second_pull)
        thread.start()
        thread.join(timeout=30)
        assert not thread.is_alive(), "the second pull waited for the lock"

    assert outcome == {"created": 0}
    assert Ticket.objects.count() == 0
    assert tasks.pull_nossa_tickets() == 10  # the cursor is free again


# --- The stub feeds through the real tasks ----------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("task", "source", "stub", "operation", "source_system"),
    [
        (
            tasks.pull_nossa_tickets,
            "nossa",
            feeds.FixedClockNossaStub,
            "fetch_new_tickets",
            "nossa",
        ),
        (
            tasks.pull_force_closed_tickets,
            "force_close",
            feeds.FixedClockNossaStub,
            "fetch_force_closed",
            "nossa-fc",
        ),
        (
            tasks.pull_callback_records,
            "callback",
            feeds.FixedClockCallbackStub,
            "fetch_records",
            "callback",
        ),
    ],
    ids=["nossa", "force_close", "callback"],
)
def test_each_pull_task_reads_its_stub_feed_to_the_end(
    settings, task, source, stub, operation, source_system
):
    settings.TIER2_PULL_PAGE_SIZE = 7
    since = feeds.STUB_NOW - timedelta(hours=2)
    start_cursor(source, at=since)
    position = feeds.STUB_POSITIONS[operation]
    expected = feeds.walk(getattr(stub(), operation), position, since, size=10_000)
    assert len(expected) > 7 * 3  # several pages

    with override_settings(TIER2_ADAPTERS=FIXED_CLOCK_STUBS):
        assert task() == len(expected)
        assert task() == 0

    refs = Ticket.objects.filter(source_system=source_system).values_list("source_ref", flat=True)
    assert sorted(refs) == sorted(position(record)[1] for record in expected)
    assert cursor_of(source) == position(expected[-1])
