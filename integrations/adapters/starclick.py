"""Starclick: entry of customer requests as orders (new services, upgrades, add-ons).

When a customer accepts an offer in the Ideas campaign flow, the agent enters it here; the
order id is stored on the ticket.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from .base import Adapter, Stub, require_service_number, require_text


@dataclass(frozen=True, slots=True)
class StarclickOrder:
    order_id: str
    service_number: str
    offer_code: str  # a Webcare offer code
    status: str  # "entered": accepted for provisioning


class StarclickAdapter(Adapter):
    app = "starclick"
    display_name = "Starclick"

    @abc.abstractmethod
    def enter_order(
        self, *, service_number: str, offer_code: str, idempotency_key: str
    ) -> StarclickOrder:
        """Enter an order for an offer the customer accepted."""


class StarclickStub(Stub, StarclickAdapter):
    """Accepts any offer code; the order id comes from the idempotency key."""

    def enter_order(
        self, *, service_number: str, offer_code: str, idempotency_key: str
    ) -> StarclickOrder:
        self._call("enter_order")
        require_service_number(service_number)
        require_text("offer_code", offer_code)
        return StarclickOrder(
            order_id=self._reference("enter_order", idempotency_key, prefix="SC", digits=10),
            service_number=service_number,
            offer_code=offer_code,
            status="entered",
        )
