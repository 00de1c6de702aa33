"""Customer messages keep their promises under real concurrency (PostgreSQL only): the rate
limit's last place taken once, a broadcast started by several people at once made once, batches
of one broadcast running at once telling each customer once. Threads start together, each on
its own connection (tests/tickets/test_concurrency_pg)."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from django.db import transaction

from integrations.adapters import stub_effects
from integrations.models import AdapterCall
from tests import factories
from tests.factories import CustomerFactory, ServiceFactory
from tests.tickets.test_concurrency_pg import at_once, outcomes, sites  # noqa: F401 - a fixture
from tickets import services
from tickets.models import Broadcast, CustomerMessage, MessageTemplate
from tickets.services import messages

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def no_quiet_hours(settings, sites):  # noqa: F811 - pytest passes the imported fixture
    settings.TIER2_MESSAGE_QUIET_HOURS = ""
    settings.TIER2_MESSAGE_RATE = "3/hour"
    stub_effects().clear()


def test_four_messages_at_once_for_a_customer_with_two_sent_take_the_last_place_once(monkeypatch):
    MessageTemplate.objects.create(event="closed", channel="sms", text_id="Tutup {ticket_number}")
    person = CustomerFactory(phone="081234567890")
    tickets = [factories.arrive("nossa", service=ServiceFactory(customer=person)) for _ in range(6)]
    for ticket in tickets[:2]:
        with transaction.atomic():
            messages.write_message(
                event="closed", customer=person, ticket=ticket, once=f"closed:t{ticket.pk}"
            )

    def write(ticket):
        with transaction.atomic():
            return messages.write_message(
                event="closed", customer=person, ticket=ticket, once=f"closed:t{ticket.pk}"
            )

    counted = messages.rate_allows_at

    def slow_count(*args, **kwargs):  # every thread counts before any has written: the race
        found = counted(*args, **kwargs)
        time.sleep(0.3)
        return found

    monkeypatch.setattr(messages, "rate_allows_at", slow_count)
    results = at_once([lambda ticket=ticket: write(ticket) for ticket in tickets[2:]])

    assert outcomes(results) == Counter(ok=4), results
    statuses = Counter(
        CustomerMessage.objects.filter(customer=person).values_list("status", "reason")
    )
    # 3 per hour: two sent before, one more now, three held by the limit.
    assert statuses == Counter({("sent", ""): 3, ("held", "rate_limit"): 3})
    assert AdapterCall.objects.filter(app="sms").count() == 3


def gamas_reports(customers: int, reports_each: int):
    incident = factories.open_gamas()
    for number in range(customers):
        person = CustomerFactory(phone=f"0812{number:08d}")
        for _ in range(reports_each):
            factories.arrive(
                "gamas", service=ServiceFactory(customer=person, odp=incident.area_code)
            )
    return incident


def test_a_broadcast_started_by_four_people_at_once_is_made_once():
    MessageTemplate.objects.create(event="gamas_opened", channel="sms", text_id="Gangguan {area}")
    incident = gamas_reports(customers=3, reports_each=2)
    people = [factories.role_user("Supervisor") for _ in range(2)]
    people += [factories.role_user("Support") for _ in range(2)]

    results = at_once(
        [
            lambda who=who: services.start_broadcast(incident_id=incident.pk, actor=who)
            for who in people
        ]
    )

    assert outcomes(results) == Counter(ok=4), results
    assert len({broadcast.pk for _kind, (broadcast, _created) in results}) == 1
    assert sorted(created for _kind, (_broadcast, created) in results) == [
        False,
        False,
        False,
        True,
    ]
    assert Broadcast.objects.filter(incident=incident).count() == 1


def test_batches_of_one_broadcast_running_at_once_tell_each_customer_once():
    MessageTemplate.objects.create(event="gamas_opened", channel="sms", text_id="Gangguan {area}")
    incident = gamas_reports(customers=12, reports_each=2)
    # Made directly, so that no background batch runs: the threads below run them.
    broadcast = Broadcast.objects.create(incident=incident, event="gamas_opened", total=12)

    def batches():
        handled = []
        while (count := services.broadcast_batch(broadcast_id=broadcast.pk, batch_size=5)) != 0:
            handled.append(count)
            if count is None:  # another thread holds the broadcast: try again
                continue
        return handled

    results = at_once([batches for _ in range(3)])

    assert outcomes(results) == Counter(ok=3), results
    told = Counter(
        CustomerMessage.objects.filter(incident=incident).values_list("customer_id", flat=True)
    )
    assert len(told) == 12 and set(told.values()) == {1}
    broadcast.refresh_from_db()
    assert (broadcast.done, broadcast.total) == (12, 12) and broadcast.finished_at is not None
    assert sum(count for _kind, run in results for count in run if count) == 12
