"""I-SISKA: the customer master, shown on the customer panel of every ticket.

Gives who the customer is (name, address, contact phone), what they subscribe to (package,
speed, since when) and where the line is (STO, OLT, ODP codes; a gamas incident matches
customers by these). I-SISKA is the customer master: where it and a ticket disagree about the
customer's contact number, the console calls the number I-SISKA gives.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import date

from .base import Adapter, Stub, require_service_number
from .lines import line

# What a stub may be told to answer otherwise for one line (``EffectLedger.configure_answer``).
CONFIGURABLE_FIELDS = ("customer_name", "phone", "address")


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    service_number: str
    customer_name: str
    address: str
    phone: str  # contact number for calls, usually a mobile
    package_name: str
    speed_mbps: int
    has_phone: bool
    has_tv: bool
    customer_since: date
    sto: str
    olt: str
    odp: str


class IsiskaAdapter(Adapter):
    app = "isiska"
    display_name = "I-SISKA"

    @abc.abstractmethod
    def profile(self, *, service_number: str) -> CustomerProfile:
        """The customer's profile and package."""


class IsiskaStub(Stub, IsiskaAdapter):
    """Answers from the line directory, except the fields configured for the line in the
    effect ledger (a customer master that knows better, or worse, than the rest)."""

    def profile(self, *, service_number: str) -> CustomerProfile:
        self._call("profile")
        require_service_number(service_number)
        found = line(service_number)
        configured = self.effects.configured_answer(self.app, service_number)
        told = {name: configured[name] for name in CONFIGURABLE_FIELDS if configured.get(name)}
        return CustomerProfile(
            service_number=service_number,
            customer_name=told.get("customer_name", found.customer_name),
            address=told.get("address", found.address),
            phone=told.get("phone", found.phone),
            package_name=found.package.name,
            speed_mbps=found.package.speed_mbps,
            has_phone=found.package.has_phone,
            has_tv=found.package.has_tv,
            customer_since=found.customer_since,
            sto=found.sto,
            olt=found.olt,
            odp=found.odp,
        )
