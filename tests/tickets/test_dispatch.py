"""Dispatch (push): who gets an offer, answers, time-outs, pins, availability and capacity.

Expected agents and counts are worked out by hand in each test from the rule in
docs/dispatch.md: the most urgent waiting ticket first, to the available agent of its site and
flow with free capacity who was given a ticket least recently (never given: first; then by
user id), never back to an agent who declined it or let its offer run out.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from tests import factories
from tickets import services
from tickets.exceptions import (
    InvalidInput,
    NoTicketAvailable,
    TransitionForbidden,
    TransitionNotAllowed,
)
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

pytestmark = pytest.mark.django_db

T0 = timezone.make_aware(timezone.datetime(2026, 6, 1, 9, 0))


@pytest.fixture(autouse=True)
def push_at_pusat(dispatch_mode):
    dispatch_mode("PST", DispatchMode.PUSH, offer_seconds=60)


def pusat():
    return Site.objects.get(code="PST")


def available(name: str, *, flows=("nossa",), site="PST", last=None, capacity=3):
    agent = factories.agent(site_code=site, flows=flows, username=name)
    AgentProfile.objects.filter(user=agent).update(
        availability=Availability.AVAILABLE, last_assigned_at=last, capacity=capacity
    )
    return agent


def waiting(flow="nossa", *, minutes_to_claim=60, site="PST"):
    """A waiting ticket whose claim-by is this many minutes after T0 (its urgency)."""
    ticket = factories.flow_ticket(flow, site_code=site)
    Ticket.objects.filter(pk=ticket.pk).update(
        claim_by=T0 + timedelta(minutes=minutes_to_claim), created_at=T0
    )
    return ticket


def offered_to(ticket) -> str | None:
    offer = Offer.objects.filter(ticket=ticket, status=OfferStatus.PENDING).first()
    return offer.agent.username if offer else None


def pending(ticket) -> Offer:
    return Offer.objects.get(ticket=ticket, status=OfferStatus.PENDING)


def run():
    return dispatch.dispatch_site(pusat().pk)


# --- Who gets the offer ----------------------------------------------------------------------
def test_the_most_urgent_ticket_goes_to_the_agent_given_a_ticket_least_recently():
    available("ani", last=T0 - timedelta(minutes=5))
    available("budi", last=None)  # never given one: first
    available("citra", last=T0 - timedelta(minutes=30))
    later = waiting(minutes_to_claim=90)
    sooner = waiting(minutes_to_claim=30)
    middle = waiting(minutes_to_claim=60)

    result = run()

    # urgency: sooner (30), middle (60), later (90); agents: budi (never), citra (-30), ani (-5)
    assert (result.offered, result.waiting) == (3, 0)
    assert [offered_to(t) for t in (sooner, middle, later)] == ["budi", "citra", "ani"]
    for ticket in (sooner, middle, later):
        row = Ticket.objects.get(pk=ticket.pk)
        assert (row.awaiting_agent, row.assignee_id) == (False, None)  # out of the pull queue
        assert row.offered_to.username == offered_to(ticket)


def test_equal_agents_take_turns_and_ties_go_to_the_lower_user_id():
    first, second = available("dewi"), available("eko")
    assert first.pk < second.pk
    tickets = [waiting(minutes_to_claim=m) for m in (10, 20, 30, 40)]
    run()
    # neither was given one: dewi (lower id), then eko; then dewi, given one before eko was
    assert [offered_to(t) for t in tickets] == ["dewi", "eko", "dewi", "eko"]


def test_only_skilled_available_agents_of_the_site_with_room_get_offers():
    available("fajar", flows=("callback",))  # another flow
    available("gita", site="MLG")  # another site
    on_break = available("hadi")
    services.set_availability(user=on_break, availability=Availability.BREAK)
    full = available("indah", capacity=1)
    held = waiting(minutes_to_claim=5)
    Ticket.objects.filter(pk=held.pk).update(assignee=full, awaiting_agent=False)
    ticket = waiting()

    assert run().offered == 0
    assert offered_to(ticket) is None
    assert Ticket.objects.get(pk=ticket.pk).awaiting_agent is True

    available("joko")
    run()
    assert offered_to(ticket) == "joko"


def test_a_flow_limit_holds_below_the_capacity():
    agent = available("kartika", flows=("nossa", "callback"), capacity=5)
    services.set_capacity(
        agent=agent,
        capacity=5,
        flow_capacity={"nossa": 1},
        supervisor=factories.role_user("Supervisor"),
    )
    nossa = [waiting("nossa", minutes_to_claim=m) for m in (1, 2)]
    callback = waiting("callback", minutes_to_claim=3)
    run()
    # nossa limit 1: the first NOSSA ticket and the Callback ticket, not the second NOSSA one
    assert [offered_to(t) for t in (*nossa, callback)] == ["kartika", None, "kartika"]


def test_a_pull_site_gets_no_offers():
    factories.dispatch_at("PST", DispatchMode.PULL)
    available("lina")
    ticket = waiting()
    assert run().offered == 0
    assert offered_to(ticket) is None


# --- Answers ---------------------------------------------------------------------------------
def test_accepting_makes_the_ticket_the_agents_as_a_claim():
    agent = available("maya")
    ticket = waiting()
    run()
    taken = services.accept_offer(offer_id=pending(ticket).pk, agent=agent)

    row = Ticket.objects.get(pk=taken.pk)
    assert (row.assignee_id, row.state, row.offered_to_id, row.awaiting_agent) == (
        agent.pk,
        "claimed",
        None,
        False,
    )
    assert Offer.objects.get(ticket=ticket).status == OfferStatus.ACCEPTED
    assert list(
        TransitionLog.objects.filter(ticket=ticket)
        .order_by("pk")
        .values_list("transition", flat=True)
    )[-2:] == ["offer", "claim"]


def test_a_decline_goes_to_the_next_agent_and_never_back():
    nina = available("nina")
    available("oki", last=T0)  # nina (never given) first, oki next
    ticket = waiting()
    run()
    assert offered_to(ticket) == "nina"

    services.decline_offer(offer_id=pending(ticket).pk, agent=nina, reason="on a long call")
    assert offered_to(ticket) is None
    assert Ticket.objects.get(pk=ticket.pk).awaiting_agent is True
    run()
    assert offered_to(ticket) == "oki"

    services.decline_offer(offer_id=pending(ticket).pk, agent=AgentProfile.objects.get(
        agent_code="oki").user)  # fmt: skip
    run()
    assert offered_to(ticket) is None  # both declined it: it waits for a pin or a new agent
    log = TransitionLog.objects.filter(ticket=ticket, transition="offer_declined")
    assert [(entry.actor.username, entry.note) for entry in log.order_by("pk")] == [
        ("nina", "on a long call"),
        ("oki", ""),
    ]


def test_an_offer_not_answered_in_time_expires_and_moves_on():
    slow = available("putri")
    available("rudi", last=T0)
    ticket = waiting()
    run()
    offer = pending(ticket)
    assert (offer.agent, offer.expires_at - offer.offered_at) == (slow, timedelta(seconds=60))

    assert services.expire_offers(now=offer.expires_at - timedelta(seconds=1)) == 0
    assert services.expire_offers(now=offer.expires_at) == 1
    run()
    assert offered_to(ticket) == "rudi"
    assert TransitionLog.objects.filter(ticket=ticket, transition="offer_expired").count() == 1


def test_accepting_too_late_is_refused_and_the_offer_stays_expired():
    agent = available("sari")
    ticket = waiting()
    run()
    offer = pending(ticket)
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    with pytest.raises(services.OfferClosed, match="run out"):
        services.accept_offer(offer_id=offer.pk, agent=agent)
    offer.refresh_from_db()
    assert offer.status == OfferStatus.EXPIRED
    row = Ticket.objects.get(pk=ticket.pk)
    assert (row.assignee_id, row.offered_to_id, row.awaiting_agent) == (None, None, True)
    with pytest.raises(services.OfferClosed, match="already ended"):
        services.accept_offer(offer_id=offer.pk, agent=agent)


def test_only_the_offered_agent_answers_and_others_cannot_take_the_ticket():
    agent = available("tono")
    other = factories.agent(site_code="PST", flows=("nossa",), username="umar")
    ticket = waiting()
    run()
    offer = pending(ticket)
    with pytest.raises(TransitionForbidden):
        services.accept_offer(offer_id=offer.pk, agent=other)
    with pytest.raises(TransitionForbidden):
        services.decline_offer(offer_id=offer.pk, agent=other)
    with pytest.raises(TransitionNotAllowed, match="offered to another agent"):
        services.claim_ticket(ticket_id=ticket.pk, agent=other)
    # the offered agent taking it from the ticket's page accepts the offer
    services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    assert Offer.objects.get(pk=offer.pk).status == OfferStatus.ACCEPTED
    assert Ticket.objects.get(pk=ticket.pk).assignee_id == agent.pk


# --- Pull beside push --------------------------------------------------------------------------
def test_a_push_only_site_refuses_pulling_and_both_skips_offered_tickets():
    puller = factories.agent(site_code="PST", flows=("nossa",), username="vina")
    offered, free = waiting(minutes_to_claim=1), waiting(minutes_to_claim=2)
    with pytest.raises(NoTicketAvailable, match="offered to agents"):
        services.claim_next_ticket(agent=puller)

    factories.dispatch_at("PST", DispatchMode.BOTH)
    available("wati", capacity=1)
    run()
    puller = type(puller).objects.get(pk=puller.pk)  # a new request reads the site again
    assert offered_to(offered) == "wati" and offered_to(free) is None
    taken = services.claim_next_ticket(agent=puller)
    assert taken.pk == free.pk  # the more urgent one is reserved for wati


# --- Pins ----------------------------------------------------------------------------------------
def test_a_pinned_ticket_is_offered_to_its_agent_only():
    boss = factories.role_user("Supervisor")
    available("yanti")  # first by the rule
    zaki = available("zaki", last=T0)
    ticket = waiting()
    run()
    assert offered_to(ticket) == "yanti"

    services.pin_ticket(ticket_id=ticket.pk, agent=zaki, supervisor=boss, note="knows the area")
    assert Offer.objects.get(ticket=ticket, agent__username="yanti").status == "withdrawn"
    run()
    assert offered_to(ticket) == "zaki"
    assert pending(ticket).pinned is True
    other = factories.agent(site_code="PST", flows=("nossa",), username="adi")
    with pytest.raises((TransitionForbidden, TransitionNotAllowed)):
        services.claim_ticket(ticket_id=ticket.pk, agent=other)


def test_pins_are_refused_for_the_wrong_agent_or_a_held_ticket():
    boss = factories.role_user("Supervisor")
    callback_agent = available("bayu", flows=("callback",))
    ticket = waiting()
    with pytest.raises(InvalidInput) as refused:
        services.pin_ticket(ticket_id=ticket.pk, agent=callback_agent, supervisor=boss)
    assert "agent" in refused.value.errors
    with pytest.raises(TransitionForbidden):
        services.pin_ticket(ticket_id=ticket.pk, agent=None, supervisor=callback_agent)
    assert Ticket.objects.get(pk=ticket.pk).pinned_to_id is None


# --- Availability and capacity -----------------------------------------------------------------
def test_leaving_available_withdraws_waiting_offers_to_the_next_agent():
    cici = available("cici")
    available("dodi", last=T0)
    ticket = waiting()
    run()
    assert offered_to(ticket) == "cici"
    services.set_availability(user=cici, availability=Availability.TRAINING)
    assert Offer.objects.get(ticket=ticket, agent=cici).status == OfferStatus.WITHDRAWN
    run()
    assert offered_to(ticket) == "dodi"


def test_an_agent_idle_past_the_limit_goes_offline(settings):
    settings.TIER2_DISPATCH_IDLE_MINUTES = 15
    now = timezone.now()
    idle, busy = available("eva"), available("fani")
    AgentProfile.objects.filter(user=idle).update(last_seen_at=now - timedelta(minutes=16))
    AgentProfile.objects.filter(user=busy).update(last_seen_at=now - timedelta(minutes=14))
    assert dispatch.end_idle_availability(now=now) == 1
    states = dict(AgentProfile.objects.values_list("user__username", "availability"))
    assert (states["eva"], states["fani"]) == ("offline", "available")


def test_signing_in_and_using_the_console_count_as_seen(client):
    agent = available("gilang")
    client.post("/login/", {"username": "gilang", "password": "secret-pass-123"})
    signed_in = AgentProfile.objects.get(user=agent).last_seen_at
    assert signed_in is not None

    session = client.session
    session["tier2_seen"] -= 61  # the last tick was over a minute ago
    session.save()
    AgentProfile.objects.filter(user=agent).update(last_seen_at=signed_in - timedelta(minutes=5))
    assert client.get("/queues/").status_code == 200
    assert AgentProfile.objects.get(user=agent).last_seen_at > signed_in


@pytest.mark.parametrize(
    ("capacity", "limits", "field"),
    [
        (0, {}, "capacity"),
        (51, {}, "capacity"),
        ("3", {}, "capacity"),
        (3, {"nossa": 0}, "flow_capacity"),
        (3, {"no_such_flow": 1}, "flow_capacity"),
        (3, ["nossa"], "flow_capacity"),
    ],
)
def test_bad_capacities_are_refused_with_field_messages_and_change_nothing(capacity, limits, field):
    agent = available("hana", capacity=3)
    with pytest.raises(InvalidInput) as refused:
        services.set_capacity(
            agent=agent,
            capacity=capacity,
            flow_capacity=limits,
            supervisor=factories.role_user("Supervisor"),
        )
    assert field in refused.value.errors
    profile = AgentProfile.objects.get(user=agent)
    assert (profile.capacity, profile.flow_capacity) == (3, {})


def test_availability_is_an_agents_own_or_a_supervisors_change():
    agent, other = available("ika"), available("jaka")
    with pytest.raises(TransitionForbidden):
        services.set_availability(user=agent, availability=Availability.BREAK, actor=other)
    with pytest.raises(InvalidInput):
        services.set_availability(user=agent, availability="asleep")
    services.set_availability(
        user=agent, availability=Availability.BREAK, actor=factories.role_user("Supervisor")
    )
    assert AgentProfile.objects.get(user=agent).availability == "break"


# --- Fair shares ---------------------------------------------------------------------------------
def test_equal_agents_accepting_at_once_share_the_tickets_within_one():
    agents = [available(f"share-{n}", capacity=50) for n in range(7)]
    tickets = [waiting(minutes_to_claim=m) for m in range(1, 301)]
    while True:
        if run().offered == 0:
            break
        for offer in Offer.objects.filter(status=OfferStatus.PENDING).select_related("agent"):
            services.accept_offer(offer_id=offer.pk, agent=offer.agent)
    counts = sorted(
        Ticket.objects.filter(assignee__in=agents)
        .values("assignee")
        .annotate(n=Count("pk"))
        .values_list("n", flat=True)
    )
    # 300 tickets over 7 agents: 300 = 7 x 42 + 6, so six agents take 43 and one takes 42
    assert counts == [42, 43, 43, 43, 43, 43, 43]
    assert Ticket.objects.filter(pk__in=[t.pk for t in tickets], assignee__isnull=True).count() == 0


def test_a_supervisors_reassign_withdraws_the_offer_and_frees_the_offered_agent():
    offered = available("kiki")
    other = factories.agent(site_code="PST", flows=("nossa",), username="lala")
    ticket = waiting()
    run()
    offer = pending(ticket)
    services.reassign_ticket(
        ticket_id=ticket.pk, supervisor=factories.role_user("Supervisor"), agent=other
    )
    offer.refresh_from_db()
    assert (offer.status, offer.reason) == (OfferStatus.WITHDRAWN, "given to another agent")
    row = Ticket.objects.get(pk=ticket.pk)
    assert (row.assignee_id, row.offered_to_id) == (other.pk, None)
    assert dispatch.candidates(pusat())[offered.pk].held == 0


def test_the_sweep_withdraws_an_offer_whose_ticket_closed_meanwhile():
    available("mimi")
    ticket = waiting()
    run()
    offer = pending(ticket)
    Ticket.objects.filter(pk=ticket.pk).update(closed_at=timezone.now(), state="closed")
    assert services.expire_offers(now=offer.offered_at) == 1  # not overdue, but stale
    offer.refresh_from_db()
    assert (offer.status, offer.reason) == (OfferStatus.WITHDRAWN, "no longer waiting")


# --- Agents read a page at a time (`dispatch.Pool`) ------------------------------------------
# The pages must not change who gets what: with pages of one or two agents the offers are the
# ones the rule gives when every agent is read at once.
@pytest.fixture(params=[1, 2], ids=["page-of-1", "page-of-2"])
def small_pages(request, monkeypatch):
    monkeypatch.setattr(dispatch, "PAGE", request.param)
    return request.param


def test_pages_keep_the_order_across_never_given_and_given_agents(small_pages):
    available("gita", last=T0 - timedelta(minutes=10))
    available("hadi", last=None)
    available("intan", last=T0 - timedelta(minutes=40))
    available("joko", last=None)
    tickets = [waiting(minutes_to_claim=m) for m in (10, 20, 30, 40, 50, 60)]

    run()

    # never given first, by user id: hadi, joko; then intan (-40), gita (-10); each then given
    # one in this run, in that order, so the fifth and sixth go to hadi and joko again
    assert [offered_to(t) for t in tickets] == ["hadi", "joko", "intan", "gita", "hadi", "joko"]


def test_pages_skip_full_agents_other_flows_and_declined_ones(small_pages):
    full = available("kurnia", last=None, capacity=1)
    held = waiting(minutes_to_claim=5)
    Ticket.objects.filter(pk=held.pk).update(assignee=full, awaiting_agent=False)  # now full
    available("lina", last=None, flows=("callback",))  # another flow
    decliner = available("maya", last=T0 - timedelta(minutes=50))
    available("nanda", last=T0 - timedelta(minutes=20))
    ticket = waiting(minutes_to_claim=10)
    run()
    assert offered_to(ticket) == "maya"  # kurnia full, lina on callback, maya before nanda
    services.decline_offer(offer_id=pending(ticket).pk, agent=decliner)
    run()
    assert offered_to(ticket) == "nanda"  # never back to maya


def test_a_pinned_agent_past_the_first_page_gets_the_ticket(small_pages):
    available("oki", last=None)
    available("putri", last=None)
    pinned_to = available("rudi", last=T0)  # last of the order: not on the first page
    ticket = waiting(minutes_to_claim=10)
    other = waiting(minutes_to_claim=20)
    services.pin_ticket(
        ticket_id=ticket.pk, agent=pinned_to, supervisor=factories.role_user("Supervisor")
    )
    run()
    assert (offered_to(ticket), offered_to(other)) == ("rudi", "oki")


def test_an_available_user_no_longer_an_agent_gets_no_offer(small_pages):
    former = available("sari", last=None)
    available("tono", last=T0)
    former.groups.clear()  # the role is gone: sari goes offline with it
    ticket = waiting()
    run()
    assert offered_to(ticket) == "tono"
    assert AgentProfile.objects.get(user=former).availability == Availability.OFFLINE


# --- Only agents are available ---------------------------------------------------------------
def test_losing_the_role_withdraws_the_offer_and_goes_offline():
    from django.contrib.auth.models import Group

    ani = available("ani")
    ticket = waiting()
    run()
    offer = pending(ticket)
    Group.objects.get(name="Agent").user_set.remove(ani)  # from the group's side
    offer.refresh_from_db()
    assert (offer.status, offer.reason) == (OfferStatus.WITHDRAWN, "no longer an agent")
    assert AgentProfile.objects.get(user=ani).availability == Availability.OFFLINE
    assert Ticket.objects.get(pk=ticket.pk).offered_to_id is None


def test_a_deactivated_agent_goes_offline():
    budi = available("budi")
    budi.is_active = False
    budi.save()
    assert AgentProfile.objects.get(user=budi).availability == Availability.OFFLINE


def test_a_role_that_stops_working_tickets_takes_its_members_offline():
    from django.contrib.auth.models import Group, Permission

    citra = available("citra")
    work = Permission.objects.get(codename="work_ticket")
    Group.objects.get(name="Agent").permissions.remove(work)
    assert AgentProfile.objects.get(user=citra).availability == Availability.OFFLINE


def test_the_sweep_takes_offline_an_available_profile_without_the_role():
    dewi = available("dewi")
    dewi.groups.clear()  # offline now; then made available behind the services' back:
    AgentProfile.objects.filter(user=dewi).update(availability=Availability.AVAILABLE)
    assert dispatch.sweep()["idle"] == 1
    assert AgentProfile.objects.get(user=dewi).availability == Availability.OFFLINE


def test_pages_break_ties_of_the_same_time_by_user_id(small_pages):
    same = T0 - timedelta(minutes=10)
    available("umar", last=same)
    available("vina", last=same)
    available("wawan", last=T0 - timedelta(minutes=20))
    available("yanti", last=same)
    tickets = [waiting(minutes_to_claim=m) for m in (10, 20, 30, 40)]
    run()
    # wawan (-20) first; then the three given at the same time, by user id
    assert [offered_to(t) for t in tickets] == ["wawan", "umar", "vina", "yanti"]


def test_the_pages_count_an_agents_load_as_the_agents_page_does():
    """Dispatch reads the load with its own SQL (`PAGE_SQL`), the agents page with
    `AgentProfile.with_load`: the same numbers. Hand-set: umar holds 2 open tickets and 1 closed
    one, and has 1 open ticket offered to him and 1 closed one; vera holds 1; wati nothing."""
    umar = available("umar", last=None, capacity=9)
    vera = available("vera", last=None, capacity=9)
    available("wati", last=None, capacity=9)
    loads = {"umar": (2, 1), "vera": (1, 0), "wati": (0, 0)}
    for _ in range(2):
        Ticket.objects.filter(pk=waiting().pk).update(assignee=umar, awaiting_agent=False)
    Ticket.objects.filter(pk=waiting().pk).update(assignee=umar, closed_at=T0, state="closed")
    Ticket.objects.filter(pk=waiting().pk).update(offered_to=umar)
    Ticket.objects.filter(pk=waiting().pk).update(offered_to=umar, closed_at=T0, state="closed")
    Ticket.objects.filter(pk=waiting().pk).update(assignee=vera, awaiting_agent=False)

    pool = dispatch.Pool(pusat(), page=10)
    pool.read_page()
    by_name = {
        AgentProfile.objects.get(user_id=user_id).user.username: row.held
        for user_id, row in pool.agents.items()
    }
    profiles = AgentProfile.objects.with_load().filter(user__username__in=loads)
    shown = {p.user.username: (p.held, p.offers_waiting) for p in profiles.select_related("user")}

    assert shown == loads
    assert by_name == {"umar": 3, "vera": 1, "wati": 0}  # held and offered, against capacity
