"""Random sequences of actions on a ticket keep it inside its machine, and its log replays.

Hypothesis drives one fresh ticket per example through random attempts: transitions by the
right or a wrong actor, with good, missing or bad inputs and sometimes a stale expected state,
contact attempts (some with a bad outcome), claims, releases and reassignments, facts arriving
from the external checks, and gamas incidents recovering. Whatever is refused must be refused
with a domain error and change nothing; whatever happens, the ticket's state belongs to its
flow, every move its log records is a row of the golden SOP table (docs/sop-transitions.csv),
and the transition log, folded from the arrival row, ends at the ticket's state.
"""

import contextlib

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories
from tests.tickets.test_sop_golden import golden_of
from tickets import services
from tickets.exceptions import TicketError
from tickets.flows import FLOWS
from tickets.models import ContactOutcome, TransitionLog

pytestmark = pytest.mark.django_db

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ACTORS = ("right", "agent", "other_agent", "support", "supervisor", "system")
OUTCOMES = (*ContactOutcome.values, "voicemail")
FACTS = {
    "online": {"ibooster": {"status": "online"}},
    "los": {"ibooster": {"status": "los"}},
    "paid_up": {"epayment": {"arrears_total": 0}, "webcare": {"offers": ["OFFER-50M"]}},
    "arrears": {"epayment": {"arrears_total": 125000}, "webcare": {"offers": []}},
}


def names_from(machine, state: str) -> list[str]:
    return sorted({t.name for t in factories.transitions_of(machine) if t.source == state})


def any_transition(machine, name: str, state: str):
    found = getattr(machine, name)._django_fsm
    return found.get_transition(state) or next(iter(found.transitions.values()))


@pytest.fixture
def people(flow) -> dict:
    """The people around the tickets, made once per test: every example rolls its rows back."""
    return {
        "agent": factories.agent_for(flow),
        "other_agent": factories.agent_for(flow, prefix="other-agent"),
        "support": factories.role_user("Support"),
        "supervisor": factories.role_user("Supervisor"),
    }


def new_scene(flow: str, data, people: dict) -> factories.FlowScene:
    scene = factories.FlowScene(flow=flow, ticket=None, **people)
    if flow == "gamas" and data.draw(st.booleans(), label="arrives inside an open incident"):
        incident = factories.open_gamas(actor=scene.supervisor)
        service = factories.service_at("PST", odp=incident.area_code)
        scene.ticket = factories.arrive("gamas", service=service)
        scene.incidents.append(incident)
    else:
        scene.ticket = factories.flow_ticket(flow)
    return scene


def person(scene, who: str, found):
    people = {
        "agent": scene.agent,
        "other_agent": scene.other_agent,
        "support": scene.support,
        "supervisor": scene.supervisor,
        "system": None,
    }
    return scene.actor_for(found) if who == "right" else people[who]


def plan_transition(scene, data):
    """Draw a transition attempt; returns the call to make (after any preparation).

    Most attempts are proper steps (a transition from here, prepared, by the right actor
    with good inputs) so that sequences get deep into the flow; the rest are anything.
    """
    machine, state = scene.machine, scene.reload().state
    here = names_from(machine, state)
    proper = bool(here) and data.draw(st.integers(0, 3), label="proper step") > 0
    everywhere = sorted({t.name for t in factories.transitions_of(machine)})
    name = data.draw(st.sampled_from(here if proper else everywhere), label="transition")
    found = any_transition(machine, name, state)
    if found.source == state and (proper or data.draw(st.booleans(), label="prepared")):
        with contextlib.suppress(TicketError):
            scene.prepare(found)  # real calls, claims and answers: they count as actions too
    if proper:
        return lambda: scene.run(name, actor=scene.actor_for(found), inputs=scene.inputs_for(found))
    actor = person(scene, data.draw(st.sampled_from(ACTORS), label="actor"), found)
    inputs = scene.inputs_for(found)
    variant = data.draw(st.sampled_from(["valid", "missing", "bad"]), label="inputs")
    if variant == "missing":
        inputs = {}
    elif variant == "bad":
        inputs = dict.fromkeys(inputs, "NOPE")
    expected = data.draw(st.sampled_from([None, "current", "stale"]), label="expected")
    state = scene.reload().state
    if expected == "current":
        expected = state
    elif expected == "stale":
        expected = next(s for s in machine.states if s != state)
    return lambda: scene.run(name, actor=actor, inputs=inputs, expected_state=expected)


def plan_other(scene, data):
    kind = data.draw(
        st.sampled_from(["call", "facts", "claim", "release", "reassign", "recover"]), label="kind"
    )
    ticket = scene.reload()
    if kind == "call":
        outcome = data.draw(st.sampled_from(OUTCOMES), label="outcome")
        caller = data.draw(st.sampled_from([scene.agent, scene.other_agent]), label="caller")
        return lambda: services.record_contact_attempt(
            ticket_id=ticket.pk, agent=caller, outcome=outcome
        )
    if kind == "facts":
        facts = FACTS[data.draw(st.sampled_from(sorted(FACTS)), label="facts")]
        return lambda: factories.set_facts(ticket, **facts)
    if kind == "claim":
        taker = data.draw(st.sampled_from([scene.agent, scene.other_agent]), label="taker")
        return lambda: services.claim_ticket(ticket_id=ticket.pk, agent=taker)
    if kind == "release":
        return lambda: services.release_ticket(ticket_id=ticket.pk, supervisor=scene.supervisor)
    if kind == "reassign":
        to = data.draw(st.sampled_from([scene.agent, scene.other_agent]), label="to")
        return lambda: services.reassign_ticket(
            ticket_id=ticket.pk, supervisor=scene.supervisor, agent=to
        )

    def recover():
        for incident in scene.incidents:
            incident.refresh_from_db()
            if incident.state == "open":
                services.transition_incident(
                    incident_id=incident.pk, name="recover", actor=scene.supervisor
                )
            services.fan_out_recovery_batch(incident_id=incident.pk)

    return recover


def sop_moves(flow: str) -> set[tuple[str, str, str]]:
    """(transition, from, to) of every move the golden table allows in the flow."""
    return {
        (row.transition, row.source, target) for row in golden_of(flow) for target in row.targets
    }


def check_ticket(scene) -> None:
    ticket = scene.reload()
    assert ticket.state in scene.machine.states
    assert factories.replay_log(ticket)[-1] == ticket.state
    moves = set(
        TransitionLog.objects.filter(ticket_id=ticket.pk)
        .exclude(transition="arrive")
        .values_list("transition", "from_state", "to_state")
    )
    # Rows that keep the state (release, reassign, taking a gamas report) are not moves.
    assert {move for move in moves if move[1] != move[2]} <= sop_moves(scene.flow)


def run_random_actions(flow: str, data, people: dict, *, check=check_ticket) -> None:
    # Each example's rows roll back, so the tables stay small however many examples run.
    with transaction.atomic():
        run_in_scene(flow, data, people, check)
        transaction.set_rollback(True)


def run_in_scene(flow: str, data, people: dict, check) -> None:
    scene = new_scene(flow, data, people)
    check(scene)
    for _ in range(data.draw(st.integers(min_value=1, max_value=25), label="steps")):
        action = (
            plan_transition(scene, data)
            if data.draw(st.integers(0, 2), label="transition?")
            else plan_other(scene, data)
        )
        before = factories.ticket_snapshot(scene.ticket)
        try:
            action()
        except TicketError:  # refused: nothing changed
            assert factories.ticket_snapshot(scene.ticket) == before
        check(scene)


@pytest.mark.parametrize("flow", list(FLOWS))
@PROPERTY_SETTINGS
@given(data=st.data())
def test_random_actions_keep_the_ticket_in_its_flow_and_its_log_replays_to_its_state(
    flow, data, people
):
    run_random_actions(flow, data, people)


def check_queue_flag(scene) -> None:
    check_ticket(scene)
    ticket = scene.ticket
    waits = ticket.assignee_id is None and ticket.state not in scene.machine.unqueued_states
    assert ticket.awaiting_agent == waits, (ticket.state, ticket.assignee_id)


@pytest.mark.parametrize("flow", ["nossa", "gamas"])
@settings(PROPERTY_SETTINGS, max_examples=40)
@given(data=st.data())
def test_random_actions_keep_a_held_ticket_out_of_the_queue(flow, data, people):
    """The "next ticket" index reads `awaiting_agent`: it must agree with the row."""
    run_random_actions(flow, data, people, check=check_queue_flag)
