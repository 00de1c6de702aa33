"""Dispatch keeps one holder per ticket under real concurrency (PostgreSQL only): dispatch runs
racing each other, an accept racing the time-out, a double-clicked accept, a pin racing an
accept. Threads start together, each on its own connection (tests/tickets/test_concurrency_pg)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from tests import factories
from tests.tickets.test_concurrency_pg import at_once, outcomes, sites  # noqa: F401 - a fixture
from tickets import services
from tickets.exceptions import TransitionNotAllowed
from tickets.models import (
    AgentProfile,
    Availability,
    DispatchMode,
    Offer,
    OfferStatus,
    Site,
    Ticket,
    TransitionLog,
)
from tickets.services import dispatch

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def push_sites(sites, dispatch_mode):  # noqa: F811 - pytest passes the imported fixture
    dispatch_mode("PST", DispatchMode.PUSH)


def agents(count: int, capacity: int):
    people = [factories.agent_for("nossa") for _ in range(count)]
    AgentProfile.objects.filter(user__in=people).update(
        availability=Availability.AVAILABLE, capacity=capacity
    )
    return people


def site_id() -> int:
    return Site.objects.get(code="PST").pk


def test_dispatch_runs_at_once_never_hand_out_a_ticket_or_a_free_place_twice():
    tickets = [factories.flow_ticket("nossa") for _ in range(20)]
    people = agents(4, capacity=3)

    results = at_once([lambda: dispatch.dispatch_site(site_id()) for _ in range(4)])

    assert outcomes(results) == Counter(ok=4)
    assert sum(result.offered for _kind, result in results) == 12  # 4 agents x 3 places
    offers = Offer.objects.filter(status=OfferStatus.PENDING)
    assert offers.count() == 12
    assert len(set(offers.values_list("ticket_id", flat=True))) == 12  # one per ticket
    per_agent = Counter(offers.values_list("agent_id", flat=True))
    assert per_agent == Counter({person.pk: 3 for person in people})
    reserved = Ticket.objects.filter(pk__in=[t.pk for t in tickets], offered_to__isnull=False)
    assert reserved.count() == 12 and not reserved.filter(awaiting_agent=True).exists()


def test_an_accept_racing_the_time_out_has_one_outcome():
    (agent,) = agents(1, capacity=1)
    ticket = factories.flow_ticket("nossa")
    dispatch.dispatch_site(site_id())
    offer = Offer.objects.get(ticket=ticket)
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() + timedelta(seconds=1))
    deadline = Offer.objects.get(pk=offer.pk).expires_at

    results = at_once(
        [
            lambda: services.accept_offer(offer_id=offer.pk, agent=agent),
            lambda: services.expire_offers(now=deadline),
        ]
    )

    offer.refresh_from_db()
    row = Ticket.objects.get(pk=ticket.pk)
    accepted, expired = results
    if offer.status == OfferStatus.ACCEPTED:
        assert accepted[0] == "ok" and expired == ("ok", 0)
        assert (row.assignee_id, row.offered_to_id) == (agent.pk, None)
    else:
        assert offer.status == OfferStatus.EXPIRED
        assert expired == ("ok", 1) and isinstance(accepted[1], services.OfferClosed)
        assert (row.assignee_id, row.offered_to_id, row.awaiting_agent) == (None, None, True)


def test_a_double_clicked_accept_claims_once():
    (agent,) = agents(1, capacity=1)
    ticket = factories.flow_ticket("nossa")
    dispatch.dispatch_site(site_id())
    offer = Offer.objects.get(ticket=ticket)

    results = at_once([lambda: services.accept_offer(offer_id=offer.pk, agent=agent)] * 2)

    assert outcomes(results) == Counter(ok=1, OfferClosed=1)
    assert TransitionLog.objects.filter(ticket=ticket, transition="claim").count() == 1
    assert Ticket.objects.get(pk=ticket.pk).assignee_id == agent.pk


def test_a_pin_racing_an_accept_leaves_one_consistent_holder(monkeypatch):
    first, second = agents(2, capacity=1)
    boss = factories.role_user("Supervisor")
    ticket = factories.flow_ticket("nossa")
    dispatch.dispatch_site(site_id())
    # Only the race itself: the dispatch a committed pin asks for (run at once, Celery being
    # eager here) would offer the ticket to the pinned agent straight after.
    monkeypatch.setattr(dispatch, "request_dispatch", lambda site_id: None)
    offer = Offer.objects.get(ticket=ticket, status=OfferStatus.PENDING)
    offered, other = (first, second) if offer.agent_id == first.pk else (second, first)

    results = at_once(
        [
            lambda: services.accept_offer(offer_id=offer.pk, agent=offered),
            lambda: services.pin_ticket(ticket_id=ticket.pk, agent=other, supervisor=boss),
        ]
    )

    row = Ticket.objects.get(pk=ticket.pk)
    offer.refresh_from_db()
    if offer.status == OfferStatus.ACCEPTED:  # the accept came first: a held ticket is not pinned
        assert results[0][0] == "ok"
        assert isinstance(results[1][1], TransitionNotAllowed)
        assert (row.assignee_id, row.pinned_to_id) == (offered.pk, None)
    else:  # the pin came first: the offer was withdrawn and the accept refused
        assert offer.status == OfferStatus.WITHDRAWN
        assert results[1][0] == "ok" and isinstance(results[0][1], services.OfferClosed)
        assert (row.assignee_id, row.pinned_to_id, row.offered_to_id) == (None, other.pk, None)
    assert Offer.objects.filter(ticket=ticket, status=OfferStatus.PENDING).count() == 0
