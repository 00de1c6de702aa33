"""Bad input in every console form: explained next to the field, and nothing changed."""

import re

import pytest

from integrations.models import AdapterCall
from tests import factories
from tests.console.conftest import in_state, nossa_ticket, taken
from tickets import services
from tickets.exceptions import InvalidInput
from tickets.forms import NoteForm, TransitionForm
from tickets.models import GamasIncident
from tickets.views.mixins import form_errors

pytestmark = pytest.mark.django_db

REQUIRED = "This field is required."


def field_errors(response, form_id_prefix: str) -> dict[str, list[str]]:
    """The errors the page shows beside each field of the re-rendered form."""
    page = response.content.decode()
    found = {}
    for block in page.split('<div class="field')[1:]:
        if not block.startswith(' has-error">'):
            continue
        name = re.search(rf'name="{form_id_prefix}-(\w+)"', block)
        messages = re.findall(r'<p class="field-error" role="alert">(.*?)</p>', block)
        if name:
            found[name.group(1)] = messages
    return found


def post_action(client, ticket, name, **fields):
    data = {f"{name}-expected_state": factories.reload(ticket).state}
    data.update({f"{name}-{key}": value for key, value in fields.items()})
    return client.post(f"/tickets/{ticket.pk}/actions/{name}/", data)


def assert_refused_unchanged(response, ticket, before):
    assert response.status_code == 422
    assert "Check the highlighted fields." in response.content.decode()
    assert factories.ticket_snapshot(ticket) == before


@pytest.mark.parametrize(
    ("state", "action", "fields", "field", "message"),
    [
        ("diagnosing", "escalate", {}, "reason", REQUIRED),
        ("diagnosing", "escalate", {"reason": "   "}, "reason", REQUIRED),
        ("diagnosing", "escalate", {"reason": "x" * 4001}, "reason", "at most 4000 characters"),
        ("diagnosing", "escalate_to_field", {}, "note", REQUIRED),
        ("diagnosing", "apply_remote_fix", {"action": "explode"}, "action", "Select a valid"),
        ("diagnosing", "apply_remote_fix", {}, "action", REQUIRED),
        ("diagnosing", "link_to_gamas", {"incident": "999"}, "incident", "Select a valid"),
        ("verifying", "not_restored", {}, "note", REQUIRED),
    ],
)
def test_transition_form_bad_input_is_explained_next_to_the_field(
    agent_client, agent, state, action, fields, field, message
):
    ticket = in_state(nossa_ticket(), agent, state)
    before = factories.ticket_snapshot(ticket)

    response = post_action(agent_client, ticket, action, **fields)

    assert_refused_unchanged(response, ticket, before)
    errors = field_errors(response, action)
    assert field in errors, errors
    assert any(message in text for text in errors[field]), errors[field]
    assert f'<details class="action with-form" open id="action-{action}">' in (
        response.content.decode()
    )


@pytest.mark.parametrize(
    ("action", "code"),
    [
        ("close", "CARED"),  # another flow's code
        ("close", "UNREACHABLE"),  # the flow's, but not for a customer-confirmed close
        ("close_unreachable", "FIXED_FIELD"),  # the flow's, but the customer was not reached
    ],
)
def test_closing_code_must_be_one_of_the_closing_steps_own(
    agent_client, agent, settings, action, code
):
    ticket = in_state(taken(nossa_ticket(), agent), agent, "verifying")
    if action == "close":  # the customer confirms on a call in this step
        ticket = factories.record_calls(ticket, agent, "answered")
    else:  # nobody answers, and Ibooster shows the line online
        ticket = factories.record_calls(
            ticket, agent, *["no_answer"] * settings.TIER2_MAX_CONTACT_ATTEMPTS
        )
        ticket = factories.set_facts(ticket, ibooster={"status": "online"})
    before = factories.ticket_snapshot(ticket)

    response = post_action(agent_client, ticket, action, closing_code=code)

    assert_refused_unchanged(response, ticket, before)
    assert "Select a valid choice" in field_errors(response, action)["closing_code"][0]


def test_a_closed_gamas_incident_cannot_be_linked(agent_client, agent, supervisor):
    incident = factories.open_gamas(actor=supervisor)
    GamasIncident.objects.filter(pk=incident.pk).update(state="closed")
    ticket = in_state(nossa_ticket(), agent, "diagnosing")
    before = factories.ticket_snapshot(ticket)

    response = post_action(agent_client, ticket, "link_to_gamas", incident=str(incident.pk))

    assert_refused_unchanged(response, ticket, before)
    assert "incident" in field_errors(response, "link_to_gamas")


def test_an_offer_webcare_did_not_return_is_refused(client):
    agent = factories.agent(flows=("ideas",), username="agent.ideas")
    ticket = factories.flow_ticket("ideas")
    ticket = in_state(ticket, agent, "contacting")
    ticket = factories.record_calls(ticket, agent, "answered")  # in this step: accept is open
    ticket = factories.set_facts(
        ticket,
        epayment={"arrears_total": 0, "months_unpaid": 0},
        webcare=[{"code": "UPG-50M", "name": "Upgrade 50 Mbps", "monthly_price_idr": 30000}],
    )
    client.force_login(agent)
    before = factories.ticket_snapshot(ticket)

    page = client.get(f"/tickets/{ticket.pk}/").content.decode()
    assert "Upgrade 50 Mbps (+Rp 30.000)" in page
    response = post_action(client, ticket, "accept", offer_code="FREE-TV")

    assert_refused_unchanged(response, ticket, before)
    assert "offer_code" in field_errors(response, "accept")


def test_the_services_field_errors_land_next_to_the_field(agent_client, agent, monkeypatch):
    """A rule only the service knows (InvalidInput) is shown like the form's own errors."""
    ticket = in_state(nossa_ticket(), agent, "diagnosing")
    before = factories.ticket_snapshot(ticket)

    def refuse(**kwargs):
        raise InvalidInput({"reason": ["Tell Support what you already tried."]})

    monkeypatch.setattr(services, "transition_ticket", refuse)
    response = post_action(agent_client, ticket, "escalate", reason="Tolong")

    assert_refused_unchanged(response, ticket, before)
    assert field_errors(response, "escalate") == {
        "reason": ["Tell Support what you already tried."]
    }


def test_form_errors_puts_unknown_fields_on_the_form():
    form = NoteForm({"note-text": "ok"})
    assert form.is_valid()

    with form_errors(form):
        raise InvalidInput({"text": ["Too rude."], "agent": ["Not this agent."]})

    assert form.errors["text"] == ["Too rude."]
    assert form.non_field_errors() == ["Not this agent."]


def test_transition_form_fields_follow_the_declared_inputs(agent):
    ticket = in_state(nossa_ticket(), agent, "verifying")
    options = {o.name: o for o in services.available_transitions(ticket, agent)}

    form = TransitionForm(machine=ticket, option=options["close"])

    assert list(form.fields) == ["expected_state", "closing_code", "note"]
    assert form.fields["closing_code"].required and not form.fields["note"].required
    # SOP table (docs/sop-transitions.csv): the customer confirms, so a fix code, never
    # "unreachable" (that is close_unreachable's only code).
    assert [code for code, _label in form.fields["closing_code"].choices][1:] == [
        "FIXED_REMOTE", "FIXED_FIELD", "GAMAS_RECOVERED", "CUSTOMER_SIDE",
    ]  # fmt: skip
    unreachable = TransitionForm(machine=ticket, option=options["close_unreachable"])
    assert unreachable.fields["closing_code"].choices[1:] == [
        ("UNREACHABLE", "Customer unreachable, service online")
    ]
    assert form.initial["expected_state"] == "verifying"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({}, "outcome", REQUIRED),
        ({"contact-outcome": "hung_up"}, "outcome", "Select a valid choice"),
        ({"contact-outcome": "busy", "contact-note": "x" * 4001}, "note", "at most 4000"),
    ],
)
def test_contact_attempt_bad_input(agent_client, agent, data, field, message):
    ticket = in_state(nossa_ticket(), agent, "verifying")
    before = factories.ticket_snapshot(ticket)

    response = agent_client.post(
        f"/tickets/{ticket.pk}/contact/", {"contact-expected_state": "verifying", **data}
    )

    assert_refused_unchanged(response, ticket, before)
    errors = field_errors(response, "contact")
    assert any(message in text for text in errors[field]), errors


def test_contact_attempt_missing_page_state_is_explained(agent_client, agent):
    ticket = in_state(nossa_ticket(), agent, "verifying")

    response = agent_client.post(f"/tickets/{ticket.pk}/contact/", {"contact-outcome": "busy"})

    assert response.status_code == 422
    assert REQUIRED in response.content.decode()
    assert factories.reload(ticket).failed_attempts == 0


@pytest.mark.parametrize(
    ("text", "message"), [("", REQUIRED), ("   ", REQUIRED), ("x" * 4001, "at most 4000")]
)
def test_note_bad_input(agent_client, agent, text, message):
    ticket = taken(nossa_ticket(), agent)

    response = agent_client.post(f"/tickets/{ticket.pk}/notes/", {"note-text": text})

    assert response.status_code == 422
    assert any(message in error for error in field_errors(response, "note")["text"])
    assert not ticket.notes.exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"area_level": "odp", "area_code": "ODP-1"}, "title"),
        ({"title": "Kabel putus", "area_level": "rt", "area_code": "ODP-1"}, "area_level"),
        ({"title": "Kabel putus", "area_level": "odp"}, "area_code"),
    ],
)
def test_open_incident_bad_input(client, supervisor, data, field):
    client.force_login(supervisor)

    response = client.post("/incidents/new/", data)

    assert response.status_code == 422
    page = response.content.decode()
    assert f'name="{field}"' in page and 'class="field-error"' in page
    assert not GamasIncident.objects.exists()


def test_bulk_form_bad_input(client, supervisor):
    incident = factories.open_gamas(actor=supervisor, area_level="sto", area_code="STO-KBL")
    child = factories.arrive("gamas")
    client.force_login(supervisor)
    url = f"/incidents/{incident.pk}/bulk/"

    nothing_ticked = client.post(url, {"action": "release"})
    no_agent = client.post(url, {"action": "assign", "tickets": [child.pk]})
    bad_action = client.post(url, {"action": "delete", "tickets": [child.pk]})

    assert "Select at least one ticket." in nothing_ticked.content.decode()
    assert "Choose the agent to assign the tickets to." in no_agent.content.decode()
    assert "Select a valid choice" in bad_action.content.decode()
    assert {r.status_code for r in (nothing_ticked, no_agent, bad_action)} == {422}
    assert factories.reload(child).assignee is None


def test_incident_action_bad_input(client, supervisor):
    incident = factories.open_gamas(actor=supervisor)
    GamasIncident.objects.filter(pk=incident.pk).update(state="recovered")
    client.force_login(supervisor)

    response = client.post(
        f"/incidents/{incident.pk}/actions/close/",
        {"close-expected_state": "recovered", "close-closing_code": "NOPE"},
    )

    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()
    assert GamasIncident.objects.get(pk=incident.pk).state == "recovered"
    assert not AdapterCall.objects.exists()
