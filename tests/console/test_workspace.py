"""The ticket workspace: what it shows, who may open it, and actions from stale pages."""

import pytest
from django.test import Client
from django.utils import timezone

from tests import factories
from tests.console.conftest import in_state, nossa_ticket, taken
from tickets import services
from tickets.models import Escalation, Ticket

pytestmark = pytest.mark.django_db


def page_of(response) -> str:
    return response.content.decode()


def action_names(response) -> list[str]:
    return [action["option"].name for action in response.context["actions"]]


def test_workspace_shows_header_sop_step_and_the_holders_actions(agent_client, agent):
    ticket = taken(nossa_ticket(), agent)

    response = agent_client.get(f"/tickets/{ticket.pk}/")

    page = page_of(response)
    assert response.status_code == 200
    assert ticket.number in page and "NOSSA" in page
    assert 'data-state="claimed"' in page
    assert "The ticket is taken in NOSSA; start the diagnosis." in page
    assert 'class="owner">agent.pusat<' in page
    assert f'data-deadline="{ticket.resolve_by.isoformat()}"' in page  # the live SLA clock
    assert sorted(action_names(response)) == ["escalate", "start_diagnosis"]
    assert 'id="contact-form"' in page and 'id="note-form"' in page
    assert f'hx-get="/tickets/{ticket.pk}/panel/"' in page  # the customer panel loads after
    assert f'hx-get="/tickets/{ticket.pk}/articles/"' in page


def test_each_action_asks_only_for_its_inputs(agent_client, agent):
    ticket = in_state(nossa_ticket(), agent, "diagnosing")

    response = agent_client.get(f"/tickets/{ticket.pk}/")

    forms = {action["option"].name: action["form"] for action in response.context["actions"]}
    assert set(forms["apply_remote_fix"].fields) == {"expected_state", "action", "note"}
    assert set(forms["escalate_to_field"].fields) == {"expected_state", "note"}
    assert set(forms["escalate"].fields) == {"expected_state", "reason"}
    assert set(forms["link_to_gamas"].fields) == {"expected_state", "incident", "note"}


def test_a_blocked_action_says_why(agent_client, agent):
    ticket = in_state(nossa_ticket(), agent, "verifying")

    page = page_of(agent_client.get(f"/tickets/{ticket.pk}/"))

    assert 'id="why-close"' in page
    assert "The customer has not been reached yet: record an answered call first." in page


def test_waiting_ticket_offers_take_and_taking_it_makes_it_yours(agent_client, agent):
    ticket = nossa_ticket()

    page = page_of(agent_client.get(f"/tickets/{ticket.pk}/"))
    assert 'id="take-button"' in page

    response = agent_client.post(f"/tickets/{ticket.pk}/take/", follow=True)

    assert factories.reload(ticket).assignee == agent
    assert f"{ticket.number} is yours now." in page_of(response)


def test_second_agent_cannot_take_a_taken_ticket_and_is_told_who(client, agent, other_agent):
    ticket = taken(nossa_ticket(), agent)
    client.force_login(other_agent)

    response = client.post(f"/tickets/{ticket.pk}/take/", follow=True)

    page = page_of(response)
    assert response.status_code == 200
    assert "agent.pusat has already taken this ticket." in page
    assert "Held by agent.pusat" in page
    assert 'id="take-button"' not in page
    assert factories.reload(ticket).assignee == agent


def test_agent_opening_a_ticket_of_a_flow_they_do_not_work_is_refused(agent_client):
    ticket = factories.arrive("force_close")

    response = agent_client.get(f"/tickets/{ticket.pk}/")

    assert response.status_code == 403
    assert "You are not allowed to do this on this ticket." in page_of(response)


def test_pusat_agent_opening_a_c4_caring_ticket_is_refused(client):
    pusat_agent = factories.agent(site_code="PST", flows=("c4_caring",), username="pst.c4")
    ticket = factories.flow_ticket("c4_caring")
    client.force_login(pusat_agent)

    response = client.get(f"/tickets/{ticket.pk}/")

    assert response.status_code == 403
    assert "C4 Caring" in page_of(response)


def test_malang_agent_opens_the_c4_caring_ticket(client):
    malang_agent = factories.agent(site_code="MLG", flows=("c4_caring",), username="mlg.c4")
    ticket = factories.flow_ticket("c4_caring")
    client.force_login(malang_agent)

    assert client.get(f"/tickets/{ticket.pk}/").status_code == 200


def test_refused_actions_on_a_ticket_one_cannot_see_are_refused_without_change(agent_client):
    ticket = factories.arrive("force_close")
    before = factories.ticket_snapshot(ticket)

    for url in (
        f"/tickets/{ticket.pk}/take/",
        f"/tickets/{ticket.pk}/actions/start_verification/",
        f"/tickets/{ticket.pk}/contact/",
        f"/tickets/{ticket.pk}/notes/",
        f"/tickets/{ticket.pk}/panel/refresh/",
    ):
        response = agent_client.post(url, {"note-text": "x", "contact-outcome": "answered"})
        assert response.status_code in (302, 403), url
    assert agent_client.get(f"/tickets/{ticket.pk}/panel/").status_code == 403
    assert factories.ticket_snapshot(ticket) == before


def test_missing_ticket_is_not_found(agent_client):
    assert agent_client.get("/tickets/999999/").status_code == 404
    assert agent_client.post("/tickets/999999/actions/escalate/").status_code == 404


def test_stale_page_action_is_refused_with_a_message_and_the_fresh_state(agent_client, agent):
    ticket = taken(nossa_ticket(), agent)
    services.transition_ticket(ticket_id=ticket.pk, name="start_diagnosis", actor=agent)
    before = factories.ticket_snapshot(ticket)

    # The page still showed "claimed": its Start diagnosis button is pressed again.
    response = agent_client.post(
        f"/tickets/{ticket.pk}/actions/start_diagnosis/",
        {"start_diagnosis-expected_state": "claimed"},
        follow=True,
    )

    page = page_of(response)
    assert response.status_code == 200
    assert response.redirect_chain == [(f"/tickets/{ticket.pk}/", 302)]
    assert "Someone else changed this while you were looking at it" in page
    assert "“Diagnosing”" in page
    assert 'data-state="diagnosing"' in page
    assert factories.ticket_snapshot(ticket) == before


def test_stale_page_action_that_is_still_offered_is_refused_too(agent_client, agent):
    """Escalate is open from claimed and from diagnosing: the stale page's state decides."""
    ticket = taken(nossa_ticket(), agent)
    services.transition_ticket(ticket_id=ticket.pk, name="start_diagnosis", actor=agent)

    response = agent_client.post(
        f"/tickets/{ticket.pk}/actions/escalate/",
        {"escalate-expected_state": "claimed", "escalate-reason": "ONT mati"},
        follow=True,
    )

    assert "Someone else changed this" in page_of(response)
    assert factories.reload(ticket).state == "diagnosing"
    assert not Escalation.objects.filter(ticket=ticket).exists()


def test_stale_contact_attempt_is_refused(agent_client, agent):
    ticket = in_state(nossa_ticket(), agent, "verifying")

    response = agent_client.post(
        f"/tickets/{ticket.pk}/contact/",
        {"contact-expected_state": "diagnosing", "contact-outcome": "answered"},
        follow=True,
    )

    assert "Someone else changed this" in page_of(response)
    assert factories.reload(ticket).last_contact_outcome == ""


def test_posting_a_blocked_action_anyway_gets_the_rule_as_a_message(agent_client, agent):
    ticket = in_state(nossa_ticket(), agent, "verifying")

    response = agent_client.post(
        f"/tickets/{ticket.pk}/actions/close/",
        {"close-expected_state": "verifying", "close-closing_code": "FIXED_REMOTE"},
        follow=True,
    )

    assert "record an answered call first" in page_of(response)
    assert factories.reload(ticket).state == "verifying"


def test_an_action_that_does_not_exist_is_a_message_not_a_500(agent_client, agent):
    ticket = taken(nossa_ticket(), agent)

    for name in ("explode", "_apply", "save"):
        response = agent_client.post(
            f"/tickets/{ticket.pk}/actions/{name}/",
            {f"{name}-expected_state": "claimed"},
            follow=True,
        )
        assert response.status_code == 200, name
        assert "Unknown action" in page_of(response) or "not possible" in page_of(response)


def test_an_action_of_someone_elses_ticket_is_refused(client, agent, other_agent):
    ticket = taken(nossa_ticket(), agent)
    client.force_login(other_agent)

    response = client.post(
        f"/tickets/{ticket.pk}/actions/start_diagnosis/",
        {"start_diagnosis-expected_state": "claimed"},
        follow=True,
    )

    assert "You are not allowed to do this on this ticket." in page_of(response)
    assert factories.reload(ticket).state == "claimed"


def test_the_journey_through_the_forms(agent_client, agent, support_user):
    """Escalate, Support answers, fix remotely, verify with the customer, close."""
    ticket = in_state(nossa_ticket(), agent, "diagnosing")
    client = Client()
    url = f"/tickets/{ticket.pk}"

    agent_client.post(
        f"{url}/actions/escalate/",
        {"escalate-expected_state": "diagnosing", "escalate-reason": "ONT tidak merespons"},
    )
    assert factories.reload(ticket).state == "escalated"

    client.force_login(support_user)
    support_page = client.get(f"{url}/")
    assert "ONT tidak merespons" in page_of(support_page)
    assert action_names(support_page) == ["answer_escalation"]
    client.post(
        f"{url}/actions/answer_escalation/",
        {"answer_escalation-expected_state": "escalated", "answer_escalation-answer": "Cek OLT"},
    )
    assert factories.reload(ticket).state == "diagnosing"

    agent_client.post(
        f"{url}/actions/apply_remote_fix/",
        {"apply_remote_fix-expected_state": "diagnosing", "apply_remote_fix-action": "reboot"},
    )
    agent_client.post(
        f"{url}/actions/remote_fix_done/", {"remote_fix_done-expected_state": "remote_fix"}
    )
    agent_client.post(
        f"{url}/contact/", {"contact-expected_state": "verifying", "contact-outcome": "answered"}
    )
    response = agent_client.post(
        f"{url}/actions/close/",
        {"close-expected_state": "verifying", "close-closing_code": "FIXED_REMOTE"},
        follow=True,
    )

    closed = Ticket.objects.get(pk=ticket.pk)
    assert (closed.state, closed.closing_code) == ("closed", "FIXED_REMOTE")
    page = page_of(response)
    assert "Customer confirms: close: the ticket is now “Closed”." in page
    assert "Support answered" in page and "Call to the customer" in page


def test_support_and_supervisor_may_add_notes_but_see_no_contact_form(client, agent, supervisor):
    ticket = taken(nossa_ticket(), agent)
    client.force_login(supervisor)

    page = page_of(client.get(f"/tickets/{ticket.pk}/"))
    response = client.post(f"/tickets/{ticket.pk}/notes/", {"note-text": "Dipantau."}, follow=True)

    assert 'id="contact-form"' not in page and 'id="note-form"' in page
    assert "Note added." in page_of(response)
    assert "Dipantau." in page_of(response)


def test_fresh_lapul_ticket_shows_the_earlier_ticket(client):
    agent = factories.agent(flows=("nossa", "fresh_lapul"), username="agent.lapul")
    earlier = nossa_ticket(nossa_number="IN16670042")
    in_state(earlier, agent, "closed", closed_at=timezone.now(), closing_code="FIXED_REMOTE")
    repeat = nossa_ticket(service=earlier.service)
    assert repeat.flow == "fresh_lapul"
    client.force_login(agent)

    page = page_of(client.get(f"/tickets/{repeat.pk}/"))

    assert "Earlier ticket (lapul)" in page
    assert f'href="/tickets/{earlier.pk}/"' in page and "FIXED_REMOTE" in page


def test_gamas_child_shows_its_incident(client, supervisor):
    agent = factories.agent(flows=("gamas",), username="agent.gamas")
    incident = factories.open_gamas(actor=supervisor, area_level="sto", area_code="STO-KBL")
    child = factories.arrive("gamas")
    assert child.gamas_incident_id == incident.pk
    client.force_login(agent)

    page = page_of(client.get(f"/tickets/{child.pk}/"))

    # Agents see which incident it is; the incident pages are for supervisors and Support.
    assert incident.number in page and f'href="/incidents/{incident.pk}/"' not in page
    client.force_login(supervisor)
    page = page_of(client.get(f"/tickets/{child.pk}/"))
    assert f'href="/incidents/{incident.pk}/"' in page and incident.number in page


def test_workspace_query_count_is_bounded(agent_client, agent, django_assert_max_num_queries):
    ticket = taken(nossa_ticket(), agent)
    for outcome in ("no_answer", "busy", "answered"):
        services.record_contact_attempt(ticket_id=ticket.pk, agent=agent, outcome=outcome)
    for text in ("satu", "dua", "tiga"):
        services.add_note(ticket_id=ticket.pk, author=agent, text=text)
    services.transition_ticket(ticket_id=ticket.pk, name="start_diagnosis", actor=agent)
    for _other in range(30):
        nossa_ticket()

    with django_assert_max_num_queries(16):
        response = agent_client.get(f"/tickets/{ticket.pk}/")

    assert response.status_code == 200
    assert len(response.context["timeline"]) >= 11


def test_a_failed_call_offers_a_retry_that_sends_it_again(
    client, settings, django_capture_on_commit_callbacks
):
    from integrations.models import AdapterCall, CallStatus
    from tickets import services

    settings.TIER2_ADAPTERS = {"ibooster": {"failure_rate": 1.0}}
    settings.TIER2_ADAPTER_RETRY_BACKOFF_SECONDS = 0
    agent = factories.agent(flows=["nossa"])
    ticket = factories.arrive("nossa")
    services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    with django_capture_on_commit_callbacks(execute=True):
        services.transition_ticket(ticket_id=ticket.pk, name="start_diagnosis", actor=agent)
    failed = AdapterCall.objects.get(ticket=ticket, app="ibooster")
    assert failed.status == CallStatus.FAILED
    client.force_login(agent)

    page = client.get(f"/tickets/{ticket.pk}/")
    retry_url = f"/tickets/{ticket.pk}/calls/{failed.pk}/retry/"
    assert retry_url.encode() in page.content

    settings.TIER2_ADAPTERS = {}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(retry_url)
    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.status == CallStatus.SUCCEEDED
    assert ticket.__class__.objects.get(pk=ticket.pk).facts["ibooster"]["status"]


def test_retrying_a_call_of_another_ticket_is_not_found(client):
    agent = factories.agent(flows=["nossa"])
    ticket = factories.arrive("nossa")
    client.force_login(agent)
    assert client.post(f"/tickets/{ticket.pk}/calls/999999/retry/").status_code == 404
