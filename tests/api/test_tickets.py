"""The ticket resource: queue list, detail, transitions and the records on a ticket."""

import pytest

from integrations.models import AdapterCall, CallStatus
from tests import factories
from tickets.models import ContactAttempt, EscalationStatus, Note, Ticket

pytestmark = pytest.mark.django_db


def transition(client, ticket, name, **body):
    return client.post(
        f"/api/tickets/{ticket.pk}/transitions/", {"name": name, **body}, format="json"
    )


def names(response) -> list[str]:
    return [option["name"] for option in response.json()["available_transitions"]]


@pytest.fixture
def scene():
    return factories.flow_scene("nossa")


# --- List -------------------------------------------------------------------------------------
def test_agent_lists_only_tickets_of_their_flows_at_their_site(api, supervisor_user):
    mine = factories.flow_ticket("nossa")
    other_site = factories.flow_ticket("nossa", site_code="MLG")
    other_flow = factories.flow_ticket("ideas")
    agent = factories.agent_for("nossa")

    seen = {row["id"] for row in api(agent).get("/api/tickets/").json()["results"]}
    assert seen == {mine.pk}
    everything = api(supervisor_user).get("/api/tickets/").json()["results"]
    assert {row["id"] for row in everything} == {mine.pk, other_site.pk, other_flow.pk}


def test_list_uses_the_console_queue_filters(api, supervisor_user):
    nossa = factories.flow_ticket("nossa")
    ideas = factories.flow_ticket("ideas")
    client = api(supervisor_user)

    assert [row["id"] for row in client.get("/api/tickets/?flow=ideas").json()["results"]] == [
        ideas.pk
    ]
    by_number = client.get(f"/api/tickets/?q={nossa.service.service_number}").json()
    assert [row["id"] for row in by_number["results"]] == [nossa.pk]
    by_ticket = client.get(f"/api/tickets/?q={nossa.number}").json()
    assert [row["id"] for row in by_ticket["results"]] == [nossa.pk]
    assert client.get("/api/tickets/?state=closed").json()["results"] == []


def test_list_pages_newest_first_by_cursor(api, supervisor_user):
    created = [factories.flow_ticket("nossa").pk for _ in range(5)]
    client = api(supervisor_user)

    seen, url = [], "/api/tickets/?page_size=2"
    while url:
        page = client.get(url).json()
        assert len(page["results"]) <= 2
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert seen == sorted(created, reverse=True)


def test_a_bad_filter_value_is_400_with_the_field_named(api, supervisor_user):
    response = api(supervisor_user).get("/api/tickets/?flow=teleport&priority=9")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "ValidationError"
    assert set(body["errors"]) == {"flow", "priority"}


@pytest.mark.parametrize("cursor", ["not-a-cursor", "cD1hYmM=", "cD0xZTk5OTk5OTk5OTk5OTk5OTk5OQ=="])
def test_a_forged_cursor_is_404_not_a_crash(api, supervisor_user, cursor):
    factories.flow_ticket("nossa")
    response = api(supervisor_user).get(f"/api/tickets/?cursor={cursor}")
    assert response.status_code == 404
    assert response.json()["code"] == "NotFound"


@pytest.mark.parametrize("query", ["assignee=²", "q=T2-²", "q=²³", "assignee=99999999999999999999"])
def test_odd_digits_in_filters_find_nothing_instead_of_failing(api, supervisor_user, query):
    factories.flow_ticket("nossa")
    response = api(supervisor_user).get(f"/api/tickets/?{query}")
    assert response.status_code == 200
    assert response.json()["results"] == []


# --- Detail -----------------------------------------------------------------------------------
def test_detail_has_customer_available_transitions_and_timeline(api, scene):
    response = api(scene.agent).get(f"/api/tickets/{scene.ticket.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["number"] == scene.ticket.number
    assert body["service"]["service_number"] == scene.ticket.service.service_number
    assert body["service"]["customer"]["name"] == scene.ticket.service.customer.name
    assert body["available_transitions"] == [
        {
            "name": "claim",
            "label": "Take",
            "target": "claimed",
            "inputs": [],
            "allowed": True,
            "blocked_reason": "",
        }
    ]
    assert [entry["title"] for entry in body["timeline"]] == ["arrive"]


def test_closing_inputs_list_the_flows_closing_codes(api, scene):
    scene.walk_to("verifying")
    body = api(scene.agent).get(f"/api/tickets/{scene.ticket.pk}/transitions/").json()
    close = next(option for option in body if option["name"] == "close")
    code_input = next(item for item in close["inputs"] if item["name"] == "closing_code")
    assert {choice["value"] for choice in code_input["choices"]} >= {"FIXED_REMOTE", "FIXED_FIELD"}
    assert close["allowed"] is False  # the customer has not been reached yet
    assert "customer" in close["blocked_reason"]


def test_an_agent_opening_a_ticket_of_another_site_gets_403(api, scene):
    elsewhere = factories.flow_ticket("nossa", site_code="MLG")
    response = api(scene.agent).get(f"/api/tickets/{elsewhere.pk}/")
    assert response.status_code == 403
    assert response.json()["code"] == "TransitionForbidden"


def test_an_unknown_ticket_is_404(api, scene):
    for url in ("/api/tickets/999999/", "/api/tickets/999999999999999999/"):
        response = api(scene.agent).get(url)
        assert response.status_code == 404
        assert response.json()["code"] == "NotFound"
    assert api(scene.agent).get("/api/tickets/abc/").status_code == 404


# --- Transitions ------------------------------------------------------------------------------
def test_a_transition_moves_the_ticket_and_answers_the_new_transitions(api, scene):
    client = api(scene.agent)

    claimed = transition(client, scene.ticket, "claim", expected_state="new")
    assert claimed.status_code == 200
    assert claimed.json()["state"] == "claimed"
    assert "start_diagnosis" in names(claimed)

    diagnosing = transition(client, scene.ticket, "start_diagnosis")
    assert diagnosing.json()["state"] == "diagnosing"
    fixing = transition(
        client, scene.ticket, "apply_remote_fix", inputs={"action": "reboot", "note": "ONT"}
    )
    assert fixing.status_code == 200
    assert fixing.json()["state"] == "remote_fix"
    assert names(fixing) == ["escalate", "remote_fix_done"]
    assert factories.replay_log(scene.ticket) == ["new", "claimed", "diagnosing", "remote_fix"]


def test_a_missing_input_is_400_naming_the_input(api, scene):
    scene.walk_to("diagnosing")
    before = factories.ticket_snapshot(scene.ticket)

    response = transition(api(scene.agent), scene.ticket, "apply_remote_fix", inputs={})

    assert response.status_code == 400
    assert response.json()["code"] == "InvalidInput"
    assert "action" in response.json()["errors"]
    assert factories.ticket_snapshot(scene.ticket) == before


def test_a_choice_outside_the_list_is_400(api, scene):
    scene.walk_to("diagnosing")
    response = transition(
        api(scene.agent), scene.ticket, "apply_remote_fix", inputs={"action": "hammer"}
    )
    assert response.status_code == 400
    assert response.json()["errors"]["action"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "start_diagnosis", "inputs": ["note"]},
        {"name": "start_diagnosis", "inputs": {"note": ["a", "b"]}},
        {"name": "start_diagnosis", "inputs": {"note": "nul \x00 byte"}},
        {"name": "x" * 49},
    ],
)
def test_a_malformed_transition_request_is_400_with_field_messages(api, scene, body):
    scene.hold()
    response = api(scene.agent).post(
        f"/api/tickets/{scene.ticket.pk}/transitions/", body, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "ValidationError"
    assert response.json()["errors"]


def test_an_unknown_transition_is_409_with_the_reason(api, scene):
    scene.hold()
    response = transition(api(scene.agent), scene.ticket, "teleport")
    assert response.status_code == 409
    assert response.json()["code"] == "TransitionNotAllowed"
    assert "teleport" in response.json()["detail"]


def test_a_transition_from_the_wrong_state_is_409_with_the_current_state(api, scene):
    scene.hold()
    response = transition(api(scene.agent), scene.ticket, "close", inputs={"closing_code": "X"})
    assert response.status_code == 409
    assert response.json()["code"] == "TransitionNotAllowed"
    assert response.json()["current_state"] == "claimed"


def test_a_concurrent_change_is_409_and_changes_nothing(api, scene):
    scene.walk_to("diagnosing")
    before = factories.ticket_snapshot(scene.ticket)

    response = transition(
        api(scene.agent), scene.ticket, "escalate_to_field", inputs={"note": "Field"},
        expected_state="claimed",
    )  # fmt: skip

    assert response.status_code == 409
    assert response.json() == {
        "detail": "The ticket was changed by someone else. Reload to see its state now.",
        "code": "ConcurrentChange",
        "current_state": "diagnosing",
    }
    assert factories.ticket_snapshot(scene.ticket) == before


def test_an_unmet_condition_is_409_with_the_rule(api, scene):
    scene.walk_to("verifying")
    response = transition(
        api(scene.agent), scene.ticket, "close", inputs={"closing_code": "FIXED_REMOTE"}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "ConditionNotMet"


def test_another_agent_cannot_move_a_ticket_they_do_not_hold(api, scene):
    scene.hold()
    response = transition(api(scene.other_agent), scene.ticket, "start_diagnosis")
    assert response.status_code == 403
    assert response.json()["code"] == "TransitionForbidden"


def test_support_answers_an_escalation_through_the_transitions(api, scene):
    scene.walk_to("diagnosing")
    escalated = transition(api(scene.agent), scene.ticket, "escalate", inputs={"reason": "ACS?"})
    assert escalated.json()["state"] == "escalated"

    answered = transition(
        api(scene.support), scene.ticket, "answer_escalation", inputs={"answer": "Reboot it"}
    )

    assert answered.status_code == 200
    assert answered.json()["state"] == "diagnosing"
    assert scene.ticket.escalations.get().status == EscalationStatus.ANSWERED


# --- Claiming ---------------------------------------------------------------------------------
def test_next_ticket_claims_the_most_urgent_and_then_says_the_queue_is_empty(api, scene):
    client = api(scene.agent)

    response = client.post("/api/tickets/next/")
    assert response.status_code == 200
    assert response.json()["id"] == scene.ticket.pk
    assert response.json()["assignee"] == scene.agent.pk

    empty = client.post("/api/tickets/next/")
    assert empty.status_code == 404
    assert empty.json()["code"] == "NoTicketAvailable"


def test_only_agents_take_the_next_ticket(api, supervisor_user):
    response = api(supervisor_user).post("/api/tickets/next/")
    assert response.status_code == 403


def test_a_second_agent_cannot_claim_a_claimed_ticket(api, scene):
    assert api(scene.agent).post(f"/api/tickets/{scene.ticket.pk}/claim/").status_code == 200

    response = api(scene.other_agent).post(f"/api/tickets/{scene.ticket.pk}/claim/")

    assert response.status_code == 409
    assert response.json()["code"] == "TicketAlreadyClaimed"
    assert response.json()["assignee"] == scene.agent.username


def test_a_supervisor_releases_and_reassigns(api, scene):
    scene.hold()
    client = api(scene.supervisor)

    released = client.post(f"/api/tickets/{scene.ticket.pk}/release/", {"note": "Break"})
    assert released.status_code == 200
    assert released.json()["assignee"] is None
    assert released.json()["awaiting_agent"] is True

    again = client.post(f"/api/tickets/{scene.ticket.pk}/release/")
    assert again.status_code == 409

    reassigned = client.post(
        f"/api/tickets/{scene.ticket.pk}/reassign/", {"agent": scene.other_agent.pk}
    )
    assert reassigned.status_code == 200
    assert reassigned.json()["assignee"] == scene.other_agent.pk


def test_reassigning_to_an_agent_of_another_flow_is_400(api, scene):
    ideas_agent = factories.agent_for("ideas")
    client = api(scene.supervisor)

    wrong_flow = client.post(f"/api/tickets/{scene.ticket.pk}/reassign/", {"agent": ideas_agent.pk})
    assert wrong_flow.status_code == 400
    assert "agent" in wrong_flow.json()["errors"]

    unknown = client.post(f"/api/tickets/{scene.ticket.pk}/reassign/", {"agent": 987654})
    assert unknown.status_code == 400
    assert "agent" in unknown.json()["errors"]


def test_agents_cannot_release_or_reassign(api, scene):
    scene.hold()
    client = api(scene.agent)
    assert client.post(f"/api/tickets/{scene.ticket.pk}/release/").status_code == 403
    response = client.post(
        f"/api/tickets/{scene.ticket.pk}/reassign/", {"agent": scene.other_agent.pk}
    )
    assert response.status_code == 403


# --- Notes, contact attempts, escalations, calls ----------------------------------------------
def test_the_holding_agent_adds_and_reads_notes(api, scene):
    scene.hold()
    client = api(scene.agent)

    created = client.post(f"/api/tickets/{scene.ticket.pk}/notes/", {"text": "Called twice"})
    assert created.status_code == 201
    assert created.json()["author"] == scene.agent.username
    listed = client.get(f"/api/tickets/{scene.ticket.pk}/notes/").json()
    assert [note["text"] for note in listed] == ["Called twice"]

    blank = client.post(f"/api/tickets/{scene.ticket.pk}/notes/", {"text": ""})
    assert blank.status_code == 400
    assert "text" in blank.json()["errors"]


def test_an_agent_not_holding_the_ticket_cannot_add_notes(api, scene):
    scene.hold()
    response = api(scene.other_agent).post(f"/api/tickets/{scene.ticket.pk}/notes/", {"text": "Hi"})
    assert response.status_code == 403
    assert not Note.objects.exists()


def test_contact_attempts_are_recorded_and_counted(api, scene):
    scene.hold()
    client = api(scene.agent)

    response = client.post(
        f"/api/tickets/{scene.ticket.pk}/contact-attempts/", {"outcome": "no_answer"}
    )

    assert response.status_code == 201
    assert response.json()["phone"] == scene.ticket.service.customer.phone
    assert Ticket.objects.get(pk=scene.ticket.pk).failed_attempts == 1
    listed = client.get(f"/api/tickets/{scene.ticket.pk}/contact-attempts/").json()
    assert [item["outcome"] for item in listed] == ["no_answer"]


def test_a_bad_outcome_or_a_stale_state_records_no_call(api, scene):
    scene.hold()
    client = api(scene.agent)
    bad = client.post(f"/api/tickets/{scene.ticket.pk}/contact-attempts/", {"outcome": "maybe"})
    assert bad.status_code == 400
    assert "outcome" in bad.json()["errors"]
    stale = client.post(
        f"/api/tickets/{scene.ticket.pk}/contact-attempts/",
        {"outcome": "busy", "expected_state": "new"},
    )
    assert stale.status_code == 409
    assert not ContactAttempt.objects.exists()
    other = api(scene.other_agent).post(
        f"/api/tickets/{scene.ticket.pk}/contact-attempts/", {"outcome": "busy"}
    )
    assert other.status_code == 403


def test_escalations_on_the_ticket_and_on_the_support_desk(api, scene):
    scene.escalate_from("diagnosing")
    elsewhere = factories.flow_scene("ideas")
    elsewhere.escalate_from("checking_offer")

    on_ticket = api(scene.agent).get(f"/api/tickets/{scene.ticket.pk}/escalations/").json()
    assert [item["reason"] for item in on_ticket] == ["Needs Support"]

    desk = api(scene.support).get("/api/escalations/?status=open").json()
    assert {item["ticket"] for item in desk["results"]} == {scene.ticket.pk, elsewhere.ticket.pk}
    assert desk["results"][0]["waiting_minutes"] >= 0

    agent_view = api(scene.agent).get("/api/escalations/").json()
    assert {item["ticket"] for item in agent_view["results"]} == {scene.ticket.pk}
    assert api(scene.support).get("/api/escalations/?status=maybe").status_code == 400


def test_calls_are_listed_and_a_failed_one_is_retried(
    api, scene, django_capture_on_commit_callbacks
):
    scene.walk_to("diagnosing")
    calls = api(scene.agent).get(f"/api/tickets/{scene.ticket.pk}/calls/").json()
    assert {(call["app"], call["operation"]) for call in calls} >= {("acs", "diagnose")}
    failed = AdapterCall.objects.filter(ticket=scene.ticket).first()
    AdapterCall.objects.filter(pk=failed.pk).update(
        status=CallStatus.FAILED, attempts=4, error="timeout"
    )

    with django_capture_on_commit_callbacks() as dispatched:
        response = api(scene.agent).post(f"/api/calls/{failed.pk}/retry/")

    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    assert response.json()["attempts"] == 0
    assert len(dispatched) == 1
    assert scene.ticket.transitions.filter(transition="retry_call").count() == 1

    again = api(scene.agent).post(f"/api/calls/{failed.pk}/retry/")
    assert again.status_code == 409
    assert again.json()["current_state"] == "pending"


def test_only_the_holder_support_or_supervisors_retry_a_call(api, scene):
    scene.walk_to("diagnosing")
    call = AdapterCall.objects.filter(ticket=scene.ticket).first()
    AdapterCall.objects.filter(pk=call.pk).update(status=CallStatus.FAILED)

    assert api(scene.other_agent).post(f"/api/calls/{call.pk}/retry/").status_code == 403
    assert api(scene.supervisor).post(f"/api/calls/{call.pk}/retry/").status_code == 202
    assert api(scene.agent).post("/api/calls/987654/retry/").status_code == 404
    outsider = factories.agent_for("ideas")
    assert api(outsider).get(f"/api/calls/{call.pk}/").status_code == 404
