"""Receipts pushed by the message gateways (POST /api/hooks/<gateway>/receipts/): signed with
the gateway's own secret, applied all or nothing, never moving a status backwards.

Signed bodies come from the stubs (`signed_receipts`: what the gateway would push for the
messages it sent) or from `integrations.adapters.receipts.sign_receipts` (receipts a test
chooses); no test computes a signature of its own. Expected times and counts are written out by
hand from the scenario.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from integrations.adapters import get_adapter, stub_effects
from integrations.adapters.receipts import DeliveryReceipt, sign_body, sign_receipts
from tests import factories
from tests.factories import CustomerFactory, ServiceFactory
from tickets.models import CustomerMessage, MessageTemplate

pytestmark = pytest.mark.django_db

SMS_SECRET = "sms-" + "s" * 40
WHATSAPP_SECRET = "wa-" + "w" * 40
SMS_URL = "/api/hooks/sms/receipts/"
WHATSAPP_URL = "/api/hooks/whatsapp/receipts/"
# 2026-12-01 10:00 WIB: outside quiet hours. Receipts come five minutes later.
MORNING = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
LATER = MORNING + timedelta(minutes=5)


@pytest.fixture(autouse=True)
def webhook_secrets(settings):
    settings.TIER2_SMS_WEBHOOK_SECRET = SMS_SECRET
    settings.TIER2_WHATSAPP_WEBHOOK_SECRET = WHATSAPP_SECRET
    stub_effects().clear()  # message ids come from row ids, which rolled-back tests reuse


def sent_message(django_capture_on_commit_callbacks, *, channel="sms", phone="081234567890"):
    """A report whose acknowledgement went out through the outbox: status sent, with the
    gateway's message id."""
    if not MessageTemplate.objects.filter(channel=channel).exists():
        MessageTemplate.objects.create(
            event="report_received", channel=channel, text_id="Tiket {ticket_number} diterima.",
            whatsapp_name="t2_received" if channel == "whatsapp" else "",
            whatsapp_status="approved" if channel == "whatsapp" else "",
        )  # fmt: skip
    person = CustomerFactory(phone=phone, message_channel=channel)
    with (
        time_machine.travel(MORNING, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        ticket = factories.arrive("nossa", service=ServiceFactory(customer=person))
    message = CustomerMessage.objects.get(ticket=ticket)
    assert (message.status, message.sent_at) == ("sent", MORNING)
    assert message.provider_id
    return message


def push(url, signed, **headers):
    """POST a signed body as the gateway does; `headers` may override the signature."""
    headers = {"HTTP_X_HUB_SIGNATURE_256": signed.signature, **headers}
    with time_machine.travel(LATER + timedelta(minutes=5), tick=False):
        return APIClient().post(url, data=signed.body, content_type="application/json", **headers)


def state(message) -> tuple:
    row = CustomerMessage.objects.get(pk=message.pk)
    return row.status, row.delivered_at, row.read_at, row.failed_at, row.reason


# --- Accepted ---------------------------------------------------------------------------------
def test_the_sms_gateways_signed_receipt_is_recorded_with_its_time(
    django_capture_on_commit_callbacks,
):
    message = sent_message(django_capture_on_commit_callbacks)
    signed = get_adapter("sms").signed_receipts(
        message_ids=[message.provider_id], secret=SMS_SECRET, at=LATER
    )

    response = push(SMS_URL, signed)

    assert response.status_code == 200, response.json()
    assert response.json() == {"received": 1, "changed": 1, "unknown": 0}
    assert state(message) == ("delivered", LATER, None, None, "")


def test_whatsapps_sent_delivered_and_read_receipts_leave_the_message_read(
    django_capture_on_commit_callbacks,
):
    """The stub reads messages to numbers ending in an even digit: it pushes sent (already
    known: no change), delivered and read."""
    message = sent_message(django_capture_on_commit_callbacks, channel="whatsapp")
    signed = get_adapter("whatsapp").signed_receipts(
        message_ids=[message.provider_id], secret=WHATSAPP_SECRET, at=LATER
    )

    response = push(WHATSAPP_URL, signed)

    assert response.json() == {"received": 3, "changed": 2, "unknown": 0}
    assert state(message) == ("read", LATER, LATER, None, "")


def test_a_duplicate_receipt_changes_nothing(django_capture_on_commit_callbacks):
    message = sent_message(django_capture_on_commit_callbacks)
    signed = get_adapter("sms").signed_receipts(
        message_ids=[message.provider_id], secret=SMS_SECRET, at=LATER
    )
    assert push(SMS_URL, signed).json()["changed"] == 1

    again = push(SMS_URL, signed)

    assert again.status_code == 200
    assert again.json() == {"received": 1, "changed": 0, "unknown": 0}
    assert state(message) == ("delivered", LATER, None, None, "")


def test_read_then_a_late_delivered_stays_read(django_capture_on_commit_callbacks):
    message = sent_message(django_capture_on_commit_callbacks, channel="whatsapp")
    read_at, delivered_at = LATER, LATER - timedelta(minutes=1)
    read = sign_receipts(
        [DeliveryReceipt(message_id=message.provider_id, status="read", at=read_at)],
        secret=WHATSAPP_SECRET,
    )
    late = sign_receipts(
        [DeliveryReceipt(message_id=message.provider_id, status="delivered", at=delivered_at)],
        secret=WHATSAPP_SECRET,
    )

    assert push(WHATSAPP_URL, read).json()["changed"] == 1
    assert push(WHATSAPP_URL, late).json() == {"received": 1, "changed": 0, "unknown": 0}

    # Read implies delivered: both at the read receipt's time; the late one moved nothing.
    assert state(message) == ("read", read_at, read_at, None, "")


def test_failed_is_final(django_capture_on_commit_callbacks):
    """The stub fails numbers ending in 99 ("absent subscriber"); a delivered that comes after
    changes nothing."""
    message = sent_message(django_capture_on_commit_callbacks, phone="081234567899")
    failed = get_adapter("sms").signed_receipts(
        message_ids=[message.provider_id], secret=SMS_SECRET, at=LATER
    )
    delivered = sign_receipts(
        [DeliveryReceipt(message_id=message.provider_id, status="delivered", at=LATER)],
        secret=SMS_SECRET,
    )

    assert push(SMS_URL, failed).json()["changed"] == 1
    assert push(SMS_URL, delivered).json()["changed"] == 0

    assert state(message) == ("failed", None, None, LATER, "absent subscriber")


def test_an_unknown_message_id_is_accepted_ignored_and_logged(
    django_capture_on_commit_callbacks, caplog
):
    message = sent_message(django_capture_on_commit_callbacks)
    signed = sign_receipts(
        [
            DeliveryReceipt(message_id="SMS999999999999", status="delivered"),
            DeliveryReceipt(message_id=message.provider_id, status="delivered", at=LATER),
        ],
        secret=SMS_SECRET,
    )

    with caplog.at_level(logging.INFO, logger="tickets.services.messages"):
        response = push(SMS_URL, signed)

    assert response.status_code == 200
    assert response.json() == {"received": 2, "changed": 1, "unknown": 1}
    assert "SMS999999999999" in caplog.text
    assert state(message) == ("delivered", LATER, None, None, "")


def test_an_sms_message_id_at_the_whatsapp_webhook_is_unknown(django_capture_on_commit_callbacks):
    message = sent_message(django_capture_on_commit_callbacks)
    signed = sign_receipts(
        [DeliveryReceipt(message_id=message.provider_id, status="read")], secret=WHATSAPP_SECRET
    )

    assert push(WHATSAPP_URL, signed).json() == {"received": 1, "changed": 0, "unknown": 1}
    assert state(message)[0] == "sent"


def test_a_receipt_time_in_the_future_is_taken_as_now(django_capture_on_commit_callbacks):
    message = sent_message(django_capture_on_commit_callbacks)
    signed = sign_receipts(
        [DeliveryReceipt(message_id=message.provider_id, status="delivered",
                         at=datetime(2030, 1, 1, tzinfo=UTC))],
        secret=SMS_SECRET,
    )  # fmt: skip

    push(SMS_URL, signed)  # at LATER + 5 minutes

    assert state(message)[1] == LATER + timedelta(minutes=5)


def test_a_receipt_without_a_time_takes_the_time_it_came(django_capture_on_commit_callbacks):
    message = sent_message(django_capture_on_commit_callbacks)
    signed = sign_receipts(
        [DeliveryReceipt(message_id=message.provider_id, status="delivered")], secret=SMS_SECRET
    )

    push(SMS_URL, signed)

    assert state(message)[1] == LATER + timedelta(minutes=5)


# --- Refused: nothing changes -----------------------------------------------------------------
def refused_cases(message):
    right = get_adapter("sms").signed_receipts(
        message_ids=[message.provider_id], secret=SMS_SECRET, at=LATER
    )
    # The same body with one byte changed (a digit of the time), with the original's signature.
    tampered = right.body.replace(b"03:05", b"03:06")
    assert tampered != right.body
    other_gateway = sign_body(right.body, secret=WHATSAPP_SECRET)
    return {
        "one byte changed": (tampered, right.signature),
        "the other gateway's secret": (right.body, other_gateway.signature),
        "no signature": (right.body, None),
        "a signature of nothing": (right.body, "sha256="),
        "not hex": (right.body, "sha256=" + "z" * 64),
        "not ascii": (right.body, "sha256=é"),
    }


@pytest.mark.parametrize(
    "case",
    ["one byte changed", "the other gateway's secret", "no signature", "a signature of nothing",
     "not hex", "not ascii"],
)  # fmt: skip
def test_a_call_not_signed_with_the_gateways_secret_is_401_and_changes_nothing(
    case, django_capture_on_commit_callbacks
):
    message = sent_message(django_capture_on_commit_callbacks)
    before = state(message)
    body, signature = refused_cases(message)[case]
    headers = {} if signature is None else {"HTTP_X_HUB_SIGNATURE_256": signature}

    with time_machine.travel(LATER, tick=False):
        response = APIClient().post(SMS_URL, data=body, content_type="application/json", **headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'HMAC-SHA256 header="X-Hub-Signature-256"'
    assert response.json()["code"] in {"NotAuthenticated", "AuthenticationFailed"}
    assert state(message) == before


def test_a_signed_in_supervisor_without_a_signature_is_refused_too(
    django_capture_on_commit_callbacks,
):
    message = sent_message(django_capture_on_commit_callbacks)
    signed = sign_receipts(
        [DeliveryReceipt(message_id=message.provider_id, status="delivered")], secret=SMS_SECRET
    )
    client = APIClient()
    client.force_login(factories.role_user("Supervisor"))

    response = client.post(SMS_URL, data=signed.body, content_type="application/json")

    assert response.status_code == 401
    assert state(message)[0] == "sent"


def test_a_gateway_without_a_secret_has_no_webhook(settings, django_capture_on_commit_callbacks):
    message = sent_message(django_capture_on_commit_callbacks)
    signed = get_adapter("sms").signed_receipts(
        message_ids=[message.provider_id], secret=SMS_SECRET
    )
    settings.TIER2_SMS_WEBHOOK_SECRET = ""

    response = push(SMS_URL, signed)
    unsigned = APIClient().post(SMS_URL, data=signed.body, content_type="application/json")

    assert response.status_code == 403
    assert "off" in response.json()["detail"]
    assert unsigned.status_code == 401  # whoever calls without a signature, as when it is on
    assert state(message)[0] == "sent"


def test_a_batch_with_one_bad_receipt_is_400_and_none_is_applied(
    django_capture_on_commit_callbacks,
):
    good = sent_message(django_capture_on_commit_callbacks)
    other = sent_message(django_capture_on_commit_callbacks, phone="081234567891")
    signed = sign_receipts(
        [
            DeliveryReceipt(message_id=good.provider_id, status="delivered", at=LATER),
            DeliveryReceipt(message_id=other.provider_id, status="read", at=LATER),  # not SMS's
        ],
        secret=SMS_SECRET,
    )

    response = push(SMS_URL, signed)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "ValidationError"
    assert body["errors"] == {"receipts": {"1": {"status": ['"read" is not a valid choice.']}}}
    assert state(good)[0] == state(other)[0] == "sent"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"receipts": []}', "receipts"),
        (b'{"receipts": [{"status": "delivered"}]}', "receipts"),
        (b'{"receipts": [{"message_id": "SMS1", "status": "delivered", "at": "soon"}]}',
         "receipts"),
        (b'{"receipt": [{"message_id": "SMS1", "status": "delivered"}]}', "receipts"),
        (b'[{"message_id": "SMS1", "status": "delivered"}]', "non_field_errors"),
    ],
    ids=["empty", "no-id", "bad-time", "misnamed", "not-an-object"],
)  # fmt: skip
def test_a_malformed_signed_body_is_400_with_field_messages(body, field):
    response = push(SMS_URL, sign_body(body, secret=SMS_SECRET))

    assert response.status_code == 400
    assert response.json()["code"] == "ValidationError"
    assert field in response.json()["errors"]


def test_a_signed_body_that_is_not_json_is_400():
    response = push(SMS_URL, sign_body(b"receipts=1", secret=SMS_SECRET))

    assert response.status_code == 400
    assert response.json()["code"] == "ParseError"


def test_a_batch_larger_than_a_thousand_is_refused():
    receipts = [DeliveryReceipt(message_id=f"SMS{n:012d}", status="delivered") for n in range(1001)]

    response = push(SMS_URL, sign_receipts(receipts, secret=SMS_SECRET))

    assert response.status_code == 400
    assert "receipts" in response.json()["errors"]


def test_the_webhook_has_its_own_rate(monkeypatch, django_capture_on_commit_callbacks):
    message = sent_message(django_capture_on_commit_callbacks)
    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES,
                                                "receipts": "2/min"}
    )  # fmt: skip
    cache.clear()
    signed = sign_receipts(
        [DeliveryReceipt(message_id=message.provider_id, status="delivered")], secret=SMS_SECRET
    )

    answers = [push(SMS_URL, signed).status_code for _ in range(3)]

    assert answers == [200, 200, 429]
