"""Gamas incidents through the API: open, list, children, recover and close."""

import pytest

from tests import factories
from tickets.models import GamasIncident

pytestmark = pytest.mark.django_db


def open_incident(client, **fields):
    body = {"title": "Fibre cut", "area_level": "odp", "area_code": "ODP-KBL-900", **fields}
    return client.post("/api/gamas-incidents/", body, format="json")


def report_from(odp: str):
    return factories.arrive("gamas", service=factories.service_at("PST", odp=odp))


def test_a_supervisor_opens_an_incident_and_waiting_reports_are_linked(api, supervisor_user):
    waiting = report_from("ODP-KBL-900")
    assert waiting.state == "new"

    response = open_incident(api(supervisor_user))

    assert response.status_code == 201
    body = response.json()
    assert body["state"] == "open"
    assert body["number"].startswith("GMS-")
    assert body["open_children"] == 1
    assert body["children_by_state"] == {"waiting_recovery": 1}
    assert [option["name"] for option in body["available_transitions"]] == ["recover"]


def test_agents_cannot_open_incidents(api, nossa_agent):
    response = open_incident(api(nossa_agent))
    assert response.status_code == 403
    assert not GamasIncident.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"area_level": "city"}, "area_level"),
        ({"title": ""}, "title"),
        ({"area_code": "ODP KBL 900"}, "area_code"),
        ({"title": "x" * 201}, "title"),
    ],
)
def test_a_bad_incident_is_400_naming_the_field(api, supervisor_user, fields, field):
    response = open_incident(api(supervisor_user), **fields)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_children_are_listed_by_cursor_and_filtered(api, supervisor_user):
    incident = factories.open_gamas(actor=supervisor_user, area_code="ODP-KBL-901")
    children = [report_from("ODP-KBL-901") for _ in range(3)]
    client = api(supervisor_user)

    page = client.get(f"/api/gamas-incidents/{incident.pk}/children/?page_size=2").json()
    assert [row["id"] for row in page["results"]] == [children[2].pk, children[1].pk]
    rest = client.get(page["next"]).json()
    assert [row["id"] for row in rest["results"]] == [children[0].pk]
    assert (
        client.get(f"/api/gamas-incidents/{incident.pk}/children/?state=closed").json()["results"]
        == []
    )


def test_list_filters_by_state(api, supervisor_user, support):
    open_one = factories.open_gamas(actor=supervisor_user)
    closed = factories.incident_in_state("closed", supervisor=supervisor_user)
    rows = api(support).get("/api/gamas-incidents/?state=open").json()["results"]
    assert [row["id"] for row in rows] == [open_one.pk]
    rows = api(support).get("/api/gamas-incidents/?state=closed").json()["results"]
    assert [row["id"] for row in rows] == [closed.pk]


def test_agents_do_not_read_incidents(api, supervisor_user, nossa_agent):
    incident = factories.open_gamas(actor=supervisor_user)
    client = api(nossa_agent)
    for url in (
        "/api/gamas-incidents/",
        f"/api/gamas-incidents/{incident.pk}/",
        f"/api/gamas-incidents/{incident.pk}/children/",
    ):
        assert client.get(url).status_code == 403, url


def test_recover_then_close_once_every_child_is_closed(
    api, supervisor_user, eager_celery, django_capture_on_commit_callbacks
):
    incident = factories.open_gamas(actor=supervisor_user, area_code="ODP-KBL-902")
    child = report_from("ODP-KBL-902")
    client = api(supervisor_user)
    url = f"/api/gamas-incidents/{incident.pk}/transitions/"

    with django_capture_on_commit_callbacks(execute=True):
        recovered = client.post(
            url, {"name": "recover", "inputs": {"note": "Splice done"}}, format="json"
        )
    assert recovered.status_code == 200
    assert recovered.json()["state"] == "recovered"

    refused = client.post(
        url, {"name": "close", "inputs": {"closing_code": "RECOVERED"}}, format="json"
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "ConditionNotMet"
    assert factories.reload(child).state == "verifying"  # the recovery fanned out

    missing = client.post(url, {"name": "close"}, format="json")
    assert missing.status_code == 400
    assert "closing_code" in missing.json()["errors"]


def test_incident_errors_unknown_transition_unknown_incident_wrong_role(api, supervisor_user):
    incident = factories.open_gamas(actor=supervisor_user)
    client = api(supervisor_user)

    unknown = client.post(f"/api/gamas-incidents/{incident.pk}/transitions/", {"name": "explode"})
    assert unknown.status_code == 409
    assert unknown.json()["code"] == "TransitionNotAllowed"
    assert client.get("/api/gamas-incidents/424242/").status_code == 404
    agent = factories.agent_for("gamas")
    forbidden = api(agent).post(
        f"/api/gamas-incidents/{incident.pk}/transitions/", {"name": "recover"}
    )
    assert forbidden.status_code == 403
