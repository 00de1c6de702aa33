"""Evidence belongs to the step, and each closing step accepts only its own closing codes.

"Customer confirms" (every transition guarded by `customer_reached`) needs an answered call made
in the current step: one from before a re-diagnosis or a round trip to Support does not count.
A closing step accepts, and the console and the API offer, only the codes of its row in the
golden SOP table (docs/sop-transitions.csv). Expected values come from the SOP and that table.
"""

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from tests import factories
from tests.tickets.test_sop_golden import golden_rows
from tickets import services
from tickets.exceptions import ConditionNotMet, InvalidInput
from tickets.flows.base import customer_reached
from tickets.forms import TransitionForm
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

NOT_REACHED = "The customer has not been reached yet: record an answered call first."


def snapshot(ticket) -> dict:
    """What a refusal must leave as it was, with the step's evidence fields."""
    row = factories.ticket_snapshot(ticket)
    row.update(
        Ticket.objects.filter(pk=ticket.pk)
        .values("last_answered_at", "state_changed_at", "closed_at")
        .get()
    )
    return row


def refused(scene, name: str, inputs: dict, error):
    before = snapshot(scene.ticket)
    with pytest.raises(error) as raised:
        scene.run(name, actor=scene.agent, inputs=inputs)
    assert snapshot(scene.ticket) == before
    return raised.value


def answered(scene) -> None:
    factories.record_calls(scene.hold(), scene.agent, "answered")
    scene.reload()


# --- Evidence belongs to the step ------------------------------------------------------------
# (flow, the moves back to verifying after the customer answered, the close and its code)
REDIAGNOSIS = {
    "nossa": (
        [
            ("not_restored", {"note": "Masih LOS"}),
            ("apply_remote_fix", {"action": "reboot"}),
            ("remote_fix_done", {}),
        ],
        {"closing_code": "FIXED_REMOTE"},
    ),
    "fresh_lapul": (
        [("not_fixed", {"note": "Masih putus-putus"}), ("verify", {})],
        {"closing_code": "FIXED"},
    ),
}


@pytest.mark.parametrize("flow", list(REDIAGNOSIS))
def test_an_answered_call_from_before_a_rediagnosis_does_not_close_the_ticket(flow):
    moves, close = REDIAGNOSIS[flow]
    scene = factories.flow_scene(flow)
    scene.walk_to("verifying")
    answered(scene)  # the customer says: still broken
    for name, inputs in moves:
        scene.run(name, actor=scene.agent, inputs=inputs)
    assert scene.ticket.state == "verifying"
    assert scene.ticket.last_contact_outcome == "answered"  # the old rule would have closed

    error = refused(scene, "close", close, ConditionNotMet)

    assert str(error.message) == NOT_REACHED


@pytest.mark.parametrize("flow", list(REDIAGNOSIS))
def test_a_new_answered_call_in_the_verifying_step_closes_it(flow):
    moves, close = REDIAGNOSIS[flow]
    scene = factories.flow_scene(flow)
    scene.walk_to("verifying")
    answered(scene)
    for name, inputs in moves:
        scene.run(name, actor=scene.agent, inputs=inputs)

    answered(scene)  # this step's call: the customer confirms
    ticket = scene.run("close", actor=scene.agent, inputs=close)

    assert (ticket.state, ticket.closing_code) == ("closed", close["closing_code"])


# Every "customer" step of the SOP, from the state where the call is made (its source).
CUSTOMER_STEPS = [
    ("callback", "contacting", "resolve_on_call", {"note": "Sudah dijelaskan"}),
    ("callback", "contacting", "create_nossa_ticket", {"note": "Internet mati"}),
    ("nossa", "verifying", "close", {"closing_code": "FIXED_REMOTE"}),
    ("gamas", "verifying", "close_recovered", {"closing_code": "GAMAS_RECOVERED"}),
    ("c4_caring", "contacting", "mark_cared", {}),
    ("c4_caring", "contacting", "report_issue", {"note": "Lambat tiap malam"}),
    ("force_close", "verifying", "confirm_ok", {}),
    ("force_close", "verifying", "report_not_ok", {"note": "Masih mati"}),
    ("fresh_lapul", "verifying", "close", {"closing_code": "FIXED"}),
    ("ideas", "contacting", "accept", {"offer_code": "OFFER-50M"}),
    ("ideas", "contacting", "decline", {}),
]
IDS = [f"{flow}:{state}:{name}" for flow, state, name, _inputs in CUSTOMER_STEPS]


def scene_in(flow: str, state: str):
    scene = factories.flow_scene(flow)
    scene.walk_to(state)
    scene.hold()
    if flow == "gamas":
        factories.set_facts(scene.ticket, ibooster={"status": "online"})
    if flow == "ideas":
        factories.set_facts(
            scene.ticket, epayment={"arrears_total": 0}, webcare={"offers": ["OFFER-50M"]}
        )
    scene.reload()
    return scene


@pytest.mark.parametrize(("flow", "state", "name", "inputs"), CUSTOMER_STEPS, ids=IDS)
def test_a_call_answered_before_a_round_trip_to_support_does_not_count(flow, state, name, inputs):
    scene = scene_in(flow, state)
    answered(scene)
    scene.run("escalate", actor=scene.agent, inputs={"reason": "Perlu cek jaringan"})
    scene.run("answer_escalation", actor=scene.support, inputs={"answer": "Jaringan normal"})
    assert scene.ticket.state == state

    error = refused(scene, name, inputs, ConditionNotMet)
    assert str(error.message) == NOT_REACHED

    answered(scene)  # called again in this step
    assert scene.run(name, actor=scene.agent, inputs=inputs).state != state


@pytest.mark.parametrize(("flow", "state", "name", "inputs"), CUSTOMER_STEPS, ids=IDS)
def test_a_call_answered_in_the_step_the_transition_leaves_counts(flow, state, name, inputs):
    scene = scene_in(flow, state)
    answered(scene)
    assert scene.run(name, actor=scene.agent, inputs=inputs).state != state


def test_a_failed_call_after_the_answered_one_leaves_the_customer_unconfirmed():
    scene = scene_in("nossa", "verifying")
    factories.record_calls(scene.ticket, scene.agent, "answered", "no_answer")
    error = refused(scene, "close", {"closing_code": "FIXED_REMOTE"}, ConditionNotMet)
    assert str(error.message) == NOT_REACHED


def test_rows_from_before_the_evidence_fields_existed():
    """None values: no state change recorded (an older row) counts any answered call recorded
    since; an "answered" outcome with no answered-call time (recorded before) counts for nothing."""
    agent = factories.agent_for("nossa")
    ticket = factories.put_in_state(
        factories.flow_ticket("nossa"), "verifying", assignee=agent, state_changed_at=None
    )
    older = factories.put_in_state(ticket, "verifying", last_contact_outcome="answered")
    assert (older.state_changed_at, older.last_answered_at) == (None, None)
    assert customer_reached(older) is False

    called = factories.record_calls(older, agent, "answered")
    assert called.state_changed_at is None and called.last_answered_at is not None
    assert customer_reached(called) is True

    moved_since = factories.put_in_state(
        called, "verifying", state_changed_at=called.last_answered_at + timedelta(seconds=1)
    )
    assert customer_reached(moved_since) is False


# --- Each closing step accepts only its own codes -------------------------------------------
# close_unreachable: the customer was not reached, so it cannot close as fixed or confirmed.
UNREACHABLE_CLOSES = [
    ("nossa", "FIXED_FIELD", "UNREACHABLE"),
    ("gamas", "GAMAS_RECOVERED", "UNREACHABLE"),
    ("force_close", "CONFIRMED_OK", "UNREACHABLE_ONLINE"),
    ("fresh_lapul", "FIXED", "UNREACHABLE"),
]


@pytest.mark.parametrize(("flow", "wrong", "own"), UNREACHABLE_CLOSES)
def test_close_unreachable_refuses_a_fix_code_as_invalid_input(flow, wrong, own):
    scene = factories.flow_scene(flow)
    scene.walk_to("verifying")
    close_unreachable = scene.machine.close_unreachable._django_fsm.get_transition("verifying")
    scene.prepare(close_unreachable)  # failed calls, Ibooster online

    error = refused(scene, "close_unreachable", {"closing_code": wrong}, InvalidInput)

    assert list(error.errors) == ["closing_code"]
    message = str(error.errors["closing_code"][0])
    assert own in message and wrong not in message
    ticket = scene.run("close_unreachable", actor=scene.agent, inputs={"closing_code": own})
    assert (ticket.state, ticket.closing_code) == ("closed", own)


CLOSING_ROWS = [row for row in golden_rows() if row.codes and row.flow != "gamas_incident"]


def option_of(scene, name: str):
    options = {
        option.name: option for option in services.available_transitions(scene.ticket, scene.agent)
    }
    return options[name]


@pytest.mark.parametrize(
    "row", CLOSING_ROWS, ids=[f"{r.flow}:{r.source}:{r.transition}" for r in CLOSING_ROWS]
)
def test_the_console_form_and_the_api_offer_only_the_steps_own_codes(row):
    scene = factories.flow_scene(row.flow)
    scene.walk_to(row.source)
    scene.hold()

    form = TransitionForm(machine=scene.ticket, option=option_of(scene, row.transition))
    offered = [code for code, _label in form.fields["closing_code"].choices if code]
    assert sorted(offered) == list(row.codes)

    api = APIClient()
    api.force_authenticate(scene.agent)
    body = api.get(f"/api/tickets/{scene.ticket.pk}/transitions/").json()
    (option,) = [item for item in body if item["name"] == row.transition]
    (code_input,) = [item for item in option["inputs"] if item["name"] == "closing_code"]
    assert sorted(choice["value"] for choice in code_input["choices"]) == list(row.codes)
