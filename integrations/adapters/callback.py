"""Callback: customer contacts that could not be entered into ticketing in time.

When the front line cannot open a ticket during the call (system down, call dropped, queue
too long), it writes a callback record. Tier 2 pulls the records, calls the customers back
(Callback flow), and marks each record done with its outcome.
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from .base import (
    Adapter,
    Receipt,
    Stub,
    minute_bucket,
    mobile_phone,
    pooled_service_number,
    random_digits,
    require_limit,
    require_match,
    require_text,
)

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
    def fetch_records(self, *, since: datetime, limit: int) -> list[CallbackRecord]:
        """Records written at or after ``since``, oldest first, at most ``limit``.

        The same record may come back in a later pull; importers deduplicate by record id.
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
    """Pulls answer with the zero to three records of ``since``'s minute, from the customer pool.

    Pulls within one minute repeat the same records.
    """

    def fetch_records(self, *, since: datetime, limit: int) -> list[CallbackRecord]:
        self._call("fetch_records")
        require_limit(limit)
        bucket = minute_bucket(since)
        rng = self._rng("records", bucket.isoformat())
        records = [
            CallbackRecord(
                record_id="CB" + random_digits(rng, 10),
                service_number=pooled_service_number(rng),
                caller_phone=mobile_phone(rng),
                reason=rng.choice(_REASONS),
                recorded_at=bucket + timedelta(seconds=rng.randrange(60)),
            )
            for _ in range(rng.randint(0, 3))
        ]
        records.sort(key=lambda record: (record.recorded_at, record.record_id))
        return records[:limit]

    def mark_done(self, *, record_id: str, outcome: str, idempotency_key: str) -> Receipt:
        self._call("mark_done")
        require_match("record_id", record_id, RECORD_ID_RE)
        require_text("outcome", outcome)
        return self._receipt("mark_done", record_id, idempotency_key, prefix="DONE")
