"""A customer message's status reaches the ticket's open pages (docs/live.md): a `ticket`
message of kind `customer_message` to the ticket's own group, after commit, when the message is
queued, sent, delivered, read, failed, held or released; never to the queues, the dashboard or
the TMF621 subscribers, and nothing when a receipt changes nothing.

The layer records what reaches it (`recorded`, tests/live/conftest.py); changes commit for real.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import transaction
from rest_framework.test import APIClient

from integrations.adapters import get_adapter, stub_effects
from integrations.models import AdapterCall
from tests import factories
from tests.factories import CustomerFactory, ServiceFactory
from tickets import services
from tickets.models import CustomerMessage, MessageTemplate

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "sms-" + "s" * 40
MORNING = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 10:00 WIB
NIGHT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 22:00 WIB: quiet until 07:00 WIB
DAWN = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # 07:00 WIB


class Rollback(Exception):
    pass


@pytest.fixture(autouse=True)
def sms_template(transactional_db, settings):
    settings.TIER2_SMS_WEBHOOK_SECRET = SECRET
    stub_effects().clear()
    MessageTemplate.objects.create(
        event="report_received", channel="sms", text_id="Tiket {ticket_number} diterima."
    )


def report(at=MORNING):
    person = CustomerFactory(phone="081234567890", name="Budi Santoso")
    with time_machine.travel(at, tick=False):
        ticket = factories.arrive("nossa", service=ServiceFactory(customer=person))
    return ticket, CustomerMessage.objects.get(ticket=ticket)


def page_message(ticket, at) -> dict:
    return {"type": "ticket", "id": ticket.pk, "site": "PST", "flow": "nossa", "state": "new",
            "from_state": "new", "kind": "customer_message", "awaiting_agent": True,
            "at": at.isoformat()}  # fmt: skip


def test_a_message_written_with_an_arrival_rides_on_it_and_its_send_is_told(recorded):
    """The arrival's transaction writes the message (queued): its page hears of the arrival
    once. The outbox's send then commits on its own (sent): one message of its own."""
    ticket, message = report()

    sent = recorded(f"ticket.{ticket.pk}")
    assert [item["kind"] for item in sent] == ["arrived", "customer_message"]
    assert sent[1] == page_message(ticket, MORNING)
    assert CustomerMessage.objects.get(pk=message.pk).status == "sent"


def test_a_receipt_by_webhook_tells_only_the_tickets_page(recorded):
    ticket, message = report()
    signed = get_adapter("sms").signed_receipts(message_ids=[message.provider_id], secret=SECRET)
    recorded.clear()

    with time_machine.travel(MORNING.replace(minute=5), tick=False):
        response = APIClient().post(
            "/api/hooks/sms/receipts/", data=signed.body, content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=signed.signature,
        )  # fmt: skip

    assert response.json()["changed"] == 1
    assert recorded() == [(f"ticket.{ticket.pk}", page_message(ticket, MORNING.replace(minute=5)))]
    assert "Budi" not in repr(recorded()) and "0812" not in repr(recorded())


def test_a_receipt_that_changes_nothing_tells_nobody(recorded):
    _ticket, message = report()
    services.record_receipt(message_id=message.pk, status="delivered")
    recorded.clear()

    assert services.record_receipt(message_id=message.pk, status="delivered") == 0
    assert services.record_receipt(message_id=message.pk, status="sent") == 0
    assert recorded() == []


def test_a_rolled_back_receipt_tells_nobody(recorded):
    _ticket, message = report()
    recorded.clear()

    with pytest.raises(Rollback), transaction.atomic():
        assert services.record_receipt(message_id=message.pk, status="delivered") == 1
        raise Rollback

    assert recorded() == []
    assert CustomerMessage.objects.get(pk=message.pk).status == "sent"


def test_a_polled_receipt_is_told(recorded):
    ticket, _message = report()
    recorded.clear()

    with time_machine.travel(MORNING.replace(minute=5), tick=False):
        assert services.poll_receipts() == 1

    assert recorded() == [(f"ticket.{ticket.pk}", page_message(ticket, MORNING.replace(minute=5)))]


def test_a_send_that_failed_for_good_is_told(recorded):
    ticket, message = report()
    CustomerMessage.objects.filter(pk=message.pk).update(status="queued", sent_at=None)
    call = AdapterCall.objects.get(pk=message.call_id)
    call.status, call.error = "failed", "gateway down"
    recorded.clear()

    with time_machine.travel(MORNING.replace(minute=5), tick=False), transaction.atomic():
        services.record_send_outcome(call=call)

    assert recorded() == [(f"ticket.{ticket.pk}", page_message(ticket, MORNING.replace(minute=5)))]
    assert CustomerMessage.objects.get(pk=message.pk).status == "failed"


def test_a_held_message_released_by_the_sweep_is_told(recorded):
    ticket, message = report(at=NIGHT)
    assert CustomerMessage.objects.get(pk=message.pk).status == "held"
    recorded.clear()

    with time_machine.travel(DAWN, tick=False):
        assert services.release_held() == 1

    # Released (queued) in the sweep's transaction, then sent in the outbox's: two messages.
    assert recorded() == [(f"ticket.{ticket.pk}", page_message(ticket, DAWN))] * 2
    assert CustomerMessage.objects.get(pk=message.pk).status == "sent"
