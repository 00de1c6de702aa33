"""Receipt webhooks under real concurrency (PostgreSQL only): gateways calling at once with
the same messages in opposite orders neither deadlock nor move a status backwards, and the poll
running meanwhile agrees."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from integrations.adapters import stub_effects
from integrations.adapters.receipts import DeliveryReceipt, sign_receipts
from tests import factories
from tests.factories import CustomerFactory, ServiceFactory
from tests.tickets.test_concurrency_pg import at_once, outcomes, sites  # noqa: F401 - a fixture
from tickets import services
from tickets.models import CustomerMessage, MessageTemplate

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SECRET = "wa-" + "w" * 40
URL = "/api/hooks/whatsapp/receipts/"
AT = datetime(2026, 12, 1, 3, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def setup(settings, sites):  # noqa: F811 - pytest passes the imported fixture
    settings.TIER2_MESSAGE_QUIET_HOURS = ""
    settings.TIER2_WHATSAPP_WEBHOOK_SECRET = SECRET
    stub_effects().clear()


def sent_whatsapp_messages(count: int) -> list[CustomerMessage]:
    MessageTemplate.objects.create(
        event="report_received", channel="whatsapp", text_id="Tiket {ticket_number} diterima.",
        whatsapp_name="t2_received", whatsapp_status="approved",
    )  # fmt: skip
    for number in range(count):  # even last digits: the stub reads them
        person = CustomerFactory(phone=f"08120000{number:03d}0", message_channel="whatsapp")
        factories.arrive("nossa", service=ServiceFactory(customer=person))
    rows = list(CustomerMessage.objects.order_by("pk"))
    assert [row.status for row in rows] == ["sent"] * count  # eager Celery, committed
    return rows


def test_two_gateway_calls_at_once_in_opposite_orders_leave_every_message_read():
    rows = sent_whatsapp_messages(20)
    ids = [row.provider_id for row in rows]
    read = sign_receipts(
        [DeliveryReceipt(message_id=pk, status="read", at=AT) for pk in ids], secret=SECRET
    )
    delivered = sign_receipts(
        [DeliveryReceipt(message_id=pk, status="delivered", at=AT) for pk in reversed(ids)],
        secret=SECRET,
    )

    def call(signed):
        client = APIClient()
        return client.post(
            URL, data=signed.body, content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=signed.signature,
        )  # fmt: skip

    results = at_once(
        [lambda: call(read), lambda: call(delivered), services.poll_receipts, lambda: call(read)]
    )

    assert outcomes(results) == Counter(ok=4), results
    answers = [value for _kind, value in results]
    assert [answers[i].status_code for i in (0, 1, 3)] == [200, 200, 200]
    # Whoever came first, every message ends read, none went back to delivered.
    assert CustomerMessage.objects.filter(status="read").count() == 20
    assert not CustomerMessage.objects.filter(read_at__isnull=True).exists()
