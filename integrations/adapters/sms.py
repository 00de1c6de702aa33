"""SMS Gateway: text messages to a customer's mobile phone.

The console sends a text through the gateway (an aggregator that hands it to the customer's
operator) and can ask later whether it was delivered. The gateway takes a number in E.164 form
without the "+" (``6281234567890`` for 0812 3456 7890) and a sender id, the name the customer
sees as the sender (``IndiHome``).

A long text goes out in several parts, *segments*, that the phone joins again; the operator
charges each one. How many a text takes depends on its characters:

- *GSM-7*, the 7-bit alphabet of GSM 03.38 (Latin letters, digits, common punctuation and a
  few accented letters such as é and ñ): 160 characters in one SMS, 153 per part when longer.
  The characters of its extension table (``^ { } [ ] ~ | \\ €``) take two places each.
- *UCS-2*, as soon as one character is outside GSM-7 (an emoji, a Chinese character, "ō"):
  70 characters in one SMS, 67 per part when longer. A character outside the Basic
  Multilingual Plane (most emoji) counts as two, as UTF-16 writes it.

The gateway refuses a text longer than :data:`MAX_SEGMENTS` parts.

Besides answering `delivery_status`, the gateway pushes its receipts to the console, signed
(`integrations.adapters.receipts`; the stub builds such calls: `SmsGatewayStub.signed_receipts`).
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .base import (
    Adapter,
    AdapterRejected,
    Stub,
    require_match,
    require_mobile_number,
    require_text,
)
from .receipts import DeliveryReceipt, SignedReceipts, sign_receipts

MAX_SEGMENTS = 6
# The sender id the customer sees: up to 11 letters, digits or spaces (GSM's limit).
SENDER_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ]{0,10}")
# A message's delivery status, as the gateway reports it.
SMS_STATUSES = ("accepted", "delivered", "failed")

# GSM 03.38's basic alphabet: one place each (every code but the escape, 0x1B).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Its extension table: the escape, then the character, so two places each.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")


@dataclass(frozen=True, slots=True)
class SmsAccepted:
    """The gateway took the message; it is on its way to the operator."""

    message_id: str
    to: str
    segments: int  # parts the text went out in (see the module's notes)
    status: str  # "accepted"


@dataclass(frozen=True, slots=True)
class SmsStatus:
    message_id: str
    status: str  # one of SMS_STATUSES
    updated_at: datetime  # when the status was last set
    error: str  # why it failed, as the operator said ("absent subscriber"); "" unless failed


class SmsGatewayAdapter(Adapter):
    app = "sms"
    display_name = "SMS Gateway"

    @abc.abstractmethod
    def send(self, *, to: str, text: str, sender_id: str, idempotency_key: str) -> SmsAccepted:
        """Send ``text`` to the mobile number ``to`` (``628...``), from ``sender_id``."""

    @abc.abstractmethod
    def delivery_status(self, *, message_id: str) -> SmsStatus:
        """What became of a message sent earlier: accepted, delivered or failed."""


def sms_segments(text: str) -> int:
    """How many parts ``text`` goes out in: GSM-7 when every character is in its alphabet
    (160 in one SMS, else 153 per part), UCS-2 otherwise (70, else 67 per part).

    A character that takes two places (GSM-7's extension table, a UCS-2 surrogate pair) is
    never split between two parts, so a part may hold one place less.
    """
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        places, single, per_part = [2 if c in GSM7_EXTENSION else 1 for c in text], 160, 153
    else:
        places, single, per_part = [2 if ord(c) > 0xFFFF else 1 for c in text], 70, 67
    if sum(places) <= single:
        return 1
    parts, used = 1, 0
    for size in places:
        if used + size > per_part:
            parts, used = parts + 1, 0
        used += size
    return parts


class SmsGatewayStub(Stub, SmsGatewayAdapter):
    """Accepts any well-formed message and settles its fate when it is sent: a number ending
    in 99 fails ("absent subscriber", the phone is off or out of reach), any other is
    delivered.

    The message id comes from the idempotency key. What was sent (the number and the time) is
    kept in the effect ledger under the message id, so a stub in another process (a Celery
    worker) sharing the ledger answers the message's status; an id the ledger does not hold is
    rejected as unknown.
    """

    def send(self, *, to: str, text: str, sender_id: str, idempotency_key: str) -> SmsAccepted:
        self._call("send")
        require_mobile_number("to", to)
        require_text("text", text)
        require_match("sender_id", sender_id, SENDER_ID_RE)
        segments = sms_segments(text)
        if segments > MAX_SEGMENTS:
            raise AdapterRejected(
                f"text is too long: {len(text)} characters take {segments} SMS parts, "
                f"at most {MAX_SEGMENTS} are allowed"
            )
        message_id = self._reference("send", idempotency_key, prefix="SMS", digits=12)
        if not self.effects.configured_answer(self.app, message_id):  # a repeat keeps the first
            self.effects.configure_answer(
                self.app, message_id, to=to, sent_at=self._now().isoformat()
            )
        return SmsAccepted(message_id=message_id, to=to, segments=segments, status="accepted")

    def delivery_status(self, *, message_id: str) -> SmsStatus:
        self._call("delivery_status")
        require_text("message_id", message_id)
        return self._settled(message_id)

    def signed_receipts(
        self, *, message_ids: Iterable[str], secret: str, at: datetime | None = None
    ) -> SignedReceipts:
        """The receipts this gateway pushes for messages it sent (what `delivery_status`
        answers: delivered, or failed with the operator's reason), as one call's body signed
        with the webhook's shared `secret`. `at`: their time (default: when each was sent).
        Not an operation of the interface: the gateway calls the console, not the reverse."""
        settled = [self._settled(message_id) for message_id in message_ids]
        return sign_receipts(
            [
                DeliveryReceipt(
                    message_id=status.message_id,
                    status=status.status,
                    at=at or status.updated_at,
                    error=status.error,
                )
                for status in settled
            ],
            secret=secret,
        )

    def _settled(self, message_id: str) -> SmsStatus:
        sent = self.effects.configured_answer(self.app, message_id)
        if not sent:
            raise AdapterRejected(f"unknown message id {message_id!r}: no such SMS was sent")
        failed = sent["to"].endswith("99")
        return SmsStatus(
            message_id=message_id,
            status="failed" if failed else "delivered",
            updated_at=datetime.fromisoformat(sent["sent_at"]),
            error="absent subscriber" if failed else "",
        )
