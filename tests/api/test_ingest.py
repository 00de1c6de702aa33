"""Ingestion: NOSSA pushes and IVR Gamas reports, idempotent, with the arrival rules applied."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import factories
from tickets.models import Customer, Service, Ticket

pytestmark = pytest.mark.django_db

NEW_SERVICE = {
    "service_number": "131100099991",
    "customer_name": "Siti Rahayu",
    "phone": "0812-3456-7890",
    "sto": "STO-KBL",
    "olt": "OLT-KBL-01",
    "odp": "ODP-KBL-015",
}


def push_nossa(client, **fields):
    body = {"nossa_number": "IN16672489", **NEW_SERVICE, "summary": "LOS red", **fields}
    return client.post("/api/ingest/nossa/", body, format="json")


def test_a_nossa_push_creates_the_service_customer_and_ticket(api, supervisor_user):
    response = push_nossa(api(supervisor_user))

    assert response.status_code == 201
    body = response.json()
    assert body["created"] is True
    ticket = Ticket.objects.get(pk=body["ticket"]["id"])
    assert (ticket.flow, ticket.source_system, ticket.source_ref) == (
        "nossa",
        "nossa",
        "IN16672489",
    )
    assert ticket.nossa_number == "IN16672489"
    assert ticket.service.customer.phone == "081234567890"
    assert ticket.summary == "LOS red"


def test_the_same_nossa_push_twice_gives_one_ticket(api, supervisor_user):
    client = api(supervisor_user)
    first = push_nossa(client)
    second = push_nossa(client, summary="Sent again")

    assert second.status_code == 200
    assert second.json()["created"] is False
    assert second.json()["ticket"]["id"] == first.json()["ticket"]["id"]
    assert Ticket.objects.count() == 1
    assert Customer.objects.count() == 1


def test_a_known_service_needs_no_customer_fields(api, supervisor_user):
    service = factories.service_at("PST")
    response = api(supervisor_user).post(
        "/api/ingest/nossa/",
        {"nossa_number": "IN10000001", "service_number": service.service_number},
        format="json",
    )
    assert response.status_code == 201
    assert Service.objects.count() == 1


def test_an_unknown_service_without_its_fields_is_400_naming_them(api, supervisor_user):
    response = api(supervisor_user).post(
        "/api/ingest/nossa/",
        {"nossa_number": "IN10000002", "service_number": "131100099992", "phone": "08123456789"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"customer_name", "sto", "olt", "odp"}
    assert not Ticket.objects.exists()
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"nossa_number": "16672489"}, "nossa_number"),
        ({"service_number": "1311-0009"}, "service_number"),
        ({"phone": "call me"}, "phone"),
        ({"category": "TELEPATHY"}, "category"),
        ({"reported_at": "2999-01-01T00:00:00Z"}, "reported_at"),
        ({"odp": "ODP KBL"}, "odp"),
    ],
)
def test_bad_push_fields_are_400_with_field_messages(api, supervisor_user, fields, field):
    response = push_nossa(api(supervisor_user), **fields)
    assert response.status_code == 400
    assert response.json()["code"] == "ValidationError"
    assert field in response.json()["errors"]


def test_a_push_for_a_service_closed_recently_becomes_a_fresh_lapul(api, supervisor_user):
    scene = factories.flow_scene("nossa")
    Ticket.objects.filter(pk=scene.ticket.pk).update(closed_at=timezone.now() - timedelta(days=3))
    response = push_nossa(
        api(supervisor_user),
        nossa_number="IN20000001",
        service_number=scene.ticket.service.service_number,
    )
    ticket = response.json()["ticket"]
    assert response.status_code == 201
    assert ticket["flow"] == "fresh_lapul"
    assert ticket["previous_ticket"] == scene.ticket.pk
    assert ticket["priority"] == 2


def test_an_ivr_report_inside_an_open_incident_is_linked_to_it(api, supervisor_user):
    incident = factories.open_gamas(actor=supervisor_user, area_code="ODP-KBL-015")
    client = api(supervisor_user)
    body = {"call_id": "IVR-20250602-000123", **NEW_SERVICE, "summary": "Down since 7"}

    first = client.post("/api/ingest/ivr-gamas/", body, format="json")
    again = client.post("/api/ingest/ivr-gamas/", body, format="json")

    assert first.status_code == 201
    ticket = first.json()["ticket"]
    assert (ticket["flow"], ticket["state"]) == ("gamas", "waiting_recovery")
    assert ticket["gamas_incident"] == incident.pk
    assert (ticket["source_system"], ticket["source_ref"]) == ("ivr", "IVR-20250602-000123")
    assert again.status_code == 200
    assert again.json()["ticket"]["id"] == ticket["id"]
    assert Ticket.objects.count() == 1


def test_an_ivr_report_outside_any_incident_waits_new(api, supervisor_user):
    response = api(supervisor_user).post(
        "/api/ingest/ivr-gamas/", {"call_id": "IVR-1", **NEW_SERVICE}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["ticket"]["state"] == "new"
    assert response.json()["ticket"]["gamas_incident"] is None


def test_a_bad_call_id_is_400(api, supervisor_user):
    response = api(supervisor_user).post(
        "/api/ingest/ivr-gamas/", {"call_id": "a b", **NEW_SERVICE}, format="json"
    )
    assert response.status_code == 400
    assert "call_id" in response.json()["errors"]


def test_agents_cannot_push_but_a_service_account_token_can(api, nossa_agent):
    assert push_nossa(api(nossa_agent)).status_code == 403
    account = factories.user("Supervisor", username="svc-nossa")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=account).key}")
    assert push_nossa(client).status_code == 201


# --- Callback records -------------------------------------------------------------------------
def push_callback(client, **fields):
    body = {"record_id": "CB2941730401", **NEW_SERVICE, "summary": "Call me back", **fields}
    return client.post("/api/ingest/callback/", body, format="json")


def test_a_callback_push_creates_a_callback_ticket_once_per_record(api, supervisor_user):
    client = api(supervisor_user)
    first = push_callback(client)
    again = push_callback(client, summary="Sent again")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["ticket"]["id"] == first.json()["ticket"]["id"]
    ticket = Ticket.objects.get()
    assert (ticket.flow, ticket.state, ticket.source_system, ticket.source_ref) == (
        "callback",
        "new",
        "callback",
        "CB2941730401",
    )
    assert ticket.summary == "Call me back"
    assert ticket.service.customer.name == "Siti Rahayu"


def test_a_callback_push_for_a_new_line_without_its_fields_asks_isiska(api, supervisor_user):
    # The line directory's entry for 131100012341 (integrations/adapters/lines.py), written out:
    # the customer I-SISKA, the pulls and the demo all give this line.
    response = api(supervisor_user).post(
        "/api/ingest/callback/",
        {"record_id": "CB2941730402", "service_number": "131100012341"},
        format="json",
    )

    assert response.status_code == 201
    service = Service.objects.get(service_number="131100012341")
    assert (service.customer.name, service.sto, service.olt, service.odp) == (
        "Irfan Tanjung",
        "KBY",
        "OLT-KBY-02",
        "ODP-KBY-FAC/011",
    )


def test_a_callback_push_the_pull_already_brought_is_the_same_ticket(api, supervisor_user):
    from tickets import services

    pulled, _created = services.receive_report(
        flow="callback",
        source_system="callback",
        source_ref="CB2941730403",
        service_number=NEW_SERVICE["service_number"],
        service_fields={k: v for k, v in NEW_SERVICE.items() if k != "service_number"},
        actor=None,
    )
    response = push_callback(api(supervisor_user), record_id="cb2941730403")

    assert response.status_code == 200
    assert response.json()["ticket"]["id"] == pulled.pk


def test_when_isiska_cannot_tell_a_new_line_the_callback_push_is_400(
    api, supervisor_user, monkeypatch
):
    from integrations.adapters import AdapterUnavailable

    def unavailable(service_number):
        raise AdapterUnavailable("I-SISKA is down")

    monkeypatch.setattr("tickets.services.intake._profile_fields", unavailable)
    response = api(supervisor_user).post(
        "/api/ingest/callback/",
        {"record_id": "CB2941730404", "service_number": "131100099992"},
        format="json",
    )

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"customer_name", "phone", "sto", "olt", "odp"}
    assert not Ticket.objects.exists() and not Service.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"record_id": "CB123"}, "record_id"),
        ({"record_id": "IN16672489"}, "record_id"),
        ({"service_number": "12345"}, "service_number"),
    ],
)
def test_bad_callback_fields_are_400_with_field_messages(api, supervisor_user, fields, field):
    response = push_callback(api(supervisor_user), **fields)

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Ticket.objects.exists()


def test_agents_cannot_push_callback_records(api, nossa_agent):
    assert push_callback(api(nossa_agent)).status_code == 403
    assert not Ticket.objects.exists()
