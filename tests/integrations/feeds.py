"""Fake pull feeds for the pull tests, readable by the test process and by Celery workers alike.

`FakeNossaFeed` is a NOSSA adapter whose new-ticket feed holds `FEED_SIZE` tickets waiting after
`FEED_START`, made by a seeded generator: every process that imports this module computes the
same list, so a worker started with `TIER2_ADAPTER_NOSSA_CLASS=tests.integrations.feeds.
FakeNossaFeed` reads exactly what the test expects. Tickets come in groups sharing one
timestamp (one to nine per second), so the (time, number) tie-breaker matters, and groups
straddle page boundaries.

A worker can be made to stall in the middle of a pull, to be killed there. With
`TIER2_TEST_FEED_STALL_AT=<i>` and `TIER2_TEST_FEED_DIR=<dir>` in its environment, the page
holding ticket `i` (0-based) stops just before handing ticket `i` to the pull: it creates
`<dir>/stalled` and sleeps. It stalls once per directory, so the worker started after the kill
reads through. With `i` a multiple of the page size, the stall is between pages (the page is
fetched, nothing of it received); otherwise it is in the middle of a page.

The fixed-clock stubs let a test compare a pull of the real stub feeds with a walk of the same
feed: both see the same "now".
"""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from integrations.adapters.base import AdapterRejected
from integrations.adapters.callback import CallbackStub
from integrations.adapters.lines import pooled_service_number
from integrations.adapters.nossa import NossaStub, NossaTicket

FEED_CLASS = "tests.integrations.feeds.FakeNossaFeed"
FEED_START = datetime(2025, 11, 24, 6, 0, tzinfo=UTC)
FEED_SIZE = 1000
FEED_SEED = 20251124
STALL_AT_ENV = "TIER2_TEST_FEED_STALL_AT"
DIR_ENV = "TIER2_TEST_FEED_DIR"
STALL_SECONDS = 120  # the test kills the worker long before this
STALL_MARKER = "stalled"

_SYMPTOMS = (
    ("INTERNET", "Internet mati total, lampu LOS merah berkedip"),
    ("INTERNET", "Internet lambat pada malam hari"),
    ("IPTV", "UseeTV tidak ada siaran, layar hitam"),
    ("VOICE", "Telepon rumah tidak ada nada panggil"),
)


def position(ticket: NossaTicket) -> tuple[datetime, str]:
    """Where a ticket sits in the feed: (time, number), the order of the pull cursor."""
    return ticket.reported_at, ticket.nossa_number


def feed_records(size: int = FEED_SIZE, seed: int = FEED_SEED) -> list[NossaTicket]:
    """`size` tickets in feed order, with unique numbers, several per timestamp."""
    rng = random.Random(seed)
    numbers = rng.sample(range(10_000_000, 100_000_000), size)
    tickets: list[NossaTicket] = []
    moment = FEED_START
    while len(tickets) < size:
        moment += timedelta(seconds=rng.randint(1, 30))
        for _ in range(min(rng.randint(1, 9), size - len(tickets))):
            category, symptom = rng.choice(_SYMPTOMS)
            tickets.append(
                NossaTicket(
                    nossa_number=f"IN{numbers[len(tickets)]}",
                    service_number=pooled_service_number(rng),
                    category=category,
                    symptom=symptom,
                    channel="147",
                    reported_at=moment,
                )
            )
    return sorted(tickets, key=position)


RECORDS = feed_records()


def _stall_once() -> None:
    """Sleep (to be killed) unless this feed directory already stalled once."""
    try:
        fd = os.open(Path(os.environ[DIR_ENV]) / STALL_MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.close(fd)
    time.sleep(STALL_SECONDS)


class _StallingPage(list):
    """A page that stalls just before handing out the ticket at feed index `stall_at`."""

    def __init__(self, tickets: list[NossaTicket], stall_before: NossaTicket) -> None:
        super().__init__(tickets)
        self.stall_before = stall_before

    def __iter__(self):
        for ticket in super().__iter__():
            if ticket is self.stall_before:
                _stall_once()
            yield ticket


class FakeNossaFeed(NossaStub):
    """NOSSA with `RECORDS` waiting; every other operation is the stub's."""

    def fetch_new_tickets(
        self, *, since: datetime, after_ref: str = "", limit: int
    ) -> list[NossaTicket]:
        self._call("fetch_new_tickets")
        if not isinstance(since, datetime) or limit < 0:
            raise AdapterRejected(f"bad cursor or limit: {since!r}, {limit!r}")
        cursor = (since if since.tzinfo else since.replace(tzinfo=UTC), after_ref)
        page = [ticket for ticket in RECORDS if position(ticket) > cursor][:limit]
        stall_at = os.environ.get(STALL_AT_ENV, "")
        if stall_at and RECORDS[int(stall_at)] in page:
            return _StallingPage(page, RECORDS[int(stall_at)])
        return page


# --- The real stub feeds, with a clock that stands still -------------------------------------
STUB_NOW = datetime(2025, 11, 25, 8, 0, 30, tzinfo=UTC)

# Where a record of each stub feed sits: (time, reference), the order of the pull cursor.
STUB_POSITIONS = {
    "fetch_new_tickets": lambda ticket: (ticket.reported_at, ticket.nossa_number),
    "fetch_force_closed": lambda ticket: (ticket.closed_at, ticket.nossa_number),
    "fetch_records": lambda record: (record.recorded_at, record.record_id),
}


def walk(fetch, position, since: datetime, size: int) -> list:
    """Page through a feed from (`since`, "") with pages of `size`: every record, in order."""
    records: list = []
    cursor = (since, "")
    while True:
        page = fetch(since=cursor[0], after_ref=cursor[1], limit=size)
        records += page
        if len(page) < size:
            return records
        cursor = position(page[-1])


class FixedClockNossaStub(NossaStub):
    def __init__(self, behaviour=None, **options) -> None:
        super().__init__(behaviour, clock=lambda: STUB_NOW, **options)


class FixedClockCallbackStub(CallbackStub):
    def __init__(self, behaviour=None, **options) -> None:
        super().__init__(behaviour, clock=lambda: STUB_NOW, **options)
