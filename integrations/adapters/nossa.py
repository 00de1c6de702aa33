"""NOSSA: Telkom's trouble-ticket system for IndiHome faults.

A customer's fault report becomes a NOSSA ticket, numbered ``IN`` + 8 digits (``IN16672489``).
Tier 2 pulls new tickets from NOSSA, takes them (so no other desk works them), updates their
status, escalates them to field technicians (a work order), and closes them with a closing
code. The Callback and Gamas flows create tickets here; the Force Close flow pulls tickets that
NOSSA closed without the customer's confirmation and reopens them when the fault is still there.
"""

from __future__ import annotations

import abc
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from .base import (
    Adapter,
    AdapterRejected,
    LineCondition,
    Receipt,
    Stub,
    line_condition,
    minute_bucket,
    require_limit,
    require_match,
    require_service_number,
    require_text,
)
from .lines import pooled_service_number

NOSSA_NUMBER_RE = re.compile(r"IN\d{8}")


class NossaStatus(StrEnum):
    """Ticket statuses as NOSSA names them."""

    OPEN = "OPEN"
    ANALYSIS = "ANALYSIS"  # a desk is diagnosing
    PENDING = "PENDING"  # waiting on the customer
    BACKEND = "BACKEND"  # with field technicians (after escalation)
    RESOLVED = "RESOLVED"  # fixed, awaiting confirmation
    CLOSED = "CLOSED"


@dataclass(frozen=True, slots=True)
class NossaTicket:
    """A trouble ticket as pulled from NOSSA."""

    nossa_number: str
    service_number: str
    category: str  # INTERNET, IPTV or VOICE
    symptom: str
    channel: str  # where the customer reported: 147 call centre, IVR, app, social media
    reported_at: datetime


@dataclass(frozen=True, slots=True)
class ForceClosedTicket:
    """A ticket NOSSA closed without the customer confirming the fault was gone."""

    nossa_number: str
    service_number: str
    category: str
    symptom: str
    reported_at: datetime
    closed_at: datetime
    closing_code: str


@dataclass(frozen=True, slots=True)
class NossaTicketCreated:
    nossa_number: str
    service_number: str
    symptom: str


@dataclass(frozen=True, slots=True)
class NossaEscalation:
    """An escalation to the field: NOSSA opens a work order for a technician visit."""

    nossa_number: str
    work_order_id: str
    reason: str


class NossaAdapter(Adapter):
    app = "nossa"
    display_name = "NOSSA"

    @abc.abstractmethod
    def fetch_new_tickets(
        self, *, since: datetime, after_ref: str = "", limit: int
    ) -> list[NossaTicket]:
        """New tickets after the cursor, oldest first, at most ``limit``.

        Tickets are ordered by (``reported_at``, ``nossa_number``). The cursor is the last ticket
        already read: its time ``since`` and its number ``after_ref``. A ticket comes back when
        its (time, number) is strictly greater; with ``after_ref`` empty, every ticket reported
        at or after ``since``. A page shorter than ``limit`` means the feed holds nothing more
        for now.
        """

    @abc.abstractmethod
    def take_ticket(self, *, nossa_number: str, agent_code: str, idempotency_key: str) -> Receipt:
        """Assign the ticket to a Tier-2 agent in NOSSA."""

    @abc.abstractmethod
    def update_status(
        self, *, nossa_number: str, status: str, note: str, idempotency_key: str
    ) -> Receipt:
        """Set the ticket's status (one of :class:`NossaStatus`) with a worklog note."""

    @abc.abstractmethod
    def escalate(self, *, nossa_number: str, reason: str, idempotency_key: str) -> NossaEscalation:
        """Send the ticket to field technicians; returns the work order."""

    @abc.abstractmethod
    def reopen(self, *, nossa_number: str, reason: str, idempotency_key: str) -> Receipt:
        """Reopen a closed ticket (Force Close: the customer says the fault is still there)."""

    @abc.abstractmethod
    def create_ticket(
        self, *, service_number: str, symptom: str, idempotency_key: str
    ) -> NossaTicketCreated:
        """Open a new trouble ticket for a service number."""

    @abc.abstractmethod
    def close_ticket(
        self, *, nossa_number: str, closing_code: str, idempotency_key: str
    ) -> Receipt:
        """Close the ticket with a closing code (what was found and done)."""

    @abc.abstractmethod
    def fetch_force_closed(
        self, *, since: datetime, after_ref: str = "", limit: int
    ) -> list[ForceClosedTicket]:
        """Tickets closed without customer confirmation, after the cursor (``since``,
        ``after_ref``) in (``closed_at``, ``nossa_number``) order, at most ``limit``.

        The cursor works as in :meth:`fetch_new_tickets`.
        """


def require_nossa_number(nossa_number: str) -> None:
    require_match("nossa_number", nossa_number, NOSSA_NUMBER_RE)


# What customers report, by the fault actually on their line.
_SYMPTOMS: dict[LineCondition, tuple[tuple[str, str], ...]] = {
    LineCondition.HEALTHY: (
        ("IPTV", "UseeTV tidak ada siaran, layar hitam"),
        ("VOICE", "Telepon rumah tidak ada nada panggil"),
        ("INTERNET", "Internet lambat pada malam hari"),
    ),
    LineCondition.WIFI_OFF: (("INTERNET", "WiFi tidak muncul di HP dan laptop"),),
    LineCondition.ONT_HANG: (
        ("INTERNET", "Internet mati, semua lampu modem menyala normal"),
        ("INTERNET", "Internet putus-putus sejak kemarin"),
    ),
    LineCondition.PROFILE_MISMATCH: (("INTERNET", "Kecepatan internet tidak sesuai paket"),),
    LineCondition.LOS: (("INTERNET", "Internet mati total, lampu LOS merah berkedip"),),
}


def _reported_fault(rng: random.Random) -> tuple[str, str, str]:
    """A customer from the pool and what they report: (service number, category, symptom)."""
    service_number = pooled_service_number(rng)
    category, symptom = rng.choice(_SYMPTOMS[line_condition(service_number)])
    return service_number, category, symptom


_CHANNELS = ("147", "IVR", "MyIndiHome", "Twitter @IndiHomeCare", "Plasa Telkom")
_CLOSING_CODES = ("SOLVED-RESTART-ONT", "SOLVED-TEKNISI", "SOLVED-KONFIGURASI", "AUTO-CLOSE-3X24")


class NossaStub(Stub, NossaAdapter):
    """Pulls read a feed: every minute holds one to four new tickets and zero to two
    force-closed ones, drawn from the customer pool by a generator seeded with the minute.

    So a window always holds the same tickets, whatever the page size; paging from a cursor
    walks the minutes from the cursor's up to now (the stub's clock), never further back than
    ``feed_lookback``, and returns no ticket later than now. NOSSA numbers are unique in the
    feed: new tickets take slots 0-3 of their minute's number block, force-closed ones 4-5.
    """

    feed_lookback = timedelta(days=1)

    def fetch_new_tickets(
        self, *, since: datetime, after_ref: str = "", limit: int
    ) -> list[NossaTicket]:
        self._call("fetch_new_tickets")
        return self._feed_page(
            self._new_tickets_of, lambda t: (t.reported_at, t.nossa_number), since, after_ref, limit
        )

    def _new_tickets_of(self, minute: datetime) -> list[NossaTicket]:
        rng = self._rng("new", minute.isoformat())
        block = int(minute.timestamp()) // 60 * 8  # eight numbers per minute
        tickets = []
        for slot in range(rng.randint(1, 4)):
            service_number, category, symptom = _reported_fault(rng)
            tickets.append(
                NossaTicket(
                    nossa_number=f"IN{(block + slot) % 10**8:08d}",
                    service_number=service_number,
                    category=category,
                    symptom=symptom,
                    channel=rng.choice(_CHANNELS),
                    reported_at=minute + timedelta(seconds=rng.randrange(60)),
                )
            )
        return tickets

    def _feed_page(self, records_of, position, since: datetime, after_ref: str, limit: int):
        """At most ``limit`` records strictly after (``since``, ``after_ref``), in position
        order, from the minutes of the cursor up to now."""
        require_limit(limit)
        first = minute_bucket(since)  # also rejects a ``since`` that is not a datetime
        if not isinstance(after_ref, str):
            raise AdapterRejected(f"after_ref must be a string, got {after_ref!r}")
        cursor = (since if since.tzinfo else since.replace(tzinfo=UTC), after_ref)
        now = self._now()
        minute = max(first, minute_bucket(now - self.feed_lookback))
        page: list = []
        while minute <= now and len(page) < limit:
            records = sorted(records_of(minute), key=position)
            page.extend(r for r in records if cursor < position(r) and position(r)[0] <= now)
            minute += timedelta(minutes=1)
        return page[:limit]

    def take_ticket(self, *, nossa_number: str, agent_code: str, idempotency_key: str) -> Receipt:
        self._call("take_ticket")
        require_nossa_number(nossa_number)
        require_text("agent_code", agent_code)
        return self._receipt("take_ticket", nossa_number, idempotency_key, prefix="TK")

    def update_status(
        self, *, nossa_number: str, status: str, note: str, idempotency_key: str
    ) -> Receipt:
        self._call("update_status")
        require_nossa_number(nossa_number)
        if status not in tuple(NossaStatus):
            raise AdapterRejected(f"unknown NOSSA status {status!r}")
        return self._receipt("update_status", nossa_number, idempotency_key, prefix="WL")

    def escalate(self, *, nossa_number: str, reason: str, idempotency_key: str) -> NossaEscalation:
        self._call("escalate")
        require_nossa_number(nossa_number)
        require_text("reason", reason)
        work_order_id = self._reference("escalate", idempotency_key, prefix="WO", digits=9)
        return NossaEscalation(
            nossa_number=nossa_number, work_order_id=work_order_id, reason=reason
        )

    def reopen(self, *, nossa_number: str, reason: str, idempotency_key: str) -> Receipt:
        self._call("reopen")
        require_nossa_number(nossa_number)
        require_text("reason", reason)
        return self._receipt("reopen", nossa_number, idempotency_key, prefix="RO")

    def create_ticket(
        self, *, service_number: str, symptom: str, idempotency_key: str
    ) -> NossaTicketCreated:
        self._call("create_ticket")
        require_service_number(service_number)
        require_text("symptom", symptom)
        nossa_number = self._reference("create_ticket", idempotency_key, prefix="IN", digits=8)
        return NossaTicketCreated(
            nossa_number=nossa_number, service_number=service_number, symptom=symptom
        )

    def close_ticket(
        self, *, nossa_number: str, closing_code: str, idempotency_key: str
    ) -> Receipt:
        self._call("close_ticket")
        require_nossa_number(nossa_number)
        require_text("closing_code", closing_code)
        return self._receipt("close_ticket", nossa_number, idempotency_key, prefix="CL")

    def fetch_force_closed(
        self, *, since: datetime, after_ref: str = "", limit: int
    ) -> list[ForceClosedTicket]:
        self._call("fetch_force_closed")
        return self._feed_page(
            self._force_closed_of, lambda t: (t.closed_at, t.nossa_number), since, after_ref, limit
        )

    def _force_closed_of(self, minute: datetime) -> list[ForceClosedTicket]:
        rng = self._rng("force_closed", minute.isoformat())
        block = int(minute.timestamp()) // 60 * 8  # eight numbers per minute
        tickets = []
        for slot in range(rng.randint(0, 2)):
            service_number, category, symptom = _reported_fault(rng)
            closed_at = minute + timedelta(seconds=rng.randrange(60))
            tickets.append(
                ForceClosedTicket(
                    nossa_number=f"IN{(block + 4 + slot) % 10**8:08d}",
                    service_number=service_number,
                    category=category,
                    symptom=symptom,
                    reported_at=closed_at - timedelta(hours=rng.randint(2, 70)),
                    closed_at=closed_at,
                    closing_code=rng.choice(_CLOSING_CODES),
                )
            )
        return tickets
