"""Receipts the gateways push (integrations.adapters.receipts): the stubs' signed bodies say
what their status answers say, and a signature holds for its body and secret only.

No signature is computed here: `verify` checks what `sign_receipts` and the stubs produced,
against a changed body, another secret and malformed headers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from integrations.adapters import AdapterRejected, StubBehaviour
from integrations.adapters.receipts import (
    SIGNATURE_HEADER,
    DeliveryReceipt,
    sign_body,
    sign_receipts,
    verify,
)
from integrations.adapters.sms import SmsGatewayStub
from integrations.adapters.whatsapp import WhatsAppStub

SENT_AT = datetime(2025, 11, 25, 8, 0, tzinfo=UTC)
SECRET = "a-secret-of-the-sms-gateway-0123456789"
OTHER = "a-secret-of-whatsapp-business-0123456789"


def sent(stub, to: str, key: str) -> str:
    if isinstance(stub, SmsGatewayStub):
        return stub.send(to=to, text="Tiket T2-0000001.", sender_id="IndiHome",
                         idempotency_key=key).message_id  # fmt: skip
    return stub.send_template(
        to=to, name="tiket_dibuat", language="id", parameters=["T2-0000001"], idempotency_key=key
    ).message_id


def body_of(signed) -> list[dict]:
    return json.loads(signed.body)["receipts"]


def test_the_sms_stubs_receipts_are_its_delivery_statuses():
    stub = SmsGatewayStub(StubBehaviour(), clock=lambda: SENT_AT)
    delivered = sent(stub, "6281234567890", "k1")
    failed = sent(stub, "6281234567899", "k2")

    signed = stub.signed_receipts(message_ids=[delivered, failed], secret=SECRET)

    assert body_of(signed) == [
        {"message_id": delivered, "status": "delivered", "at": "2025-11-25T08:00:00+00:00"},
        {"message_id": failed, "status": "failed", "at": "2025-11-25T08:00:00+00:00",
         "error": "absent subscriber"},
    ]  # fmt: skip
    assert signed.headers[SIGNATURE_HEADER] == signed.signature
    assert verify(signed.body, secret=SECRET, header=signed.signature)


def test_whatsapps_receipts_walk_sent_delivered_read_in_order():
    stub = WhatsAppStub(StubBehaviour(), clock=lambda: SENT_AT)
    read = sent(stub, "6281234567890", "k1")  # even: read
    delivered = sent(stub, "6281234567891", "k2")  # odd: delivered
    failed = sent(stub, "6281234567899", "k3")

    signed = stub.signed_receipts(message_ids=[read, delivered, failed], secret=SECRET)

    assert [(item["message_id"], item["status"]) for item in body_of(signed)] == [
        (read, "sent"), (read, "delivered"), (read, "read"),
        (delivered, "sent"), (delivered, "delivered"),
        (failed, "sent"), (failed, "failed"),
    ]  # fmt: skip
    assert body_of(signed)[-1]["error"] == "not a WhatsApp user"


def test_a_stub_signs_no_receipt_of_a_message_it_never_sent():
    with pytest.raises(AdapterRejected):
        SmsGatewayStub(StubBehaviour()).signed_receipts(message_ids=["SMS000"], secret=SECRET)


def test_a_signature_holds_for_its_body_and_secret_only():
    signed = sign_receipts([DeliveryReceipt(message_id="SMS1", status="delivered")], secret=SECRET)
    changed = signed.body.replace(b"SMS1", b"SMS2")

    assert verify(signed.body, secret=SECRET, header=signed.signature)
    assert verify(signed.body, secret=SECRET, header=f"  {signed.signature} ")
    assert not verify(changed, secret=SECRET, header=signed.signature)
    assert not verify(signed.body, secret=OTHER, header=signed.signature)
    assert not verify(signed.body, secret=OTHER, header=sign_body(changed, secret=OTHER).signature)
    for header in (None, "", "sha256=", signed.signature.upper(), "sha256=é"):
        assert not verify(signed.body, secret=SECRET, header=header)


def test_nothing_verifies_or_is_signed_without_a_secret():
    signed = sign_receipts([DeliveryReceipt(message_id="SMS1", status="read")], secret=SECRET)
    assert not verify(signed.body, secret="", header=signed.signature)
    with pytest.raises(ValueError):
        sign_body(signed.body, secret="")
