"""Sephia 2.0: the contact centre's internal log and internal escalation.

Tier 2 logs notable events on a service number here and escalates internally (to Support, to
the back office) when a problem needs more than Tier 2; Fresh Lapul escalations go here as well
as to My CX.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from .base import Adapter, Receipt, Stub, require_service_number, require_text


@dataclass(frozen=True, slots=True)
class SephiaEscalation:
    escalation_id: str
    service_number: str
    reason: str


class SephiaAdapter(Adapter):
    app = "sephia"
    display_name = "Sephia 2.0"

    @abc.abstractmethod
    def log_event(self, *, service_number: str, text: str, idempotency_key: str) -> Receipt:
        """Write an entry in the internal log of the service number."""

    @abc.abstractmethod
    def internal_escalation(
        self, *, service_number: str, reason: str, idempotency_key: str
    ) -> SephiaEscalation:
        """Escalate internally; returns the escalation's id."""


class SephiaStub(Stub, SephiaAdapter):
    """Accepts every entry; ids come from the idempotency key."""

    def log_event(self, *, service_number: str, text: str, idempotency_key: str) -> Receipt:
        self._call("log_event")
        require_service_number(service_number)
        require_text("text", text)
        return self._receipt("log_event", service_number, idempotency_key, prefix="LOG")

    def internal_escalation(
        self, *, service_number: str, reason: str, idempotency_key: str
    ) -> SephiaEscalation:
        self._call("internal_escalation")
        require_service_number(service_number)
        require_text("reason", reason)
        escalation_id = self._reference(
            "internal_escalation", idempotency_key, prefix="SPH", digits=9
        )
        return SephiaEscalation(
            escalation_id=escalation_id, service_number=service_number, reason=reason
        )
