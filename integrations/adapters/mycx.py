"""My CX: escalation of customer problems, and follow-up of what became of them.

Tier 2 opens a My CX case when a fault goes to the field (NOSSA flow), when a customer reports
the same fault again (Fresh Lapul), or when an escalation needs the customer-experience team;
the case's progress is then followed up from the ticket.
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass

from .base import Adapter, Stub, require_match, require_service_number, require_text

CASE_ID_RE = re.compile(r"CX\d{10}")


@dataclass(frozen=True, slots=True)
class MyCxCase:
    case_id: str
    service_number: str
    summary: str


@dataclass(frozen=True, slots=True)
class MyCxFollowUp:
    case_id: str
    status: str  # "open", "in_progress" or "resolved"
    progress: str  # the latest progress note, as the handling team wrote it


class MyCxAdapter(Adapter):
    app = "mycx"
    display_name = "My CX"

    @abc.abstractmethod
    def open_case(self, *, service_number: str, summary: str, idempotency_key: str) -> MyCxCase:
        """Open an escalation case for the customer."""

    @abc.abstractmethod
    def follow_up(self, *, case_id: str) -> MyCxFollowUp:
        """The case's current status and latest progress note."""


_PROGRESS = (
    ("open", "Laporan diterima, menunggu analisa tim CX"),
    ("in_progress", "Sudah dikoordinasikan dengan tim lapangan, teknisi dijadwalkan"),
    ("in_progress", "Teknisi sedang menangani di lokasi pelanggan"),
    ("resolved", "Gangguan sudah diperbaiki, mohon konfirmasi ke pelanggan"),
)


class MyCxStub(Stub, MyCxAdapter):
    """A case's progress is fixed by its id: the stub does not move cases forward."""

    def open_case(self, *, service_number: str, summary: str, idempotency_key: str) -> MyCxCase:
        self._call("open_case")
        require_service_number(service_number)
        require_text("summary", summary)
        case_id = self._reference("open_case", idempotency_key, prefix="CX", digits=10)
        return MyCxCase(case_id=case_id, service_number=service_number, summary=summary)

    def follow_up(self, *, case_id: str) -> MyCxFollowUp:
        self._call("follow_up")
        require_match("case_id", case_id, CASE_ID_RE)
        status, progress = self._rng("follow_up", case_id).choice(_PROGRESS)
        return MyCxFollowUp(case_id=case_id, status=status, progress=progress)
