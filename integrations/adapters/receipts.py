"""Receipts the message gateways push to the console (webhooks): the body and its signature.

A gateway tells how the messages it was given fared by POSTing a batch of receipts to the
console, one address per gateway (`/api/hooks/sms/receipts/`, `/api/hooks/whatsapp/receipts/`;
docs/notifications.md):

    {"receipts": [{"message_id": "SMS123456789012", "status": "delivered",
                   "at": "2026-12-01T03:05:00+00:00", "error": ""}]}

`message_id` is the id the gateway gave when it took the message; `status` one of the
gateway's own statuses (SMS: `SMS_STATUSES`, WhatsApp: `MESSAGE_STATUSES`); `at` when it was
set (optional); `error` why it failed (optional).

Each call is signed with a secret the gateway and the console share, one per gateway: the
header `X-Hub-Signature-256` carries `sha256=<hex>`, the HMAC-SHA256 of the exact body bytes,
the scheme WhatsApp's own webhooks use (and the console's TMF621 deliveries, `hub.signature`).

Plain Python: the stubs build signed bodies with it (`SmsGatewayStub.signed_receipts`,
`WhatsAppStub.signed_receipts`), tests and docs too (`sign_receipts`), and the console checks
a call with `verify`.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .hub import signature

SIGNATURE_HEADER = "X-Hub-Signature-256"


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    """What became of one message, as its gateway reports it."""

    message_id: str
    status: str
    at: datetime | None = None  # when the status was set; None: when the console received it
    error: str = ""  # why it failed ("absent subscriber"); "" unless failed


@dataclass(frozen=True, slots=True)
class SignedReceipts:
    """A body to POST and its signature."""

    body: bytes
    signature: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", SIGNATURE_HEADER: self.signature}


def receipts_body(receipts: Iterable[DeliveryReceipt]) -> bytes:
    """The JSON body of a batch of receipts (compact UTF-8)."""
    items = [
        {
            "message_id": receipt.message_id,
            "status": receipt.status,
            **({"at": receipt.at.isoformat()} if receipt.at is not None else {}),
            **({"error": receipt.error} if receipt.error else {}),
        }
        for receipt in receipts
    ]
    return json.dumps({"receipts": items}, ensure_ascii=False, separators=(",", ":")).encode()


def sign_receipts(receipts: Iterable[DeliveryReceipt], *, secret: str) -> SignedReceipts:
    """A batch of receipts as a gateway sends it: the body, signed with its shared secret."""
    return sign_body(receipts_body(receipts), secret=secret)


def sign_body(body: bytes, *, secret: str) -> SignedReceipts:
    """Any body signed with `secret` (a test's malformed body is signed as a real one)."""
    if not secret:
        raise ValueError("A receipt body is signed with the gateway's shared secret: none given.")
    return SignedReceipts(body=body, signature=signature(body, secret))


def verify(body: bytes, *, secret: str, header: str | None) -> bool:
    """Whether `header` is the signature of `body` with `secret`, compared in constant time.
    Never true without a secret."""
    if not secret or not header:
        return False
    expected = signature(body, secret).encode()
    return hmac.compare_digest(expected, header.strip().encode("utf-8", "replace"))
