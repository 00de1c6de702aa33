"""WhatsApp Business: template messages to a customer's WhatsApp.

A business may write first to a customer only with a *template*: a message text registered in
advance with WhatsApp (Meta), in one language, that WhatsApp reviews and approves before it can
be sent. The text has numbered placeholders (``{{1}}``, ``{{2}}``) that each message fills with
its *parameters* (the ticket number, a visit time). A template named here is sent in Indonesian
(``id``) or English (``en``).

WhatsApp refuses a parameter longer than 1024 characters, or holding a newline, a tab or more
than four spaces in a row. The number is written as for SMS: E.164 without the "+"
(``6281234567890``). After sending, WhatsApp reports the message sent, delivered (on the phone),
read (opened), or failed, and pushes each of these receipts to the console, signed
(`integrations.adapters.receipts`; the stub builds such calls: `WhatsAppStub.signed_receipts`).
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .base import (
    Adapter,
    AdapterRejected,
    Stub,
    StubBehaviour,
    require_choice,
    require_match,
    require_mobile_number,
    require_text,
)
from .receipts import DeliveryReceipt, SignedReceipts, sign_receipts

# A template's name as WhatsApp registers it: lower-case letters, digits and underscores.
TEMPLATE_NAME_RE = re.compile(r"[a-z0-9_]{1,512}")
TEMPLATE_LANGUAGES = ("id", "en")
# WhatsApp's review of a template; only an approved one can be sent.
TEMPLATE_STATUSES = ("approved", "pending", "rejected")
# A sent message's status, as WhatsApp reports it.
MESSAGE_STATUSES = ("sent", "delivered", "read", "failed")
MAX_PARAMETER_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class WaTemplateStatus:
    name: str
    language: str  # "id" or "en"
    status: str  # one of TEMPLATE_STATUSES


@dataclass(frozen=True, slots=True)
class WaAccepted:
    """WhatsApp took the message for sending."""

    message_id: str
    to: str
    status: str  # "sent"


@dataclass(frozen=True, slots=True)
class WaStatus:
    message_id: str
    status: str  # one of MESSAGE_STATUSES
    updated_at: datetime  # when the status was last set
    error: str  # why it failed, as WhatsApp said ("not a WhatsApp user"); "" unless failed


class WhatsAppAdapter(Adapter):
    app = "whatsapp"
    display_name = "WhatsApp Business"

    @abc.abstractmethod
    def template_status(self, *, name: str, language: str) -> WaTemplateStatus:
        """Whether WhatsApp approved the template ``name`` in ``language`` (id or en)."""

    @abc.abstractmethod
    def send_template(
        self,
        *,
        to: str,
        name: str,
        language: str,
        parameters: list[str],
        idempotency_key: str,
    ) -> WaAccepted:
        """Send the approved template ``name`` in ``language`` to ``to`` (``628...``), its
        placeholders filled with ``parameters`` in order."""

    @abc.abstractmethod
    def message_status(self, *, message_id: str) -> WaStatus:
        """What became of a message sent earlier: sent, delivered, read or failed."""


def require_template_parameters(parameters: list[str]) -> None:
    """Reject parameters WhatsApp would refuse: not a list of strings, or one that is empty,
    longer than 1024 characters, or holds a newline, a tab or more than four spaces in a row."""
    if not isinstance(parameters, list | tuple) or not all(
        isinstance(value, str) for value in parameters
    ):
        raise AdapterRejected(f"parameters must be a list of strings, got {parameters!r}")
    for number, value in enumerate(parameters, start=1):
        if not value.strip():
            problem = "is empty"
        elif len(value) > MAX_PARAMETER_LENGTH:
            problem = f"has {len(value)} characters, more than {MAX_PARAMETER_LENGTH}"
        elif any(char in value for char in "\n\r\t"):
            problem = "holds a newline or a tab"
        elif " " * 5 in value:
            problem = "holds more than four spaces in a row"
        else:
            continue
        raise AdapterRejected(f"parameter {number} {problem}, which WhatsApp refuses: {value!r}")


class WhatsAppStub(Stub, WhatsAppAdapter):
    """Templates are approved by name; messages are settled by the number they go to.

    Template review: with ``approved_templates`` (names, for example from ``TIER2_ADAPTERS``),
    exactly those are approved, in both languages; without it, every name is. Either way a
    name starting ``rejected_`` that is not approved is rejected, and any other name not
    approved (``draft_...`` when no list is given) is pending.

    A message sent to a number ending in 99 fails ("not a WhatsApp user"); to a number ending
    in another even digit it is read, to one ending in an odd digit it is delivered. The
    message id comes from the idempotency key; what was sent is kept in the effect ledger, as
    the SMS stub does, so a stub in another process answers its status and an id the ledger
    does not hold is rejected as unknown.
    """

    def __init__(
        self,
        behaviour: StubBehaviour | None = None,
        *,
        approved_templates: Iterable[str] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(behaviour, **options)
        if isinstance(approved_templates, str):
            raise TypeError("approved_templates must be a list of template names, not a string")
        self.approved_templates = (
            None if approved_templates is None else frozenset(approved_templates)
        )

    def template_status(self, *, name: str, language: str) -> WaTemplateStatus:
        self._call("template_status")
        self._require_template(name, language)
        return WaTemplateStatus(name=name, language=language, status=self._review(name))

    def send_template(
        self,
        *,
        to: str,
        name: str,
        language: str,
        parameters: list[str],
        idempotency_key: str,
    ) -> WaAccepted:
        self._call("send_template")
        require_mobile_number("to", to)
        self._require_template(name, language)
        require_template_parameters(parameters)
        status = self._review(name)
        if status != "approved":
            raise AdapterRejected(
                f"template {name} ({language}) is not approved by WhatsApp: {status}"
            )
        message_id = self._reference("send_template", idempotency_key, prefix="wamid.", digits=20)
        if not self.effects.configured_answer(self.app, message_id):  # a repeat keeps the first
            self.effects.configure_answer(
                self.app, message_id, to=to, sent_at=self._now().isoformat()
            )
        return WaAccepted(message_id=message_id, to=to, status="sent")

    def message_status(self, *, message_id: str) -> WaStatus:
        self._call("message_status")
        require_text("message_id", message_id)
        return self._settled(message_id)

    def signed_receipts(
        self, *, message_ids: Iterable[str], secret: str, at: datetime | None = None
    ) -> SignedReceipts:
        """The receipts WhatsApp pushes for messages this stub sent, in the order it sends
        them: `sent`, then `delivered` and `read` as far as the message got (what
        `message_status` answers), or `sent` and `failed` with the reason; one call's body,
        signed with the webhook's shared `secret`. `at`: their time (default: when each was
        sent). Not an operation of the interface: WhatsApp calls the console, not the reverse."""
        receipts = []
        for message_id in message_ids:
            status = self._settled(message_id)
            steps = {"read": ("sent", "delivered", "read"), "delivered": ("sent", "delivered")}
            for step in steps.get(status.status, ("sent", status.status)):
                receipts.append(
                    DeliveryReceipt(
                        message_id=message_id,
                        status=step,
                        at=at or status.updated_at,
                        error=status.error if step == "failed" else "",
                    )
                )
        return sign_receipts(receipts, secret=secret)

    def _settled(self, message_id: str) -> WaStatus:
        sent = self.effects.configured_answer(self.app, message_id)
        if not sent:
            raise AdapterRejected(
                f"unknown message id {message_id!r}: no such WhatsApp message was sent"
            )
        to = sent["to"]
        if to.endswith("99"):
            status, error = "failed", "not a WhatsApp user"
        else:
            status, error = ("read" if int(to[-1]) % 2 == 0 else "delivered"), ""
        return WaStatus(
            message_id=message_id,
            status=status,
            updated_at=datetime.fromisoformat(sent["sent_at"]),
            error=error,
        )

    @staticmethod
    def _require_template(name: str, language: str) -> None:
        require_match("name", name, TEMPLATE_NAME_RE)
        require_choice("language", language, TEMPLATE_LANGUAGES)

    def _review(self, name: str) -> str:
        """WhatsApp's verdict on the template ``name`` (the same in both languages)."""
        if self.approved_templates is None:
            approved = not name.startswith(("draft_", "rejected_"))
        else:
            approved = name in self.approved_templates
        if approved:
            return "approved"
        return "rejected" if name.startswith("rejected_") else "pending"
