"""Callback: customer contacts that could not be entered into ticketing in time.

When the front line cannot open a ticket during the call (system down, call dropped, queue
too long), it writes a callback record. Tier 2 pulls the records, calls the customers back
(Callback flow), and marks each record done with its outcome.
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .base import (
    Adapter,
    AdapterRejected,
    Receipt,
    Stub,
    minute_bucket,
    require_limit,
    require_match,
    require_text,
)
from .lines import line, pooled_service_number

RECORD_ID_RE = re.compile(r"CB\d{10}")


@dataclass(frozen=True, slots=True)
class CallbackRecord:
    record_id: str
    service_number: str
    caller_phone: str
    reason: str
    recorded_at: datetime


class CallbackAdapter(Adapter):
    app = "callback"
    display_name = "Callback"

    @abc.abstractmethod
    def fetch_records(
        self, *, since: datetime, after_ref: str = "", limit: int
    ) -> list[CallbackRecord]:
        """Records after the cursor, oldest first, at most ``limit``.

        Records are ordered by (``recorded_at``, ``record_id``). The cursor is the last record
        already read: its time ``since`` and its id ``after_ref``. A record comes back when its
        (time, id) is strictly greater; with ``after_ref`` empty, every record written at or
        after ``since``. A page shorter than ``limit`` means nothing more is waiting for now.
        """

    @abc.abstractmethod
    def mark_done(self, *, record_id: str, outcome: str, idempotency_key: str) -> Receipt:
        """Mark the record handled, with the outcome of the callback."""


_REASONS = (
    "Internet mati, minta dihubungi kembali",
    "Internet lambat sejak tiga hari, panggilan terputus",
    "Telepon rumah tidak ada nada panggil",
    "UseeTV tidak ada siaran",
    "Lampu LOS merah, pelanggan minta teknisi datang",
    "Keluhan tagihan bulan ini lebih besar",
)


class CallbackStub(Stub, CallbackAdapter):
    """Pulls read a feed: every minute holds zero to three records, drawn from the customer
    pool by a generator seeded with the minute.

    So a window always holds the same records, whatever the page size; paging from a cursor
    walks the minutes from the cursor's up to now (the stub's clock), never further back than
    ``feed_lookback``, and returns no record later than now. A record id is ``CB``, the minute
    (minutes since 1970, 8 digits) and a 2-digit slot, so ids are unique in the feed.
    """

    feed_lookback = timedelta(days=1)

    def fetch_records(
        self, *, since: datetime, after_ref: str = "", limit: int
    ) -> list[CallbackRecord]:
        self._call("fetch_records")
        require_limit(limit)
        first = minute_bucket(since)  # also rejects a ``since`` that is not a datetime
        if not isinstance(after_ref, str):
            raise AdapterRejected(f"after_ref must be a string, got {after_ref!r}")
        cursor = (since if since.tzinfo else since.replace(tzinfo=UTC), after_ref)
        now = self._now()
        minute = max(first, minute_bucket(now - self.feed_lookback))
        page: list[CallbackRecord] = []
        while minute <= now and len(page) < limit:
            page.extend(
                record
                for record in self._records_of(minute)
                if cursor < (record.recorded_at, record.record_id) and record.recorded_at <= now
            )
            minute += timedelta(minutes=1)
        return page[:limit]

    def _records_of(self, minute: datetime) -> list[CallbackRecord]:
        """The minute's records, in (time, id) order."""
        rng = self._rng("records", minute.isoformat())
        number = int(minute.timestamp()) // 60 % 10**8
        records = []
        for slot in range(rng.randint(0, 3)):
            service_number = pooled_service_number(rng)
            records.append(
                CallbackRecord(
                    record_id=f"CB{number:08d}{slot:02d}",
                    service_number=service_number,
                    caller_phone=line(service_number).phone,  # the customer called from it
                    reason=rng.choice(_REASONS),
                    recorded_at=minute + timedelta(seconds=rng.randrange(60)),
                )
            )
        return sorted(records, key=lambda record: (record.recorded_at, record.record_id))

    def mark_done(self, *, record_id: str, outcome: str, idempotency_key: str) -> Receipt:
        self._call("mark_done")
        require_match("record_id", record_id, RECORD_ID_RE)
        require_text("outcome", outcome)
        return self._receipt("mark_done", record_id, idempotency_key, prefix="DONE")
