"""Gamas incidents: opening one, its children with bulk actions, recovering and closing it."""

import pytest

from tests import factories
from tickets.models import GamasIncident, Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def supervisor_client(client, supervisor):
    client.force_login(supervisor)
    return client


def children_of(incident, count=3):
    made = [factories.arrive("gamas") for _ in range(count)]
    assert {child.gamas_incident_id for child in made} == {incident.pk}
    return made


def test_supervisor_opens_an_incident_and_waiting_reports_are_linked(supervisor_client):
    report = factories.arrive("gamas")

    response = supervisor_client.post(
        "/incidents/new/",
        {"title": "Kabel feeder putus", "area_level": "sto", "area_code": "STO-KBL"},
        follow=True,
    )

    incident = GamasIncident.objects.get()
    assert response.redirect_chain[-1][0] == f"/incidents/{incident.pk}/"
    assert factories.reload(report).gamas_incident_id == incident.pk
    assert report.number in response.content.decode()


def test_agents_get_the_403_page_for_incidents_and_may_not_open_one(agent_client):
    listed = agent_client.get("/incidents/")
    response = agent_client.post(
        "/incidents/new/", {"title": "x", "area_level": "odp", "area_code": "ODP-1"}
    )

    assert listed.status_code == 403 and response.status_code == 403
    assert "The gamas incidents are for supervisors, Support and admins." in listed.content.decode()
    assert not GamasIncident.objects.exists()


def test_support_opens_the_incidents_page_with_its_form(client, support_user):
    client.force_login(support_user)
    page = client.get("/incidents/")
    assert page.status_code == 200
    assert 'action="/incidents/new/"' in page.content.decode()


def test_incident_page_lists_children_with_counts(supervisor_client, supervisor):
    incident = factories.open_gamas(actor=supervisor, area_level="sto", area_code="STO-KBL")
    made = children_of(incident)

    response = supervisor_client.get(f"/incidents/{incident.pk}/")

    assert [t.pk for t in response.context["page"].rows] == [t.pk for t in made]
    assert response.context["children_total"] == 3
    assert [c["code"] for c in response.context["counts"]] == ["waiting_recovery"]
    assert [a["option"].name for a in response.context["actions"]] == ["recover"]


def test_supervisor_assigns_children_in_bulk_and_refusals_are_reported(
    supervisor_client, supervisor
):
    incident = factories.open_gamas(actor=supervisor, area_level="sto", area_code="STO-KBL")
    first, second, third = children_of(incident)
    Ticket.objects.filter(pk__in=[first.pk, second.pk]).update(
        state="verifying", awaiting_agent=True
    )
    agent = factories.agent(flows=("gamas",), username="agent.gamas")

    response = supervisor_client.post(
        f"/incidents/{incident.pk}/bulk/",
        {"action": "assign", "agent": agent.pk, "tickets": [first.pk, second.pk, 999999]},
        follow=True,
    )

    page = response.content.decode()
    assert factories.reload(first).assignee == agent
    assert factories.reload(second).assignee == agent
    assert factories.reload(third).assignee is None
    assert "2 tickets assigned to agent.gamas." in page
    assert "1 of the selected tickets is not a ticket of this incident you can see." in page


@pytest.mark.parametrize("action", ["take", "release"])
def test_agents_may_not_use_the_incidents_bulk_actions(client, supervisor, action):
    # Agents take an incident's reports from their queues (Next ticket), not from its page.
    incident = factories.open_gamas(actor=supervisor, area_level="sto", area_code="STO-KBL")
    child = children_of(incident, 1)[0]
    Ticket.objects.filter(pk=child.pk).update(state="verifying", awaiting_agent=True)
    agent = factories.agent(flows=("gamas",), username="agent.gamas")
    client.force_login(agent)

    response = client.post(
        f"/incidents/{incident.pk}/bulk/", {"action": action, "tickets": [child.pk]}
    )

    assert response.status_code == 403
    assert factories.reload(child).assignee is None


def test_recover_then_close_the_incident(supervisor_client, supervisor):
    incident = factories.open_gamas(actor=supervisor, area_level="sto", area_code="STO-KBL")

    supervisor_client.post(
        f"/incidents/{incident.pk}/actions/recover/", {"recover-expected_state": "open"}
    )
    assert GamasIncident.objects.get(pk=incident.pk).state == "recovered"

    response = supervisor_client.post(
        f"/incidents/{incident.pk}/actions/close/",
        {"close-expected_state": "recovered", "close-closing_code": "RECOVERED"},
        follow=True,
    )
    assert GamasIncident.objects.get(pk=incident.pk).state == "closed"
    assert "Close incident: the incident is now “Closed”." in response.content.decode()


def test_stale_incident_action_is_refused_with_the_fresh_state(supervisor_client, supervisor):
    incident = factories.open_gamas(actor=supervisor)
    GamasIncident.objects.filter(pk=incident.pk).update(state="recovered")

    response = supervisor_client.post(
        f"/incidents/{incident.pk}/actions/recover/",
        {"recover-expected_state": "open"},
        follow=True,
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "Someone else changed this" in page and "“Recovered”" in page
    assert GamasIncident.objects.get(pk=incident.pk).state == "recovered"


def test_closing_with_open_children_says_why(supervisor_client, supervisor):
    incident = factories.open_gamas(actor=supervisor, area_level="sto", area_code="STO-KBL")
    children_of(incident, 1)
    GamasIncident.objects.filter(pk=incident.pk).update(state="recovered")

    page = supervisor_client.get(f"/incidents/{incident.pk}/").content.decode()

    assert "Some tickets of this incident are still open." in page
