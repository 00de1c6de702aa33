"""Every transition of the seven flow machines, from every source state, as the SOP table says.

The cases come from the reviewed golden table `docs/sop-transitions.csv` (flow, transition,
source, target, permission, closing codes), not from the machines: test_sop_golden.py checks the
machines declare exactly that table, and this file checks they behave as it says. Each case walks
a fresh ticket to the source state through the services, then checks that the right actor with
the right inputs and conditions moves it to the table's target (one log row), that every closing
code of the table closes it and the flow's other codes do not, and that a wrong state, a wrong
actor, a missing or bad input and a failed condition are refused, leaving the ticket and its log
exactly as they were.
"""

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User

from tests import factories
from tests.tickets.test_sop_golden import MACHINES, golden_of, golden_rows
from tickets import services
from tickets.exceptions import (
    ConditionNotMet,
    InvalidInput,
    TransitionForbidden,
    TransitionNotAllowed,
)
from tickets.flows import FLOWS, GamasIncidentMachine
from tickets.flows.base import CLOSED
from tickets.flows.nossa import ACS_ACTIONS, MINITOOLS_ACTIONS, NossaTicket
from tickets.models import Escalation, EscalationStatus, Ticket, TransitionLog

pytestmark = pytest.mark.django_db


# --- The table ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One row of the golden table; Support's answer once per state it returns to.

    flow, name, source, target, permission and codes are the table's; `transition` is the
    machine's django-fsm Transition that the case runs.
    """

    flow: str
    name: str
    source: str
    target: str
    permission: str
    codes: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.flow}:{self.source}->{self.target}:{self.name}"

    @property
    def machine(self):
        return FLOWS[self.flow]

    @property
    def transition(self):
        return getattr(self.machine, self.name)._django_fsm.get_transition(self.source)


def escalation_sources(flow: str) -> list[str]:
    return sorted(row.source for row in golden_of(flow) if row.transition == "escalate")


def all_cases() -> list[Case]:
    return [
        Case(row.flow, row.transition, row.source, target, row.permission, row.codes)
        for flow in FLOWS
        for row in golden_of(flow)
        for target in row.targets  # Support's answer: one case per state it returns to
    ]


CASES = all_cases()


def scene_at(case: Case) -> factories.FlowScene:
    """A fresh ticket of the case's flow, walked to the case's source state."""
    scene = factories.flow_scene(case.flow)
    if case.name == "answer_escalation":
        scene.escalate_from(case.target)  # Support's answer returns it there
    else:
        scene.walk_to(case.source)
    return scene


def attempt(scene, case_name: str, actor, inputs=None):
    if case_name == "claim" and actor is not None:
        return services.claim_ticket(ticket_id=scene.ticket.pk, agent=actor)
    return services.transition_ticket(
        ticket_id=scene.ticket.pk, name=case_name, actor=actor, inputs=inputs
    )


def new_log_rows(ticket, before: int) -> list[tuple]:
    rows = TransitionLog.objects.filter(ticket_id=ticket.pk).order_by("pk")
    return [
        (row.transition, row.from_state, row.to_state, row.actor_id) for row in list(rows)[before:]
    ]


# --- (a) The right actor, inputs and conditions move the ticket -------------------------------
@pytest.mark.parametrize("case", CASES, ids=str)
def test_transition_taken_by_the_right_actor_moves_the_ticket_and_logs_one_row(case):
    scene = scene_at(case)
    actor, inputs = scene.prepare(case.transition)
    if case.codes:
        inputs["closing_code"] = case.codes[0]
    before = factories.log_count(scene.ticket)

    result = attempt(scene, case.name, actor, inputs)

    ticket = scene.reload()
    assert result.state == ticket.state == case.target
    assert ticket.state in case.machine.states
    actor_id = actor.pk if actor else None
    assert new_log_rows(ticket, before) == [(case.name, case.source, case.target, actor_id)]
    if case.name == "claim":
        assert ticket.assignee_id == scene.agent.pk
        assert not ticket.awaiting_agent
    if case.target == "closed":
        assert ticket.closing_code == inputs["closing_code"]
        assert ticket.closed_at is not None
    if case.name == "escalate":
        assert ticket.escalated_from == case.source
        assert ticket.escalations.filter(status=EscalationStatus.OPEN).count() == 1
    if case.name == "answer_escalation":
        assert ticket.escalated_from == ""
        assert not ticket.escalations.filter(status=EscalationStatus.OPEN).exists()


# --- (b) Refused: the ticket and its log stay as they were ------------------------------------
def assert_refused(scene, case_name: str, actor, inputs, error):
    before = factories.ticket_snapshot(scene.ticket)
    with pytest.raises(error) as raised:
        attempt(scene, case_name, actor, inputs)
    assert factories.ticket_snapshot(scene.ticket) == before
    return raised.value


def transition_names(flow: str) -> list[str]:
    return list(dict.fromkeys(row.transition for row in golden_of(flow)))


def first_other_state(flow: str, name: str) -> str:
    """The first state (in walking order from "new", after it) that `name` cannot leave."""
    machine = FLOWS[flow]
    sources = {row.source for row in golden_of(flow) if row.transition == name}
    order = sorted(machine.states, key=lambda state: len(factories.path_to(machine, state)))
    return next(state for state in order[1:] + order[:1] if state not in sources)


WRONG_STATE_CASES = [
    (flow, name, first_other_state(flow, name))
    for flow in FLOWS
    for name in transition_names(flow)
    if name != "claim"  # taking a ticket again is the claim rules' business (test_services)
]


@pytest.mark.parametrize(
    ("flow", "name", "state"),
    WRONG_STATE_CASES,
    ids=[f"{flow}:{state}-x->{name}" for flow, name, state in WRONG_STATE_CASES],
)
def test_transition_is_refused_from_a_state_it_does_not_leave(flow, name, state):
    scene = factories.flow_scene(flow)
    scene.walk_to(state)
    found = next(t for t in factories.transitions_of(scene.machine) if t.name == name)
    if factories.permission_name(found) in ("assigned_agent", "agent_or_system"):
        scene.hold()
    error = assert_refused(
        scene, name, scene.actor_for(found), scene.inputs_for(found), TransitionNotAllowed
    )
    assert error.context.get("current_state") == state


@pytest.mark.parametrize("flow", list(FLOWS))
def test_closed_ticket_refuses_every_transition_of_its_flow(flow):
    scene = factories.flow_scene(flow)
    scene.walk_to("closed")
    for name in transition_names(flow):
        if name == "claim":
            continue
        found = next(t for t in factories.transitions_of(scene.machine) if t.name == name)
        assert_refused(
            scene, name, scene.actor_for(found), scene.inputs_for(found), TransitionNotAllowed
        )


WRONG_ACTORS = {
    "may_claim": ("support", "supervisor", "system", "other-flow-agent", "other-site-agent"),
    "assigned_agent": (
        "other-agent",
        "support",
        "supervisor",
        "system",
        "assignee-off-the-flow",
    ),
    "agent_or_system": ("other-agent", "support", "supervisor", "assignee-off-the-flow"),
    "support_desk": ("assignee", "other-agent", "supervisor", "system"),
    "system": ("assignee", "other-agent", "supervisor", "support"),
}
C4_WRONG_ACTORS = {
    "may_claim": ("pusat-agent",),
    "assigned_agent": ("pusat-agent", "pusat-assignee"),
}

ACTOR_CASES = [
    (case, who)
    for case in CASES
    for who in WRONG_ACTORS[case.permission]
    + (C4_WRONG_ACTORS.get(case.permission, ()) if case.flow == "c4_caring" else ())
]


def wrong_actor(scene, who: str):
    """Build the wrong actor `who` for the scene (some need the ticket's row changed first)."""
    flow, other_site = scene.flow, "PST" if factories.home_site(scene.flow) == "MLG" else "MLG"
    if who == "assignee":
        return scene.agent
    if who == "other-agent":
        return scene.other_agent
    if who == "support":
        return scene.support
    if who == "supervisor":
        return scene.supervisor
    if who == "system":
        return None
    if who == "other-flow-agent":
        return factories.agent_for("ideas" if flow != "ideas" else "nossa", site_code="PST")
    if who in ("other-site-agent", "pusat-agent"):
        return factories.agent_for(flow, site_code=other_site if who != "pusat-agent" else "PST")
    if who == "assignee-off-the-flow":  # a supervisor moved the agent to another queue
        profile = scene.agent.profile
        profile.flows = ["ideas" if flow != "ideas" else "nossa"]
        profile.save()
        return User.objects.get(pk=scene.agent.pk)
    if who == "pusat-assignee":  # set-up shortcut: C4 Caring held by a Pusat agent
        pusat = factories.agent_for(flow, site_code="PST")
        Ticket.objects.filter(pk=scene.ticket.pk).update(assignee=pusat)
        scene.reload()
        return pusat
    raise AssertionError(who)


@pytest.mark.parametrize(("case", "who"), ACTOR_CASES, ids=[f"{c}:by-{w}" for c, w in ACTOR_CASES])
def test_transition_is_refused_to_the_wrong_actor(case, who):
    scene = scene_at(case)
    _right, inputs = scene.prepare(case.transition)
    actor = wrong_actor(scene, who)
    assert_refused(scene, case.name, actor, inputs, TransitionForbidden)


def input_variants(case: Case) -> list[tuple[str, str, object]]:
    """(label, field, value) for every required input left out, and every bad choice."""
    variants = []
    for spec in case.transition.custom["inputs"]:
        if spec.required:
            variants.append((f"missing-{spec.name}", spec.name, None))
            variants.append((f"blank-{spec.name}", spec.name, "   "))
        if spec.kind in ("closing_code", "choice"):
            variants.append((f"bad-{spec.name}", spec.name, "NOT_A_CODE"))
        if spec.kind == "incident":
            variants.append((f"closed-{spec.name}", spec.name, "closed-incident"))
            variants.append((f"unknown-{spec.name}", spec.name, 987654))
    return variants


INPUT_CASES = [(case, *variant) for case in CASES for variant in input_variants(case)]


@pytest.mark.parametrize(
    ("case", "label", "field", "value"),
    INPUT_CASES,
    ids=[f"{case}:{label}" for case, label, _field, _value in INPUT_CASES],
)
def test_transition_is_refused_with_a_missing_or_bad_input(case, label, field, value):
    scene = scene_at(case)
    actor, inputs = scene.prepare(case.transition)
    if value is None:
        del inputs[field]
    elif value == "closed-incident":
        inputs[field] = factories.incident_in_state("closed").pk
    else:
        inputs[field] = value
    error = assert_refused(scene, case.name, actor, inputs, InvalidInput)
    assert list(error.errors) == [field]


def other_codes_of_the_flow(case: Case) -> list[str]:
    """The flow's closing codes (all its closing rows) that this closing step does not accept."""
    flow_codes = {code for row in golden_of(case.flow) for code in row.codes}
    return sorted(flow_codes - set(case.codes))


CODE_CASES = [(case, code) for case in CASES for code in case.codes]
WRONG_CODE_CASES = [
    (case, code) for case in CASES if case.codes for code in other_codes_of_the_flow(case)
]


@pytest.mark.parametrize(
    ("case", "code"), CODE_CASES, ids=[f"{case}:{code}" for case, code in CODE_CASES]
)
def test_every_closing_code_of_the_table_closes_the_ticket_with_it(case, code):
    scene = scene_at(case)
    actor, inputs = scene.prepare(case.transition)
    inputs["closing_code"] = code

    attempt(scene, case.name, actor, inputs)

    ticket = scene.reload()
    assert (ticket.state, ticket.closing_code) == (CLOSED, code)


@pytest.mark.parametrize(
    ("case", "code"),
    WRONG_CODE_CASES,
    ids=[f"{case}:not-{code}" for case, code in WRONG_CODE_CASES],
)
def test_a_closing_step_refuses_the_flows_codes_that_are_not_its_own(case, code):
    """E.g. "unreachable, service online" cannot close as fixed by the field team."""
    scene = scene_at(case)
    actor, inputs = scene.prepare(case.transition)
    inputs["closing_code"] = code
    error = assert_refused(scene, case.name, actor, inputs, InvalidInput)
    assert list(error.errors) == ["closing_code"]
    message = " ".join(str(text) for text in error.errors["closing_code"])
    assert code not in message and all(own in message for own in case.codes), message


def test_closing_code_of_another_flow_is_refused():
    scene = factories.flow_scene("nossa")
    scene.walk_to("verifying")
    actor, inputs = scene.prepare(NossaTicket.close._django_fsm.get_transition("verifying"))
    inputs["closing_code"] = "ORDER_ENTERED"  # an Ideas code
    error = assert_refused(scene, "close", actor, inputs, InvalidInput)
    assert "closing_code" in error.errors


CONDITION_CASES = [
    (case, condition)
    for case in CASES
    for condition in case.transition.conditions
    if factories.condition_can_fail(condition, case.source)
]


@pytest.mark.parametrize(
    ("case", "condition"),
    CONDITION_CASES,
    ids=[f"{case}:unless-{condition.__name__}" for case, condition in CONDITION_CASES],
)
def test_transition_is_refused_while_its_condition_is_not_met(case, condition):
    scene = scene_at(case)
    actor, inputs = scene.prepare(case.transition, leave=condition)
    scene.break_(condition)
    error = assert_refused(scene, case.name, actor, inputs, ConditionNotMet)
    assert str(error.message) == str(condition.message)


# --- The gamas incident's own machine ---------------------------------------------------------
# Who each permission of the incident's machine lets act (None: the system).
INCIDENT_ACTORS = {
    "incident_managers": ("Supervisor", "Support"),
    "incident_managers_or_system": ("Supervisor", "Support", None),
}
INCIDENT_CASES = [
    (row, role) for row in golden_of("gamas_incident") for role in INCIDENT_ACTORS[row.permission]
]


@pytest.mark.parametrize(
    ("row", "actor_role"),
    INCIDENT_CASES,
    ids=[
        f"incident:{row.source}->{row.target}:{row.transition}:by-{role or 'system'}"
        for row, role in INCIDENT_CASES
    ],
)
def test_incident_transition_moves_it_and_logs_one_row(row, actor_role):
    incident = factories.incident_in_state(row.source)
    actor = factories.role_user(actor_role) if actor_role else None
    inputs = {"closing_code": row.codes[0]} if row.codes else {}
    before = factories.log_count(incident=incident)

    services.transition_incident(
        incident_id=incident.pk, name=row.transition, actor=actor, inputs=inputs
    )

    incident.refresh_from_db()
    assert incident.state == row.target
    if row.codes:
        assert incident.closing_code == row.codes[0]
    rows = list(TransitionLog.objects.filter(incident_id=incident.pk).order_by("pk"))[before:]
    assert [(r.transition, r.from_state, r.to_state, r.actor_id) for r in rows] == [
        (row.transition, row.source, row.target, actor.pk if actor else None)
    ]


def assert_incident_refused(incident, name, actor, inputs, error):
    before = factories.incident_snapshot(incident)
    with pytest.raises(error) as raised:
        services.transition_incident(incident_id=incident.pk, name=name, actor=actor, inputs=inputs)
    assert factories.incident_snapshot(incident) == before
    return raised.value


@pytest.mark.parametrize(
    ("state", "name"),
    [("recovered", "recover"), ("closed", "recover"), ("open", "close"), ("closed", "close")],
    ids=["incident:recovered-x->recover", "incident:closed-x->recover", "incident:open-x->close",
         "incident:closed-x->close"],
)  # fmt: skip
def test_incident_transition_is_refused_from_a_state_it_does_not_leave(state, name):
    incident = factories.incident_in_state(state)
    inputs = {"closing_code": "RECOVERED"} if name == "close" else {}
    supervisor = factories.role_user("Supervisor")
    assert_incident_refused(incident, name, supervisor, inputs, TransitionNotAllowed)


@pytest.mark.parametrize(
    ("state", "name", "who"),
    [("open", "recover", "agent"), ("open", "recover", "system"), ("recovered", "close", "agent")],
    ids=["incident:recover:by-agent", "incident:recover:by-system", "incident:close:by-agent"],
)
def test_incident_transition_is_refused_to_the_wrong_actor(state, name, who):
    incident = factories.incident_in_state(state)
    actor = factories.agent_for("gamas") if who == "agent" else None
    inputs = {"closing_code": "RECOVERED"} if name == "close" else {}
    assert_incident_refused(incident, name, actor, inputs, TransitionForbidden)


@pytest.mark.parametrize(
    "inputs",
    [{}, {"closing_code": ""}, {"closing_code": "FIXED_REMOTE"}],
    ids=["missing-closing_code", "blank-closing_code", "bad-closing_code"],
)
def test_incident_close_is_refused_without_a_valid_closing_code(inputs):
    incident = factories.incident_in_state("recovered")
    supervisor = factories.role_user("Supervisor")
    error = assert_incident_refused(incident, "close", supervisor, inputs, InvalidInput)
    assert list(error.errors) == ["closing_code"]


def test_incident_close_is_refused_while_a_child_is_open():
    supervisor = factories.role_user("Supervisor")
    incident = factories.open_gamas(actor=supervisor, area_level="odp", area_code="ODP-CHILD-1")
    child = factories.arrive("gamas", service=factories.service_at("PST", odp="ODP-CHILD-1"))
    assert child.gamas_incident_id == incident.pk
    services.transition_incident(incident_id=incident.pk, name="recover", actor=supervisor)
    closing = GamasIncidentMachine.close._django_fsm.get_transition("recovered")

    error = assert_incident_refused(
        incident, "close", supervisor, {"closing_code": "RECOVERED"}, ConditionNotMet
    )
    assert str(error.message) == str(closing.conditions[0].message)


# --- The graphs: every state reachable, every SOP branch present -------------------------------
START = dict.fromkeys(MACHINES, "new") | {"gamas_incident": "open"}


def table_reachable_from(flow: str, start: str) -> set[str]:
    """The states the golden table's rows lead to from `start`."""
    seen, todo = {start}, [start]
    while todo:
        here = todo.pop()
        for row in golden_of(flow):
            if row.source == here:
                fresh = set(row.targets) - seen
                seen |= fresh
                todo.extend(fresh)
    return seen


@pytest.mark.parametrize("flow", list(MACHINES))
def test_every_state_of_the_flow_is_reachable_from_its_start(flow):
    machine = MACHINES[flow]
    assert table_reachable_from(flow, START[flow]) == set(machine.states)


@pytest.mark.parametrize("flow", list(MACHINES))
def test_closed_is_reachable_from_every_state_of_the_flow(flow):
    machine = MACHINES[flow]
    stuck = {s for s in machine.states if "closed" not in table_reachable_from(flow, s)}
    assert stuck == set()


@pytest.mark.parametrize("flow", list(MACHINES))
def test_every_transition_stays_inside_the_flow_and_says_what_it_asks(flow):
    machine = MACHINES[flow]
    for found in factories.transitions_of(machine):
        assert found.source in machine.states, found.name
        assert set(factories.targets_of(found)) <= set(machine.states), found.name
        assert found.custom["label"], found.name
        assert callable(found.permission), found.name
        for condition in found.conditions:
            assert str(condition.message), (found.name, condition.__name__)


@pytest.mark.parametrize("flow", list(FLOWS))
def test_every_flow_can_escalate_its_working_states_and_support_can_answer(flow):
    working = escalation_sources(flow)
    assert working, flow
    (answer,) = [row for row in golden_of(flow) if row.transition == "answer_escalation"]
    assert (answer.source, sorted(answer.targets)) == ("escalated", working)
    assert answer.permission == "support_desk"


# (flow, transition, source, target) of every branch DESIGN section 3 draws.
DESIGN_BRANCHES = [
    ("callback", "claim", "new", "claimed"),
    ("callback", "start_contact", "claimed", "contacting"),
    ("callback", "resolve_on_call", "contacting", "resolved_on_call"),
    ("callback", "create_nossa_ticket", "contacting", "nossa_ticket_created"),
    ("callback", "mark_unreachable", "contacting", "unreachable"),
    ("callback", "close", "resolved_on_call", "closed"),
    ("callback", "close", "nossa_ticket_created", "closed"),
    ("callback", "close", "unreachable", "closed"),
    ("nossa", "claim", "new", "claimed"),
    ("nossa", "start_diagnosis", "claimed", "diagnosing"),
    ("nossa", "apply_remote_fix", "diagnosing", "remote_fix"),
    ("nossa", "remote_fix_done", "remote_fix", "verifying"),
    ("nossa", "escalate_to_field", "diagnosing", "escalated_field"),
    ("nossa", "await_field", "escalated_field", "waiting_field"),
    ("nossa", "field_done", "waiting_field", "verifying"),
    ("nossa", "link_to_gamas", "diagnosing", "linked_to_gamas"),
    ("nossa", "gamas_recovered", "linked_to_gamas", "verifying"),
    ("nossa", "close", "verifying", "closed"),
    ("nossa", "not_restored", "verifying", "diagnosing"),
    ("gamas", "link", "new", "linked"),
    ("gamas", "await_recovery", "linked", "waiting_recovery"),
    ("gamas", "gamas_recovered", "waiting_recovery", "verifying"),
    ("gamas", "close_recovered", "verifying", "closed"),
    ("gamas", "report_not_recovered", "verifying", "not_recovered"),
    ("gamas", "convert", "not_recovered", "converted"),
    ("gamas", "close", "converted", "closed"),
    ("c4_caring", "claim", "new", "claimed"),
    ("c4_caring", "start_contact", "claimed", "contacting"),
    ("c4_caring", "mark_cared", "contacting", "cared"),
    ("c4_caring", "report_issue", "contacting", "issue_found"),
    ("c4_caring", "escalate", "issue_found", "escalated"),
    ("c4_caring", "mark_unreachable", "contacting", "unreachable"),
    ("c4_caring", "close", "cared", "closed"),
    ("c4_caring", "close", "issue_found", "closed"),
    ("c4_caring", "close", "unreachable", "closed"),
    ("force_close", "claim", "new", "claimed"),
    ("force_close", "start_verification", "claimed", "verifying"),
    ("force_close", "confirm_ok", "verifying", "confirmed_ok"),
    ("force_close", "close", "confirmed_ok", "closed"),
    ("force_close", "report_not_ok", "verifying", "not_ok"),
    ("force_close", "reopen", "not_ok", "reopened"),
    ("force_close", "close", "reopened", "closed"),
    ("force_close", "close_unreachable", "verifying", "closed"),
    ("force_close", "escalate", "verifying", "escalated"),
    ("fresh_lapul", "claim", "new", "claimed"),
    ("fresh_lapul", "start_analysis", "claimed", "analysing"),
    ("fresh_lapul", "escalate_priority", "analysing", "escalated_priority"),
    ("fresh_lapul", "start_monitoring", "escalated_priority", "monitoring"),
    ("fresh_lapul", "verify", "monitoring", "verifying"),
    ("fresh_lapul", "close", "verifying", "closed"),
    ("ideas", "claim", "new", "claimed"),
    ("ideas", "check_offer", "claimed", "checking_offer"),
    ("ideas", "start_contact", "checking_offer", "contacting"),
    ("ideas", "mark_not_eligible", "checking_offer", "declined"),
    ("ideas", "accept", "contacting", "accepted"),
    ("ideas", "enter_order", "accepted", "order_entered"),
    ("ideas", "close", "order_entered", "closed"),
    ("ideas", "decline", "contacting", "declined"),
    ("ideas", "close", "declined", "closed"),
    ("ideas", "mark_unreachable", "contacting", "unreachable"),
    ("ideas", "close", "unreachable", "closed"),
    ("gamas_incident", "recover", "open", "recovered"),
    ("gamas_incident", "close", "recovered", "closed"),
]


@pytest.mark.parametrize(
    ("flow", "name", "source", "target"),
    DESIGN_BRANCHES,
    ids=[f"{flow}:{source}->{target}:{name}" for flow, name, source, target in DESIGN_BRANCHES],
)
def test_design_branch_is_in_the_sop_table(flow, name, source, target):
    """Every branch DESIGN.md draws is a reviewed row (and the machines declare those rows)."""
    found = [row for row in golden_rows() if row[:3] == (flow, name, source)]
    assert len(found) == 1, f"{flow} has no {name} from {source}"
    assert found[0].targets == (target,)


def test_force_close_unreachable_customer_with_service_down_can_only_be_escalated():
    """SOP 8.5: unreachable after the attempts: close if Ibooster is healthy, else escalate."""
    scene = factories.flow_scene("force_close")
    scene.walk_to("verifying")
    factories.record_calls(scene.ticket, scene.agent, *["no_answer"] * 3)
    factories.set_facts(scene.ticket, ibooster={"status": "los"})
    close = {"closing_code": "UNREACHABLE_ONLINE"}
    with pytest.raises(ConditionNotMet):
        services.transition_ticket(
            ticket_id=scene.ticket.pk, name="close_unreachable", actor=scene.agent, inputs=close
        )
    services.transition_ticket(
        ticket_id=scene.ticket.pk,
        name="escalate",
        actor=scene.agent,
        inputs={"reason": "Unreachable and Ibooster shows LOS"},
    )
    assert scene.reload().state == "escalated"
    assert Escalation.objects.filter(ticket_id=scene.ticket.pk, from_state="verifying").exists()


def test_c4_issue_cannot_close_on_an_answer_given_before_the_issue_was_found():
    """SOP 8.4: issue_found -> escalated. An earlier escalation (from contacting) that Support
    answered is not the issue's escalation: closing the issue still needs one of its own."""
    scene = factories.flow_scene("c4_caring")
    scene.escalate_from("contacting")
    scene.run("answer_escalation", actor=scene.support, inputs={"answer": "Call again later"})
    factories.record_calls(scene.ticket, scene.agent, "answered")
    scene.run("report_issue", actor=scene.agent, inputs={"note": "Slow internet every evening"})
    assert scene.ticket.state == "issue_found"

    with pytest.raises(ConditionNotMet):
        scene.run("close", actor=scene.agent, inputs={"closing_code": "ISSUE_ESCALATED"})
    assert scene.reload().state == "issue_found"


CHOICE_CASES = [
    (case, spec.name, value)
    for case in CASES
    for spec in case.transition.custom["inputs"]
    if spec.kind == "choice"
    for value, _label in spec.choices
]


@pytest.mark.parametrize(
    ("case", "field", "value"),
    CHOICE_CASES,
    ids=[f"{case}:{field}={value}" for case, field, value in CHOICE_CASES],
)
def test_every_choice_of_a_transition_is_accepted_and_queues_its_calls(case, field, value):
    scene = scene_at(case)
    actor, inputs = scene.prepare(case.transition)
    inputs[field] = value
    calls_before = scene.ticket.calls.count()

    ticket = attempt(scene, case.name, actor, inputs)

    assert ticket.state == case.target
    queued = list(ticket.calls.order_by("pk").values_list("app", "operation"))[calls_before:]
    expected = [
        (call.app, call.operation)
        for call in case.transition.custom["calls"]
        if call.applies_to(ticket)
    ]
    assert queued == expected
    assert len(queued) == 1  # exactly one way to carry the choice out


def test_remote_fix_goes_to_acs_or_minitools_by_the_action_chosen():
    for actions, app in ((ACS_ACTIONS, "acs"), (MINITOOLS_ACTIONS, "minitools")):
        for action, _label in actions:
            scene = factories.flow_scene("nossa")
            scene.walk_to("diagnosing")
            before = scene.ticket.calls.count()
            scene.run("apply_remote_fix", actor=scene.agent, inputs={"action": action})
            queued = list(scene.ticket.calls.order_by("pk").values_list("app", flat=True))
            assert queued[before:] == [app], action
