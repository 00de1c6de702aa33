"""The arrival and claim rules of `tickets.services`: the one door for every ticket write.

Arrival: Fresh Lapul detection, gamas linking and recovery, idempotent source references.
Claiming: the "next ticket" order and queues, one agent per ticket, release and reassignment.
Records: escalations to Support and their answers, contact attempts, stale expected states,
and how many queries a plain transition costs.
"""

import contextlib
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from integrations import hub
from tests import factories
from tickets import services
from tickets.exceptions import (
    ConcurrentChange,
    ConditionNotMet,
    InvalidInput,
    NoTicketAvailable,
    TicketAlreadyClaimed,
    TicketError,
    TransitionForbidden,
    TransitionNotAllowed,
)
from tickets.models import (
    ContactAttempt,
    Escalation,
    EscalationStatus,
    GamasIncident,
    Priority,
    Ticket,
    TransitionLog,
)
from tickets.services import dispatch

pytestmark = pytest.mark.django_db


def closed_days_ago(flow: str, days: float) -> Ticket:
    """A ticket of `flow` worked to closed, its close moved `days` into the past."""
    scene = factories.flow_scene(flow)
    scene.walk_to("closed")
    Ticket.objects.filter(pk=scene.ticket.pk).update(
        closed_at=timezone.now() - timedelta(days=days)
    )
    return factories.reload(scene.ticket)


def claim_window(ticket) -> timedelta:
    return ticket.claim_by - ticket.created_at


def log_rows(ticket) -> list[tuple]:
    return list(
        TransitionLog.objects.filter(ticket_id=ticket.pk)
        .order_by("pk")
        .values_list("transition", "from_state", "to_state")
    )


# --- Fresh Lapul (lapor ulang) ------------------------------------------------------------------
@pytest.mark.parametrize("flow", ["nossa", "callback"])
def test_fault_report_on_a_service_closed_within_the_lapul_window_becomes_fresh_lapul(flow):
    previous = closed_days_ago("nossa", days=5)
    plain = factories.flow_ticket("nossa")  # the same report on a service with no history

    ticket = factories.arrive(flow, service=previous.service, priority=Priority.NORMAL)

    assert ticket.flow == "fresh_lapul"
    assert ticket.state == "new"
    assert ticket.previous_ticket_id == previous.pk
    assert ticket.priority == Priority.HIGH  # one step up from normal
    assert claim_window(ticket) < claim_window(plain)  # the tighter SLA
    assert ticket.awaiting_agent
    arrival = TransitionLog.objects.get(ticket_id=ticket.pk)
    assert (arrival.transition, arrival.data) == ("arrive", {"previous_ticket": previous.pk})


def test_fresh_lapul_keeps_the_restoration_guarantee_of_the_first_report():
    previous = closed_days_ago("nossa", days=2)
    ticket = factories.arrive("nossa", service=previous.service)
    assert ticket.flow == "fresh_lapul"
    assert ticket.slg_due == previous.slg_due


def test_report_outside_the_lapul_window_stays_an_ordinary_nossa_ticket():
    window = 30
    previous = closed_days_ago("nossa", days=window + 1)
    ticket = factories.arrive("nossa", service=previous.service, priority=Priority.NORMAL)
    assert ticket.flow == "nossa"
    assert ticket.previous_ticket_id is None
    assert ticket.priority == Priority.NORMAL


@override_settings(TIER2_LAPUL_WINDOW_DAYS=7)
@pytest.mark.parametrize(("days", "flow"), [(6, "fresh_lapul"), (8, "nossa")])
def test_lapul_window_is_the_setting(days, flow):
    previous = closed_days_ago("callback", days=days)
    assert factories.arrive("nossa", service=previous.service).flow == flow


def test_critical_report_stays_critical_when_it_becomes_fresh_lapul():
    previous = closed_days_ago("nossa", days=1)
    ticket = factories.arrive("nossa", service=previous.service, priority=Priority.CRITICAL)
    assert (ticket.flow, ticket.priority) == ("fresh_lapul", Priority.CRITICAL)


def test_open_earlier_ticket_does_not_make_a_fresh_lapul():
    earlier = factories.flow_ticket("nossa")
    ticket = factories.arrive("nossa", service=earlier.service)
    assert ticket.flow == "nossa"


@pytest.mark.parametrize("flow", ["c4_caring", "ideas"])
def test_campaign_calls_are_not_lapul_reports(flow):
    previous = closed_days_ago("nossa", days=1)
    ticket = factories.arrive(flow, service=previous.service)
    assert ticket.flow == flow
    assert ticket.previous_ticket_id is None


def test_closed_campaign_ticket_does_not_make_a_nossa_report_a_fresh_lapul():
    campaign_call = closed_days_ago("ideas", days=1)
    ticket = factories.arrive("nossa", service=campaign_call.service)
    assert ticket.flow == "nossa"


# --- Gamas: linking, recovery, closing -----------------------------------------------------------
def area_service(code: str = "T1"):
    return factories.service_at("PST", sto=f"STO-{code}", olt=f"OLT-{code}", odp=f"ODP-{code}")


@pytest.mark.parametrize("level", ["odp", "olt", "sto"])
def test_gamas_report_inside_an_open_incidents_area_is_linked_and_waits(level, supervisor):
    service = area_service()
    incident = factories.open_gamas(
        actor=supervisor, area_level=level, area_code=getattr(service, level)
    )

    ticket = factories.arrive("gamas", service=service)

    assert ticket.gamas_incident_id == incident.pk
    assert ticket.state == "waiting_recovery"
    assert ticket.assignee_id is None
    assert not ticket.awaiting_agent
    assert log_rows(ticket) == [
        ("arrive", "", "new"),
        ("link", "new", "linked"),
        ("await_recovery", "linked", "waiting_recovery"),
    ]


def test_gamas_report_is_linked_to_the_incident_of_the_narrowest_area(supervisor):
    service = area_service()
    factories.open_gamas(actor=supervisor, area_level="sto", area_code=service.sto)
    odp = factories.open_gamas(actor=supervisor, area_level="odp", area_code=service.odp)
    factories.open_gamas(actor=supervisor, area_level="olt", area_code=service.olt)
    assert factories.arrive("gamas", service=service).gamas_incident_id == odp.pk


def test_gamas_report_outside_any_open_incident_waits_for_an_agent(supervisor):
    factories.open_gamas(actor=supervisor, area_level="odp", area_code="ODP-ELSEWHERE")
    ticket = factories.arrive("gamas", service=area_service())
    assert (ticket.state, ticket.gamas_incident_id, ticket.awaiting_agent) == ("new", None, True)


def test_gamas_report_is_not_linked_to_a_recovered_incident(supervisor):
    service = area_service()
    incident = factories.open_gamas(actor=supervisor, area_code=service.odp)
    services.transition_incident(incident_id=incident.pk, name="recover", actor=supervisor)
    ticket = factories.arrive("gamas", service=service)
    assert (ticket.state, ticket.gamas_incident_id) == ("new", None)


def test_opening_an_incident_links_the_waiting_reports_of_its_area(supervisor):
    inside = [factories.arrive("gamas", service=area_service()) for _ in range(2)]
    outside = factories.arrive("gamas", service=area_service("T2"))
    nossa_inside = factories.arrive("nossa", service=area_service())

    incident = factories.open_gamas(actor=supervisor, area_level="olt", area_code="OLT-T1")

    for report in inside:
        report = factories.reload(report)
        assert (report.state, report.gamas_incident_id) == ("waiting_recovery", incident.pk)
        assert not report.awaiting_agent
    assert factories.reload(outside).state == "new"
    assert factories.reload(nossa_inside).gamas_incident_id is None


def waiting_children(incident, count: int, code: str) -> list:
    return [
        factories.arrive("gamas", service=factories.service_at("PST", odp=code))
        for _ in range(count)
    ]


def recover(incident, supervisor, capture):
    with capture(execute=True):  # eager Celery: the fan-out runs after commit
        services.transition_incident(incident_id=incident.pk, name="recover", actor=supervisor)


def test_recovering_an_incident_moves_every_waiting_child_to_verifying(
    supervisor, django_capture_on_commit_callbacks
):
    incident = factories.open_gamas(actor=supervisor, area_code="ODP-FAN")
    children = waiting_children(incident, 3, "ODP-FAN")

    recover(incident, supervisor, django_capture_on_commit_callbacks)

    for child in children:
        child = factories.reload(child)
        assert child.state == "verifying"
        assert child.awaiting_agent  # back in the queue for an agent to verify
        rows = TransitionLog.objects.filter(ticket_id=child.pk, transition="gamas_recovered")
        assert [(r.from_state, r.to_state, r.actor_id) for r in rows] == [
            ("waiting_recovery", "verifying", None)
        ]
        assert child.calls.filter(app="ibooster", operation="connection_status").count() == 1
        assert factories.replay_log(child)[-1] == "verifying"
        # Through the engine, like any transition: the step's evidence clock restarts.
        assert child.state_changed_at == rows[0].at


@override_settings(TIER2_GAMAS_BATCH_SIZE=2)
def test_recovery_fans_out_in_batches_until_no_child_waits(
    supervisor, django_capture_on_commit_callbacks
):
    incident = factories.open_gamas(actor=supervisor, area_code="ODP-BATCH")
    children = waiting_children(incident, 5, "ODP-BATCH")

    recover(incident, supervisor, django_capture_on_commit_callbacks)

    assert {factories.reload(child).state for child in children} == {"verifying"}
    assert TransitionLog.objects.filter(transition="gamas_recovered").count() == 5


def nossa_linked_to(incident):
    scene = factories.flow_scene("nossa")
    scene.walk_to("diagnosing")
    scene.run(
        "link_to_gamas",
        actor=scene.agent,
        inputs={"incident": incident.pk, "note": "Inside the fibre cut"},
    )
    return scene


def test_recovery_moves_a_linked_nossa_ticket_to_verifying_with_its_agent(
    supervisor, django_capture_on_commit_callbacks
):
    incident = factories.open_gamas(actor=supervisor)
    scene = nossa_linked_to(incident)

    recover(incident, supervisor, django_capture_on_commit_callbacks)

    ticket = scene.reload()
    assert ticket.state == "verifying"
    assert ticket.assignee_id == scene.agent.pk
    assert factories.replay_log(ticket)[-1] == "verifying"


def test_recovery_keeps_a_linked_nossa_ticket_held_by_its_agent_out_of_the_queue(
    supervisor, django_capture_on_commit_callbacks
):
    incident = factories.open_gamas(actor=supervisor)
    scene = nossa_linked_to(incident)

    recover(incident, supervisor, django_capture_on_commit_callbacks)

    assert not scene.reload().awaiting_agent
    with pytest.raises(NoTicketAvailable):
        services.claim_next_ticket(agent=scene.other_agent)


def gamas_linked_by_its_agent(supervisor):
    """A gamas report an agent took and linked by hand: it is `linked`, not yet waiting."""
    incident = factories.open_gamas(actor=supervisor)
    scene = factories.flow_scene("gamas")
    scene.hold()
    scene.run("link", actor=scene.agent, inputs={"incident": incident.pk})
    return incident, scene


def assert_not_stranded(ticket):
    """Someone or something still has to move the ticket: an agent's queue or its holder."""
    ticket = factories.reload(ticket)
    assert ticket.state not in ("linked", "waiting_recovery") or ticket.assignee_id, ticket.state


def test_report_linked_by_hand_is_not_stranded_when_its_incident_recovers_first(
    supervisor, django_capture_on_commit_callbacks
):
    incident, scene = gamas_linked_by_its_agent(supervisor)
    recover(incident, supervisor, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True), contextlib.suppress(TicketError):
        scene.run("await_recovery", actor=scene.agent)

    assert_not_stranded(scene.ticket)


def test_released_linked_report_is_not_stranded_by_its_incidents_recovery(
    supervisor, django_capture_on_commit_callbacks
):
    incident, scene = gamas_linked_by_its_agent(supervisor)
    services.release_ticket(ticket_id=scene.ticket.pk, supervisor=supervisor)

    recover(incident, supervisor, django_capture_on_commit_callbacks)

    ticket = scene.reload()
    assert ticket.state == "verifying" or ticket.awaiting_agent, ticket.state


def close_child(child, agent):
    services.claim_ticket(ticket_id=child.pk, agent=agent)
    factories.record_calls(child, agent, "answered")
    factories.set_facts(child, ibooster={"status": "online"})
    services.transition_ticket(
        ticket_id=child.pk,
        name="close_recovered",
        actor=agent,
        inputs={"closing_code": "GAMAS_RECOVERED"},
    )


def test_incident_closes_itself_when_its_last_child_closes(
    supervisor, django_capture_on_commit_callbacks
):
    incident = factories.open_gamas(actor=supervisor, area_code="ODP-LAST")
    first, last = waiting_children(incident, 2, "ODP-LAST")
    recover(incident, supervisor, django_capture_on_commit_callbacks)
    agent = factories.agent_for("gamas")

    close_child(first, agent)
    incident.refresh_from_db()
    assert incident.state == "recovered"

    close_child(last, agent)
    incident.refresh_from_db()
    assert (incident.state, incident.closing_code) == ("closed", "RECOVERED")
    assert incident.closed_at is not None
    closing = TransitionLog.objects.get(incident_id=incident.pk, transition="close")
    assert (closing.from_state, closing.to_state, closing.actor_id) == (
        "recovered",
        "closed",
        None,
    )


def test_closing_an_incident_with_open_children_is_refused(
    supervisor, django_capture_on_commit_callbacks
):
    incident = factories.open_gamas(actor=supervisor, area_code="ODP-OPEN")
    waiting_children(incident, 1, "ODP-OPEN")
    recover(incident, supervisor, django_capture_on_commit_callbacks)

    with pytest.raises(ConditionNotMet):
        services.transition_incident(
            incident_id=incident.pk,
            name="close",
            actor=supervisor,
            inputs={"closing_code": "RECOVERED"},
        )
    assert GamasIncident.objects.get(pk=incident.pk).state == "recovered"


def test_opening_an_incident_is_for_supervisors_and_support(pusat):
    with pytest.raises(TransitionForbidden):
        factories.open_gamas(actor=factories.agent_for("gamas"))
    assert not GamasIncident.objects.exists()


# --- Idempotent arrival -------------------------------------------------------------------------
def test_same_source_reference_arriving_twice_gives_one_ticket(pusat):
    service = factories.service_at("PST")
    first, created = services.create_ticket(
        flow="nossa", service=service, source_system="nossa", source_ref="IN16672489"
    )
    again, created_again = services.create_ticket(
        flow="nossa", service=service, source_system="nossa", source_ref="IN16672489"
    )
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert Ticket.objects.filter(source_ref="IN16672489").count() == 1
    assert log_rows(first) == [("arrive", "", "new")]


def test_same_reference_from_two_source_systems_gives_two_tickets(pusat):
    service = factories.service_at("PST")
    for system in ("nossa", "callback"):
        services.create_ticket(flow=system, service=service, source_system=system, source_ref="R1")
    assert Ticket.objects.filter(source_ref="R1").count() == 2


def test_arrivals_without_a_source_reference_are_never_merged(pusat):
    service = factories.service_at("PST")
    factories.arrive("nossa", service=service)
    factories.arrive("nossa", service=service)
    assert Ticket.objects.filter(service=service).count() == 2


# --- Claiming the next ticket --------------------------------------------------------------------
def waiting_nossa(**fields) -> Ticket:
    ticket = factories.flow_ticket("nossa")
    if fields:
        Ticket.objects.filter(pk=ticket.pk).update(**fields)
    return factories.reload(ticket)


def taken_in_order(agents) -> list[int]:
    return [services.claim_next_ticket(agent=agent).pk for agent in agents]


def test_next_ticket_is_the_one_to_claim_soonest(pusat):
    now = timezone.now()
    late = waiting_nossa(claim_by=now + timedelta(minutes=30), priority=Priority.CRITICAL)
    soon = waiting_nossa(claim_by=now + timedelta(minutes=5), priority=Priority.LOW)
    middle = waiting_nossa(claim_by=now + timedelta(minutes=10), priority=Priority.NORMAL)
    agents = [factories.agent_for("nossa") for _ in range(3)]
    assert taken_in_order(agents) == [soon.pk, middle.pk, late.pk]


def test_next_ticket_with_the_same_claim_by_is_the_more_urgent_one(pusat):
    due = timezone.now() + timedelta(minutes=10)
    normal = waiting_nossa(claim_by=due, priority=Priority.NORMAL)
    critical = waiting_nossa(claim_by=due, priority=Priority.CRITICAL)
    high = waiting_nossa(claim_by=due, priority=Priority.HIGH)
    agents = [factories.agent_for("nossa") for _ in range(3)]
    assert taken_in_order(agents) == [critical.pk, high.pk, normal.pk]


def test_next_ticket_with_the_same_claim_by_and_priority_is_the_oldest(pusat):
    due, now = timezone.now() + timedelta(minutes=10), timezone.now()
    newer = waiting_nossa(claim_by=due, created_at=now - timedelta(minutes=1))
    oldest = waiting_nossa(claim_by=due, created_at=now - timedelta(minutes=9))
    older = waiting_nossa(claim_by=due, created_at=now - timedelta(minutes=5))
    agents = [factories.agent_for("nossa") for _ in range(3)]
    assert taken_in_order(agents) == [oldest.pk, older.pk, newer.pk]


def test_fresh_lapul_is_taken_before_an_older_ordinary_report(pusat):
    plain = factories.flow_ticket("nossa")
    previous = closed_days_ago("nossa", days=3)
    lapul = factories.arrive("nossa", service=previous.service)
    agent = factories.agent(flows=["nossa", "fresh_lapul"], username="both-queues")
    assert taken_in_order([agent]) == [lapul.pk]
    assert factories.reload(plain).awaiting_agent


def test_next_ticket_comes_only_from_the_agents_flows_and_site(pusat):
    factories.flow_ticket("ideas")  # another flow, same site
    factories.flow_ticket("nossa", site_code="MLG")  # same flow, another site
    agent = factories.agent_for("nossa")
    with pytest.raises(NoTicketAvailable):
        services.claim_next_ticket(agent=agent)

    mine = factories.flow_ticket("nossa")
    taken = services.claim_next_ticket(agent=agent)
    assert (taken.pk, taken.state, taken.assignee_id) == (mine.pk, "claimed", agent.pk)
    assert not taken.awaiting_agent


def test_c4_caring_is_taken_only_by_malang_agents(pusat):
    caring = factories.flow_ticket("c4_caring")
    assert caring.site.code == "MLG"
    pusat_agent = factories.agent(site_code="PST", flows=["c4_caring", "nossa"], username="p1")
    with pytest.raises(NoTicketAvailable):
        services.claim_next_ticket(agent=pusat_agent)

    malang_agent = factories.agent_for("c4_caring")
    taken = services.claim_next_ticket(agent=malang_agent)
    assert (taken.pk, taken.state) == (caring.pk, "claimed")


def test_next_ticket_raises_no_ticket_available_when_the_queues_are_empty(pusat):
    with pytest.raises(NoTicketAvailable):
        services.claim_next_ticket(agent=factories.agent_for("nossa"))


def test_agent_without_queues_gets_no_ticket(pusat):
    factories.flow_ticket("nossa")
    idle = factories.agent(flows=[], username="no-queues")
    with pytest.raises(NoTicketAvailable):
        services.claim_next_ticket(agent=idle)


def test_only_agents_take_tickets_from_the_queues(supervisor):
    factories.flow_ticket("nossa")
    with pytest.raises(TransitionForbidden):
        services.claim_next_ticket(agent=supervisor)


def test_claimed_ticket_is_not_offered_again(pusat):
    factories.flow_ticket("nossa")
    services.claim_next_ticket(agent=factories.agent_for("nossa"))
    with pytest.raises(NoTicketAvailable):
        services.claim_next_ticket(agent=factories.agent_for("nossa"))


def test_gamas_report_waiting_for_recovery_is_not_offered(supervisor):
    factories.open_gamas(actor=supervisor, area_code="ODP-Q")
    factories.arrive("gamas", service=factories.service_at("PST", odp="ODP-Q"))
    with pytest.raises(NoTicketAvailable):
        services.claim_next_ticket(agent=factories.agent_for("gamas"))


# --- One agent per ticket ------------------------------------------------------------------------
def test_second_agent_cannot_claim_a_claimed_ticket(pusat):
    ticket = factories.flow_ticket("nossa")
    first, second = factories.agent_for("nossa"), factories.agent_for("nossa")
    services.claim_ticket(ticket_id=ticket.pk, agent=first)
    before = factories.ticket_snapshot(ticket)

    with pytest.raises(TicketAlreadyClaimed):
        services.claim_ticket(ticket_id=ticket.pk, agent=second)

    assert factories.ticket_snapshot(ticket) == before
    assert factories.reload(ticket).assignee_id == first.pk


@pytest.mark.parametrize("flow", ["nossa", "gamas", "c4_caring"])
def test_claiming_ones_own_ticket_again_changes_nothing(flow, pusat):
    ticket = factories.flow_ticket(flow)
    agent = factories.agent_for(flow)
    services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    before = factories.ticket_snapshot(ticket)
    again = services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    assert again.pk == ticket.pk
    assert factories.ticket_snapshot(ticket) == before


def test_ticket_that_waits_on_others_cannot_be_claimed(supervisor):
    incident = factories.open_gamas(actor=supervisor)
    scene = nossa_linked_to(incident)
    services.release_ticket(ticket_id=scene.ticket.pk, supervisor=supervisor)
    assert not scene.reload().awaiting_agent  # linked to a gamas: nothing to do until recovery
    with pytest.raises(TransitionNotAllowed):
        services.claim_ticket(ticket_id=scene.ticket.pk, agent=scene.other_agent)


# --- Release and reassignment --------------------------------------------------------------------
def test_released_ticket_waits_in_the_queue_for_the_next_agent(supervisor):
    scene = factories.flow_scene("nossa")
    scene.walk_to("diagnosing")

    released = services.release_ticket(
        ticket_id=scene.ticket.pk, supervisor=supervisor, note="Shift over"
    )
    assert (released.state, released.assignee_id, released.awaiting_agent) == (
        "diagnosing",
        None,
        True,
    )
    release = TransitionLog.objects.filter(ticket_id=scene.ticket.pk).last()
    assert (release.transition, release.from_state, release.to_state) == (
        "release",
        "diagnosing",
        "diagnosing",
    )
    assert release.data == {"previous_assignee": scene.agent.pk}

    taken = services.claim_next_ticket(agent=scene.other_agent)
    assert (taken.pk, taken.state, taken.assignee_id) == (
        scene.ticket.pk,
        "diagnosing",
        scene.other_agent.pk,
    )
    note = {"note": "Still down"}
    with pytest.raises(TransitionForbidden):
        services.transition_ticket(
            ticket_id=taken.pk, name="escalate_to_field", actor=scene.agent, inputs=note
        )
    services.transition_ticket(
        ticket_id=taken.pk, name="escalate_to_field", actor=scene.other_agent, inputs=note
    )
    assert factories.replay_log(scene.reload())[-1] == "escalated_field"


def test_only_a_supervisor_releases_a_ticket(pusat):
    scene = factories.flow_scene("nossa")
    scene.walk_to("claimed")
    for someone in (scene.agent, scene.other_agent, scene.support):
        with pytest.raises(TransitionForbidden):
            services.release_ticket(ticket_id=scene.ticket.pk, supervisor=someone)
    assert scene.reload().assignee_id == scene.agent.pk


def test_releasing_a_ticket_nobody_holds_is_refused(supervisor):
    ticket = factories.flow_ticket("nossa")
    with pytest.raises(TransitionNotAllowed):
        services.release_ticket(ticket_id=ticket.pk, supervisor=supervisor)


def test_reassigned_ticket_goes_to_another_agent_of_its_flow_and_site(supervisor):
    scene = factories.flow_scene("nossa")
    scene.walk_to("diagnosing")

    services.reassign_ticket(
        ticket_id=scene.ticket.pk, supervisor=supervisor, agent=scene.other_agent, note="Skills"
    )

    ticket = scene.reload()
    assert (ticket.state, ticket.assignee_id, ticket.awaiting_agent) == (
        "diagnosing",
        scene.other_agent.pk,
        False,
    )
    row = TransitionLog.objects.filter(ticket_id=ticket.pk).last()
    assert (row.transition, row.actor_id, row.data) == (
        "reassign",
        supervisor.pk,
        {"assignee": scene.other_agent.pk, "previous_assignee": scene.agent.pk},
    )
    inputs = {"note": "Field team needed"}
    with pytest.raises(TransitionForbidden):
        services.transition_ticket(
            ticket_id=ticket.pk, name="escalate_to_field", actor=scene.agent, inputs=inputs
        )
    services.transition_ticket(
        ticket_id=ticket.pk, name="escalate_to_field", actor=scene.other_agent, inputs=inputs
    )


@pytest.mark.parametrize(
    ("flow", "who"),
    [
        ("nossa", "agent of another flow"),
        ("nossa", "agent of another site"),
        ("c4_caring", "Pusat agent working C4 Caring"),
        ("nossa", "Support"),
    ],
)
def test_reassigning_to_someone_who_does_not_work_the_ticket_is_refused(flow, who, supervisor):
    scene = factories.flow_scene(flow)
    scene.walk_to("claimed")
    someone = {
        "agent of another flow": lambda: factories.agent_for("ideas"),
        "agent of another site": lambda: factories.agent_for("nossa", site_code="MLG"),
        "Pusat agent working C4 Caring": lambda: factories.agent_for(flow, site_code="PST"),
        "Support": lambda: scene.support,
    }[who]()
    before = factories.ticket_snapshot(scene.ticket)

    with pytest.raises(InvalidInput) as refused:
        services.reassign_ticket(ticket_id=scene.ticket.pk, supervisor=supervisor, agent=someone)

    assert "agent" in refused.value.errors
    assert factories.ticket_snapshot(scene.ticket) == before


def test_only_a_supervisor_reassigns(pusat):
    scene = factories.flow_scene("nossa")
    scene.walk_to("claimed")
    with pytest.raises(TransitionForbidden):
        services.reassign_ticket(
            ticket_id=scene.ticket.pk, supervisor=scene.agent, agent=scene.other_agent
        )


# --- Escalation to Support -----------------------------------------------------------------------
def test_escalation_opens_an_escalation_row_with_a_due_time(pusat):
    scene = factories.flow_scene("nossa")
    scene.walk_to("diagnosing")

    scene.run("escalate", actor=scene.agent, inputs={"reason": "ACS shows no CPE"})

    ticket = scene.reload()
    assert (ticket.state, ticket.escalated_from) == ("escalated", "diagnosing")
    escalation = Escalation.objects.get(ticket_id=ticket.pk)
    assert escalation.status == EscalationStatus.OPEN
    assert escalation.from_state == "diagnosing"
    assert escalation.reason == "ACS shows no CPE"
    assert escalation.raised_by_id == scene.agent.pk
    assert escalation.due_at is not None
    assert escalation.due_at > escalation.raised_at


def test_support_answer_returns_the_ticket_to_where_it_was_escalated_from(pusat):
    scene = factories.flow_scene("nossa")
    scene.escalate_from("verifying")

    scene.run("answer_escalation", actor=scene.support, inputs={"answer": "Reset the profile"})

    ticket = scene.reload()
    assert (ticket.state, ticket.escalated_from, ticket.assignee_id) == (
        "verifying",
        "",
        scene.agent.pk,
    )
    escalation = Escalation.objects.get(ticket_id=ticket.pk)
    assert escalation.status == EscalationStatus.ANSWERED
    assert (escalation.answered_by_id, escalation.answer) == (scene.support.pk, "Reset the profile")
    assert escalation.answered_at is not None


def test_a_second_escalation_is_answered_on_its_own(pusat):
    scene = factories.flow_scene("fresh_lapul")
    scene.escalate_from("analysing")
    scene.run("answer_escalation", actor=scene.support, inputs={"answer": "First"})
    scene.walk_to("monitoring")
    scene.run("escalate", actor=scene.agent, inputs={"reason": "Again"})

    assert scene.ticket.escalations.filter(status=EscalationStatus.OPEN).count() == 1
    scene.run("answer_escalation", actor=scene.support, inputs={"answer": "Second"})

    answers = dict(scene.ticket.escalations.values_list("from_state", "answer"))
    assert answers == {"analysing": "First", "monitoring": "Second"}
    assert scene.reload().state == "monitoring"


# --- Contact attempts ----------------------------------------------------------------------------
def contacting_callback():
    scene = factories.flow_scene("callback")
    scene.walk_to("contacting")
    return scene


def test_contact_attempts_count_the_failed_calls():
    scene = contacting_callback()
    ticket = factories.record_calls(
        scene.ticket, scene.agent, "no_answer", "answered", "busy", "wrong_number"
    )
    assert (ticket.failed_attempts, ticket.last_contact_outcome) == (3, "wrong_number")
    attempts = ContactAttempt.objects.filter(ticket_id=ticket.pk)
    assert [a.outcome for a in attempts] == ["no_answer", "answered", "busy", "wrong_number"]
    assert {a.phone for a in attempts} == {ticket.service.customer.phone}
    assert {a.agent_id for a in attempts} == {scene.agent.pk}


def test_contact_attempt_with_an_unknown_outcome_is_refused():
    scene = contacting_callback()
    before = factories.ticket_snapshot(scene.ticket)
    with pytest.raises(InvalidInput) as refused:
        services.record_contact_attempt(
            ticket_id=scene.ticket.pk, agent=scene.agent, outcome="voicemail"
        )
    assert list(refused.value.errors) == ["outcome"]
    assert factories.ticket_snapshot(scene.ticket) == before
    assert not ContactAttempt.objects.filter(ticket_id=scene.ticket.pk).exists()


def test_contact_attempt_with_an_overlong_note_is_refused():
    scene = contacting_callback()
    with pytest.raises(InvalidInput) as refused:
        services.record_contact_attempt(
            ticket_id=scene.ticket.pk, agent=scene.agent, outcome="busy", note="x" * 4001
        )
    assert list(refused.value.errors) == ["note"]


@pytest.mark.parametrize("who", ["other_agent", "support", "supervisor"])
def test_only_the_agent_holding_the_ticket_records_calls(who):
    scene = contacting_callback()
    before = factories.ticket_snapshot(scene.ticket)
    with pytest.raises(TransitionForbidden):
        services.record_contact_attempt(
            ticket_id=scene.ticket.pk, agent=getattr(scene, who), outcome="no_answer"
        )
    assert factories.ticket_snapshot(scene.ticket) == before
    assert not ContactAttempt.objects.filter(ticket_id=scene.ticket.pk).exists()


def test_calls_on_a_closed_ticket_are_refused():
    scene = factories.flow_scene("callback")
    scene.walk_to("closed")
    with pytest.raises(TransitionNotAllowed):
        services.record_contact_attempt(
            ticket_id=scene.ticket.pk, agent=scene.agent, outcome="answered"
        )


def give_up(scene):
    return services.transition_ticket(
        ticket_id=scene.ticket.pk, name="mark_unreachable", actor=scene.agent, inputs={}
    )


def test_customer_is_unreachable_only_after_the_policy_number_of_failed_calls():
    scene = contacting_callback()
    factories.record_calls(scene.ticket, scene.agent, "no_answer", "busy")
    with pytest.raises(ConditionNotMet):
        give_up(scene)
    factories.record_calls(scene.ticket, scene.agent, "wrong_number")
    assert give_up(scene).state == "unreachable"


@override_settings(TIER2_MAX_CONTACT_ATTEMPTS=5)
def test_number_of_failed_calls_before_unreachable_is_the_setting():
    scene = contacting_callback()
    factories.record_calls(scene.ticket, scene.agent, *["no_answer"] * 4)
    with pytest.raises(ConditionNotMet):
        give_up(scene)
    factories.record_calls(scene.ticket, scene.agent, "busy")
    assert give_up(scene).state == "unreachable"


# --- Stale expected state ------------------------------------------------------------------------
def test_transition_with_a_stale_expected_state_raises_concurrent_change(pusat):
    scene = factories.flow_scene("nossa")
    scene.walk_to("diagnosing")
    before = factories.ticket_snapshot(scene.ticket)
    with pytest.raises(ConcurrentChange) as raised:
        services.transition_ticket(
            ticket_id=scene.ticket.pk,
            name="start_diagnosis",
            actor=scene.agent,
            expected_state="claimed",
        )
    assert raised.value.context == {"current_state": "diagnosing"}
    assert factories.ticket_snapshot(scene.ticket) == before


def test_claim_and_call_with_a_stale_expected_state_raise_concurrent_change(pusat):
    scene = factories.flow_scene("callback")
    scene.walk_to("contacting")
    before = factories.ticket_snapshot(scene.ticket)
    with pytest.raises(ConcurrentChange):
        services.claim_ticket(ticket_id=scene.ticket.pk, agent=scene.agent, expected_state="new")
    with pytest.raises(ConcurrentChange):
        services.record_contact_attempt(
            ticket_id=scene.ticket.pk,
            agent=scene.agent,
            outcome="answered",
            expected_state="claimed",
        )
    assert factories.ticket_snapshot(scene.ticket) == before


def test_transition_with_the_current_expected_state_goes_through(pusat):
    scene = factories.flow_scene("nossa")
    scene.walk_to("claimed")
    ticket = services.transition_ticket(
        ticket_id=scene.ticket.pk,
        name="start_diagnosis",
        actor=scene.agent,
        expected_state="claimed",
    )
    assert ticket.state == "diagnosing"


@pytest.mark.parametrize(
    ("inputs", "field"),
    [({"note": "x" * 4001}, "note"), ({"note": 42}, "note"), ({"note": ["a"]}, "note")],
    ids=["overlong", "number", "list"],
)
def test_text_input_that_is_not_short_text_is_refused(inputs, field, pusat):
    scene = factories.flow_scene("nossa")
    scene.walk_to("diagnosing")
    before = factories.ticket_snapshot(scene.ticket)
    with pytest.raises(InvalidInput) as refused:
        scene.run("escalate_to_field", actor=scene.agent, inputs=inputs)
    assert list(refused.value.errors) == [field]
    assert factories.ticket_snapshot(scene.ticket) == before


def test_inputs_a_transition_does_not_ask_for_are_ignored(pusat):
    scene = factories.flow_scene("nossa")
    scene.walk_to("claimed")
    scene.run(
        "start_diagnosis",
        actor=scene.agent,
        inputs={"closing_code": "FIXED_REMOTE", "assignee": scene.other_agent.pk},
    )
    ticket = scene.reload()
    assert (ticket.state, ticket.closing_code, ticket.assignee_id) == (
        "diagnosing",
        "",
        scene.agent.pk,
    )
    assert TransitionLog.objects.filter(ticket_id=ticket.pk).last().data == {}


def test_log_row_records_the_inputs_with_the_note_apart(pusat):
    scene = factories.flow_scene("nossa")
    scene.walk_to("diagnosing")
    incident = scene.open_incident()
    scene.run(
        "link_to_gamas", actor=scene.agent, inputs={"incident": incident.pk, "note": "Fibre cut"}
    )
    row = TransitionLog.objects.filter(ticket_id=scene.ticket.pk).last()
    assert (row.transition, row.note, row.data, row.actor_id) == (
        "link_to_gamas",
        "Fibre cut",
        {"incident": incident.pk},
        scene.agent.pk,
    )
    assert scene.reload().gamas_incident_id == incident.pk


@pytest.mark.parametrize("name", ["fly", "save", "refresh_queue_flag", "_take", "start_analysis"])
def test_unknown_action_names_are_refused(name, pusat):
    scene = factories.flow_scene("nossa")
    scene.walk_to("claimed")
    before = factories.ticket_snapshot(scene.ticket)
    with pytest.raises(TransitionNotAllowed):
        services.transition_ticket(ticket_id=scene.ticket.pk, name=name, actor=scene.agent)
    assert factories.ticket_snapshot(scene.ticket) == before


def test_transition_of_a_ticket_that_does_not_exist_is_refused(pusat):
    with pytest.raises(TransitionNotAllowed):
        services.transition_ticket(
            ticket_id=987654, name="start_diagnosis", actor=factories.agent_for("nossa")
        )


# --- Cost of a transition ---------------------------------------------------------------------
# Observed: 9 queries for start_diagnosis by a freshly loaded user (savepoint, the locked
# ticket read, the user's and the group's permissions, the agent profile, the update, the log
# insert, one bulk insert of its three outbox rows, release). One spare, no more: a query per
# call or per earlier log row would show at once.
PLAIN_TRANSITION_MAX_QUERIES = 10


def test_plain_transition_with_its_log_and_outbox_rows_stays_a_few_queries(
    pusat, django_assert_max_num_queries
):
    scene = factories.flow_scene("nossa")
    scene.walk_to("claimed")
    agent = User.objects.get(pk=scene.agent.pk)  # as a new request would load it
    calls_before = scene.ticket.calls.count()

    with django_assert_max_num_queries(PLAIN_TRANSITION_MAX_QUERIES):
        services.transition_ticket(ticket_id=scene.ticket.pk, name="start_diagnosis", actor=agent)

    assert scene.reload().calls.count() - calls_before == 3  # Ibooster, I-SISKA, ACS queued


def test_plain_transition_query_count_does_not_grow_with_the_history(pusat):
    counts = []
    for history in (0, 3):
        scene = factories.flow_scene("nossa")
        scene.walk_to("diagnosing")
        for _round in range(history):  # a longer history on the second ticket
            scene.walk_to("verifying")
            scene.run("not_restored", actor=scene.agent, inputs={"note": "Still down"})
        agent = User.objects.get(pk=scene.agent.pk)
        # The per-process caches that expire after a few seconds (push sites, TMF621
        # subscriptions) are read afresh here, so a slow walk above does not add their query
        # to one of the two counts.
        dispatch.push_sites.forget()
        dispatch.push_sites.get()
        hub.forget_subscriptions()
        hub.active_subscriptions()
        with CaptureQueriesContext(connection) as queries:
            services.transition_ticket(
                ticket_id=scene.ticket.pk,
                name="escalate_to_field",
                actor=agent,
                inputs={"note": "Field"},
            )
        counts.append(len(queries))
    assert counts[0] == counts[1]
