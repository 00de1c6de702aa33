"""POST /api/gamas-incidents/{id}/broadcasts/ under real concurrency (PostgreSQL only): four
incident managers pressing at once make one broadcast, answered 201 to one of them and 200
with the same broadcast to the three others."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from integrations.adapters import stub_effects
from tests import factories
from tests.api.conftest import client_for
from tests.factories import CustomerFactory, ServiceFactory
from tests.tickets.test_concurrency_pg import at_once, outcomes, sites  # noqa: F401 - a fixture
from tickets import services
from tickets.models import Broadcast, MessageTemplate

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def no_quiet_hours(settings, sites):  # noqa: F811 - pytest passes the imported fixture
    settings.TIER2_MESSAGE_QUIET_HOURS = ""
    stub_effects().clear()


def test_four_managers_starting_a_broadcast_at_once_get_one_201_and_three_200(monkeypatch):
    MessageTemplate.objects.create(event="gamas_opened", channel="sms", text_id="Gangguan {area}")
    incident = factories.open_gamas()
    for number in range(3):
        person = CustomerFactory(phone=f"0812{number:08d}")
        factories.arrive("gamas", service=ServiceFactory(customer=person, odp=incident.area_code))
    people = [factories.role_user("Supervisor") for _ in range(2)]
    people += [factories.role_user("Support") for _ in range(2)]

    started = services.start_broadcast

    def slow_start(**kwargs):  # every request has looked before any has started: the race
        time.sleep(0.3)
        return started(**kwargs)

    monkeypatch.setattr(services, "start_broadcast", slow_start)
    url = f"/api/gamas-incidents/{incident.pk}/broadcasts/"
    clients = [client_for(who) for who in people]
    for client in clients:  # each client's handler loads the middleware once, not in a race
        assert client.get(url).json() == []
    results = at_once([lambda client=client: client.post(url) for client in clients])

    assert outcomes(results) == Counter(ok=4), results
    answers = [response for _kind, response in results]
    assert Counter(response.status_code for response in answers) == Counter({201: 1, 200: 3})
    assert len({response.json()["id"] for response in answers}) == 1
    [broadcast] = Broadcast.objects.filter(incident=incident)
    assert (broadcast.event, broadcast.total) == ("gamas_opened", 3)
