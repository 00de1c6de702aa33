"""Dashboard My Indihome: accounts for the MyIndiHome customer app.

Agents create a customer's MyIndiHome account and register (or unregister) a service number to
it: after an Ideas order, or whenever a customer asks in any flow.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from .base import Adapter, AdapterRejected, Receipt, Stub, require_service_number


@dataclass(frozen=True, slots=True)
class MyIndiHomeAccount:
    account_id: str
    service_number: str
    email: str


class MyIndiHomeAdapter(Adapter):
    app = "myindihome"
    display_name = "Dashboard My Indihome"

    @abc.abstractmethod
    def create_account(
        self, *, service_number: str, email: str, idempotency_key: str
    ) -> MyIndiHomeAccount:
        """Create a MyIndiHome account for the customer's e-mail address."""

    @abc.abstractmethod
    def register(self, *, service_number: str, idempotency_key: str) -> Receipt:
        """Register the service number in MyIndiHome."""

    @abc.abstractmethod
    def unregister(self, *, service_number: str, idempotency_key: str) -> Receipt:
        """Cancel the service number's MyIndiHome registration."""


class MyIndiHomeStub(Stub, MyIndiHomeAdapter):
    """Accepts every request; ids come from the idempotency key."""

    def create_account(
        self, *, service_number: str, email: str, idempotency_key: str
    ) -> MyIndiHomeAccount:
        self._call("create_account")
        require_service_number(service_number)
        if not isinstance(email, str) or "@" not in email.strip("@"):
            raise AdapterRejected(f"not an e-mail address: {email!r}")
        account_id = self._reference("create_account", idempotency_key, prefix="MIH", digits=9)
        return MyIndiHomeAccount(account_id=account_id, service_number=service_number, email=email)

    def register(self, *, service_number: str, idempotency_key: str) -> Receipt:
        self._call("register")
        require_service_number(service_number)
        return self._receipt("register", service_number, idempotency_key, prefix="REG")

    def unregister(self, *, service_number: str, idempotency_key: str) -> Receipt:
        self._call("unregister")
        require_service_number(service_number)
        return self._receipt("unregister", service_number, idempotency_key, prefix="UNR")
