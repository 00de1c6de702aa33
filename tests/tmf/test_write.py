"""POST, PATCH and DELETE /troubleTicket: creation through the intake (arrival rules, idempotency
on the external identifier), notes, priority and SOP transitions by TMF status, one transaction
per PATCH, and the refusals (400 with field messages, 403 for the role, 409 for the SOP).

Expected states, statuses and priorities are written out by hand from the SOP flows and the
mapping table of docs/tmf621.md, never computed with `tickets.tmf`."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.adapters import get_adapter
from tests import factories
from tests.tickets.test_concurrency_pg import at_once
from tests.tmf.spec import spec_validator
from tickets.models import (
    ContactOutcome,
    Customer,
    Note,
    Service,
    Site,
    Ticket,
    TransitionLog,
)

pytestmark = pytest.mark.django_db

TICKETS = "/tmf-api/troubleTicket/v5/troubleTicket"
MERGE = "application/merge-patch+json"
NEW_LINE = "131100099991"


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def characteristic(name, value):
    return {"@type": "StringCharacteristic", "name": name, "value": value}


def new_ticket(**overrides) -> dict:
    """A NOSSA trouble ticket for a line the console does not know yet, with its fields."""
    body = {
        "@type": "TroubleTicket",
        "description": "LOS red since this morning",
        "severity": "Major",
        "ticketType": "nossa",
        "externalIdentifier": [
            {"@type": "ExternalIdentifier", "owner": "NOSSA", "id": "IN16672489"}
        ],
        "relatedEntity": [
            {
                "@type": "RelatedEntity",
                "role": "service",
                "entity": {"@type": "EntityRef", "id": NEW_LINE},
            }
        ],
        "relatedParty": [
            {
                "@type": "RelatedPartyRefOrPartyRoleRef",
                "role": "customer",
                "partyOrPartyRole": {"@type": "PartyRef", "id": "c-1", "name": "Siti Rahayu"},
            }
        ],
        "troubleTicketCharacteristic": [
            characteristic("phone", "0812-3456-7890"),
            characteristic("sto", "STO-KBL"),
            characteristic("olt", "OLT-KBL-01"),
            characteristic("odp", "ODP-KBL-015"),
        ],
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def for_line(service: Service, **overrides) -> dict:
    """A trouble ticket for a line the console knows (no customer fields needed)."""
    entity = {"@type": "EntityRef", "id": service.service_number}
    return new_ticket(
        relatedEntity=[{"@type": "RelatedEntity", "role": "service", "entity": entity}],
        relatedParty=None,
        troubleTicketCharacteristic=None,
        **overrides,
    )


def identifier(owner: str, value: str) -> list[dict]:
    return [{"@type": "ExternalIdentifier", "owner": owner, "id": value}]


def post(user, body, query=""):
    return client_for(user).post(f"{TICKETS}{query}", body, format="json")


def patch(user, ticket, body, content_type=MERGE, query=""):
    return client_for(user).patch(
        f"{TICKETS}/{ticket.pk}{query}", json.dumps(body), content_type=content_type
    )


def conforms(body: dict) -> dict:
    """The body is a `TroubleTicket` as the vendored TMF621 document defines it."""
    errors = sorted(spec_validator("TroubleTicket").iter_errors(body), key=str)
    assert not errors, [error.message for error in errors][:5]
    return body


def rows() -> dict:
    return {
        "tickets": Ticket.objects.count(),
        "customers": Customer.objects.count(),
        "services": Service.objects.count(),
        "notes": Note.objects.count(),
        "log": TransitionLog.objects.count(),
    }


@pytest.fixture
def system():
    return factories.user("System", username="crm")


@pytest.fixture
def supervisor():
    return factories.role_user("Supervisor")


# --- Creating -----------------------------------------------------------------------------------
def test_a_system_client_creates_a_nossa_ticket_through_the_intake(system):
    response = post(system, new_ticket())

    assert response.status_code == 201, response.json()
    body = conforms(response.json())
    ticket = Ticket.objects.get()
    assert response["Location"] == f"http://testserver{TICKETS}/{ticket.pk}"
    assert (body["id"], body["href"]) == (str(ticket.pk), f"{TICKETS}/{ticket.pk}")
    assert (body["ticketType"], body["status"], body["statusChangeReason"]) == (
        "nossa",
        "acknowledged",
        "new",
    )
    assert (body["severity"], body["priority"]) == ("Major", "High")
    assert body["externalIdentifier"] == [
        {
            "@type": "ExternalIdentifier",
            "id": "IN16672489",
            "owner": "NOSSA",
            "externalIdentifierType": "troubleTicket",
        }
    ]
    assert (ticket.flow, ticket.state, ticket.priority) == ("nossa", "new", 2)
    assert (ticket.source_system, ticket.source_ref, ticket.nossa_number) == (
        "nossa",
        "IN16672489",
        "IN16672489",
    )
    assert (ticket.summary, ticket.category) == ("LOS red since this morning", "INTERNET")
    service = ticket.service
    assert (service.service_number, service.sto, service.olt, service.odp) == (
        NEW_LINE,
        "STO-KBL",
        "OLT-KBL-01",
        "ODP-KBL-015",
    )
    assert (service.customer.name, service.customer.phone) == ("Siti Rahayu", "081234567890")
    arrival = TransitionLog.objects.get(ticket=ticket)
    assert (arrival.transition, arrival.actor_id) == ("arrive", system.pk)


@pytest.mark.parametrize(
    ("ticket_type", "owner", "ref", "flow", "source_system", "status", "state"),
    [
        ("nossa", "NOSSA", "IN10000001", "nossa", "nossa", "acknowledged", "new"),
        ("gamas", "IVR", "IVR30000001", "gamas", "ivr", "acknowledged", "new"),
        ("callback", "Callback", "CB2600000001", "callback", "callback", "acknowledged", "new"),
        ("gamas", "SalesforceCRM", "5003000000D8cuI", "gamas", "tmf:crm", "acknowledged", "new"),
        ("Callback", "callback", "CB2600000002", "callback", "callback", "acknowledged", "new"),
    ],
)
def test_each_creatable_ticket_type_is_created_with_its_source(
    system, ticket_type, owner, ref, flow, source_system, status, state
):
    service = factories.service_at("PST")
    body = for_line(service, ticketType=ticket_type, externalIdentifier=identifier(owner, ref))

    response = post(system, body)

    assert response.status_code == 201, response.json()
    assert (response.json()["ticketType"], response.json()["status"]) == (flow, status)
    ticket = Ticket.objects.get()
    assert (ticket.flow, ticket.state, ticket.source_system, ticket.source_ref) == (
        flow,
        state,
        source_system,
        ref,
    )
    assert ticket.service_id == service.pk


def test_a_client_with_a_long_username_keeps_its_references_under_its_id():
    partner = factories.user("System", username="partner-jawa-timur-01")
    body = for_line(
        factories.service_at("PST"), ticketType="gamas", externalIdentifier=identifier("OSS", "A-1")
    )

    assert post(partner, body).status_code == 201
    ticket = Ticket.objects.get()
    assert (ticket.source_system, ticket.source_ref) == (f"tmf#{partner.pk}", "A-1")


def test_a_fault_on_a_line_closed_recently_becomes_a_fresh_lapul(system):
    service = factories.service_at("PST")
    earlier = factories.arrive("nossa", service=service)
    factories.put_in_state(
        earlier, "closed", closed_at=timezone.now() - timedelta(days=2), closing_code="FIXED_REMOTE"
    )

    response = post(system, for_line(service, severity="Major"))

    assert response.status_code == 201, response.json()
    body = conforms(response.json())
    # Fresh Lapul, one priority step up: Major (2, High) becomes Critical (1).
    assert (body["ticketType"], body["priority"], body["severity"]) == (
        "fresh_lapul",
        "Critical",
        "Critical",
    )
    assert {
        "relationshipType": "isFreshLapulOf",
        "id": str(earlier.pk),
    }.items() <= body["troubleTicketRelationship"][0].items()
    ticket = Ticket.objects.get(source_ref="IN16672489")
    assert (ticket.flow, ticket.priority, ticket.previous_ticket_id) == (
        "fresh_lapul",
        1,
        earlier.pk,
    )


def test_an_ivr_report_inside_an_open_gamas_is_linked_and_waits_for_recovery(system, supervisor):
    service = factories.service_at("PST")
    incident = factories.open_gamas(actor=supervisor, area_level="odp", area_code=service.odp)
    body = for_line(service, ticketType="gamas", externalIdentifier=identifier("IVR", "IVR1"))

    response = post(system, body)

    assert response.status_code == 201, response.json()
    body = conforms(response.json())
    assert (body["status"], body["statusChangeReason"]) == ("held", "waiting_recovery")
    assert {"role": "gamasIncident"}.items() <= body["relatedEntity"][1].items()
    assert body["relatedEntity"][1]["entity"]["id"] == str(incident.pk)
    ticket = Ticket.objects.get()
    assert (ticket.state, ticket.gamas_incident_id) == ("waiting_recovery", incident.pk)


def test_the_same_external_identifier_twice_gives_one_ticket(system):
    first = post(system, new_ticket(note=[{"text": "Customer calls twice a day"}]))
    before = rows()
    again = post(
        system, new_ticket(description="Sent again", note=[{"text": "Sent again as well"}])
    )

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert again["Location"] == first["Location"]
    assert rows() == before  # nothing written the second time
    assert Ticket.objects.get().summary == "LOS red since this morning"
    assert list(Note.objects.values_list("text", flat=True)) == ["Customer calls twice a day"]


def test_a_nossa_number_pushed_to_the_console_first_is_the_same_ticket_through_tmf(
    system, supervisor
):
    pushed = client_for(supervisor).post(
        "/api/ingest/nossa/",
        {
            "nossa_number": "IN16672489",
            "service_number": NEW_LINE,
            "customer_name": "Siti Rahayu",
            "phone": "081234567890",
            "sto": "STO-KBL",
            "olt": "OLT-KBL-01",
            "odp": "ODP-KBL-015",
            "summary": "LOS red",
        },
        format="json",
    )
    assert pushed.status_code == 201

    response = post(system, new_ticket())

    assert response.status_code == 201
    assert response.json()["id"] == str(pushed.json()["ticket"]["id"])
    assert Ticket.objects.count() == 1


def test_a_ticket_created_through_tmf_is_the_same_ticket_when_nossa_pushes_it(system, supervisor):
    created = post(system, new_ticket())
    pushed = client_for(supervisor).post(
        "/api/ingest/nossa/",
        {"nossa_number": "IN16672489", "service_number": NEW_LINE},
        format="json",
    )

    assert (created.status_code, pushed.status_code) == (201, 200)
    assert str(pushed.json()["ticket"]["id"]) == created.json()["id"]


def test_a_new_line_without_its_fields_is_asked_of_isiska(system):
    body = new_ticket(relatedParty=None, troubleTicketCharacteristic=None)

    response = post(system, body)

    assert response.status_code == 201, response.json()
    profile = get_adapter("isiska").profile(service_number=NEW_LINE)
    service = Service.objects.get(service_number=NEW_LINE)
    assert (service.customer.name, service.odp) == (profile.customer_name, profile.odp)


def test_notes_sent_with_a_new_ticket_become_its_first_notes(system):
    body = new_ticket(note=[{"@type": "Note", "id": "77456", "text": "Call after 5 pm"}])

    response = post(system, body)

    assert response.status_code == 201
    note = Note.objects.get()
    assert (note.text, note.author_id) == ("Call after 5 pm", system.pk)
    assert [item["text"] for item in response.json()["note"]] == ["Call after 5 pm"]


def test_the_fields_parameter_selects_what_the_created_ticket_shows(system):
    response = post(system, new_ticket(), query="?fields=status,ticketType")

    assert response.status_code == 201
    assert set(response.json()) == {"id", "href", "@type", "status", "ticketType"}


def test_fields_the_console_decides_are_accepted_and_not_used(system):
    body = new_ticket(
        status="closed",
        expectedResolutionDate="2020-01-01T00:00:00Z",
        name="my name",
        channel={"@type": "ChannelRef", "id": "web"},
    )

    response = post(system, body)

    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "acknowledged"
    assert response.json()["channel"]["id"] == "nossa"


BAD_BODIES = [
    ("no description", {"description": None}, "description"),
    ("blank description", {"description": "  "}, "description"),
    ("description too long", {"description": "x" * 256}, "description"),
    ("no severity", {"severity": None}, "severity"),
    ("unknown severity", {"severity": "Blocker"}, "severity"),
    ("unknown priority", {"priority": "Urgent"}, "priority"),
    ("no ticket type", {"ticketType": None}, "ticketType"),
    ("a type not created from outside", {"ticketType": "c4_caring"}, "ticketType"),
    ("no external identifier", {"externalIdentifier": None}, "externalIdentifier"),
    (
        "two external identifiers",
        {"externalIdentifier": identifier("NOSSA", "IN10000001") + identifier("CRM", "1")},
        "externalIdentifier",
    ),
    (
        "not a NOSSA number",
        {"externalIdentifier": identifier("NOSSA", "12345")},
        "externalIdentifier[0].id",
    ),
    (
        "a nossa ticket without its NOSSA number",
        {"externalIdentifier": identifier("CRM", "12345")},
        "externalIdentifier[0].owner",
    ),
    (
        "an identifier without its owner",
        {"externalIdentifier": [{"@type": "ExternalIdentifier", "id": "IN10000001"}]},
        "externalIdentifier[0].owner",
    ),
    ("no line", {"relatedEntity": None}, "relatedEntity"),
    (
        "not a service number",
        {"relatedEntity": [{"role": "service", "entity": {"id": "123"}}]},
        "relatedEntity.service",
    ),
    (
        "a new line without its ODP",
        {
            "troubleTicketCharacteristic": [
                characteristic("phone", "081234567890"),
                characteristic("sto", "STO-KBL"),
                characteristic("olt", "OLT-KBL-01"),
            ]
        },
        "troubleTicketCharacteristic.odp",
    ),
    (
        "a new line without its customer",
        {"relatedParty": None},
        "relatedParty",
    ),
    (
        "a bad phone number",
        {"troubleTicketCharacteristic": [characteristic("phone", "call me")]},
        "troubleTicketCharacteristic.phone",
    ),
    (
        "an unknown characteristic",
        {"troubleTicketCharacteristic": [characteristic("colour", "red")]},
        "troubleTicketCharacteristic.colour",
    ),
    ("an unknown field", {"mood": "angry"}, "mood"),
    ("a read-only field", {"creationDate": "2025-01-01T00:00:00Z"}, "creationDate"),
    ("an attachment", {"attachment": [{"name": "bill.png"}]}, "attachment"),
    ("a note without text", {"note": [{"author": "me"}]}, "note[0].text"),
    ("a NUL character", {"description": "LOS\x00red"}, "description"),
    ("another @type", {"@type": "ProductOrder"}, "@type"),
]


@pytest.mark.parametrize(
    ("change", "field"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
def test_a_bad_body_is_400_naming_the_field_and_creates_nothing(system, change, field):
    before = rows()
    body = new_ticket(**{key: value for key, value in change.items() if value is not None})
    for key in [key for key, value in change.items() if value is None]:
        body.pop(key, None)

    response = post(system, body)

    assert response.status_code == 400, response.json()
    error = response.json()
    assert (error["@type"], error["code"], error["status"]) == ("Error", "InvalidInput", "400")
    assert field in error["errors"], error["errors"]
    assert rows() == before


def test_a_body_that_is_not_an_object_is_400(system):
    response = post(system, [new_ticket()])
    assert response.status_code == 400
    assert "non_field_errors" in response.json()["errors"]
    assert not Ticket.objects.exists()


def test_an_unknown_type_is_400_listing_the_types_that_may_be_created(system):
    response = post(system, new_ticket(ticketType="Bill Dispute"))
    assert response.status_code == 400
    assert response.json()["errors"]["ticketType"] == [
        "Trouble tickets created through this API are of type nossa, gamas, callback."
    ]


@pytest.mark.parametrize(
    ("role", "expected"),
    [("Agent", 403), ("Support", 403), ("Supervisor", 201), ("Admin", 201), ("System", 201)],
)
def test_supervisors_admins_and_system_clients_may_create(role, expected):
    user = factories.agent_for("nossa") if role == "Agent" else factories.role_user(role)

    response = post(user, new_ticket(description=""))  # a bad body too: the role comes first
    if expected == 201:
        response = post(user, new_ticket())

    assert response.status_code == expected, response.json()
    assert Ticket.objects.count() == (1 if expected == 201 else 0)


def test_a_scoped_client_creates_only_tickets_of_its_scope_and_nothing_else_is_written():
    partner = factories.user("System", username="partner.mlg", site_code="MLG")
    # Sites take lines by the last digit of the number, the sites in code order (MLG, PST):
    # ...91 is odd, so Pusat's; ...92 even, so Malang's.
    before = rows()
    refused = post(partner, new_ticket())  # NEW_LINE, 131100099991: Pusat
    assert refused.status_code == 403, refused.json()
    assert refused.json()["@type"] == "Error"
    assert "Siti" not in refused.content.decode()
    assert rows() == before  # neither the ticket nor the line nor the customer

    mine = new_ticket(
        relatedEntity=[{"@type": "RelatedEntity", "role": "service",
                        "entity": {"@type": "EntityRef", "id": "131100099992"}}],
    )  # fmt: skip
    created = post(partner, mine)
    assert created.status_code == 201, created.json()
    assert Ticket.objects.get(pk=created.json()["id"]).site.code == "MLG"


def test_an_anonymous_post_is_401():
    response = post(None, new_ticket())
    assert response.status_code == 401
    assert not Ticket.objects.exists()


# --- Patching: notes and priority -----------------------------------------------------------------
def test_a_supervisor_adds_a_note_with_merge_patch(supervisor):
    ticket = factories.flow_ticket("nossa")

    response = patch(supervisor, ticket, {"note": [{"@type": "Note", "text": "Customer angry"}]})

    assert response.status_code == 200, response.json()
    body = conforms(response.json())
    assert [note["text"] for note in body["note"]] == ["Customer angry"]
    note = Note.objects.get()
    assert (note.ticket_id, note.author_id, note.text) == (
        ticket.pk,
        supervisor.pk,
        "Customer angry",
    )


def test_notes_already_on_the_ticket_are_kept_and_only_new_ones_added(supervisor):
    ticket = factories.flow_ticket("nossa")
    first = patch(supervisor, ticket, {"note": [{"text": "First"}]}).json()["note"]

    response = patch(
        supervisor, ticket, {"note": [*first, {"text": "Second"}]}, content_type="application/json"
    )

    assert response.status_code == 200, response.json()
    assert [note["text"] for note in response.json()["note"]] == ["First", "Second"]
    assert Note.objects.count() == 2


@pytest.mark.parametrize(
    ("note", "field"),
    [
        ({"id": "note-999999", "text": "Edited"}, "note[0].id"),
        ({"text": ""}, "note[0].text"),
        ({"text": "x" * 4001}, "note[0].text"),
    ],
    ids=["unknown id", "blank", "too long"],
)
def test_a_bad_note_is_400(supervisor, note, field):
    ticket = factories.flow_ticket("nossa")
    response = patch(supervisor, ticket, {"note": [note]})
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Note.objects.exists()


def test_a_note_is_not_edited_through_its_id(supervisor):
    ticket = factories.flow_ticket("nossa")
    existing = patch(supervisor, ticket, {"note": [{"text": "As written"}]}).json()["note"][0]

    response = patch(supervisor, ticket, {"note": [{**existing, "text": "Rewritten"}]})

    assert response.status_code == 400
    assert "note[0].text" in response.json()["errors"]
    assert list(Note.objects.values_list("text", flat=True)) == ["As written"]


def test_a_system_client_adds_the_reporters_answer_as_a_note(system):
    ticket = factories.flow_ticket("nossa")

    response = patch(system, ticket, {"note": [{"text": "Customer is home after 5 pm"}]})

    assert response.status_code == 200, response.json()
    assert Note.objects.get().author_id == system.pk


def test_an_agent_who_does_not_hold_the_ticket_may_not_annotate_it():
    ticket = factories.flow_ticket("nossa")
    agent = factories.agent_for("nossa")

    response = patch(agent, ticket, {"note": [{"text": "Hello"}]})

    assert response.status_code == 403
    assert not Note.objects.exists()


def test_a_supervisor_raises_the_priority(supervisor):
    ticket = factories.flow_ticket("nossa")  # Normal (3)

    response = patch(supervisor, ticket, {"priority": "Critical"})

    assert response.status_code == 200, response.json()
    assert (response.json()["priority"], response.json()["severity"]) == ("Critical", "Critical")
    assert factories.reload(ticket).priority == 1
    change = TransitionLog.objects.get(ticket=ticket, transition="change_priority")
    assert change.data == {"from": 3, "to": 1}


def test_severity_changes_the_priority_only_when_it_shows_another(supervisor):
    ticket = factories.flow_ticket("nossa", priority=4)  # Low, shown as severity Minor

    same = patch(supervisor, ticket, {"severity": "Minor"})
    raised = patch(supervisor, ticket, {"severity": "Major"})

    assert (same.status_code, raised.status_code) == (200, 200)
    assert factories.reload(ticket).priority == 2
    assert TransitionLog.objects.filter(ticket=ticket, transition="change_priority").count() == 1


def test_a_system_client_may_not_change_the_priority(system):
    ticket = factories.flow_ticket("nossa")

    response = patch(system, ticket, {"priority": "High"})

    assert response.status_code == 403
    assert factories.reload(ticket).priority == 3


# --- Patching: status ----------------------------------------------------------------------------
def test_an_agent_takes_a_waiting_ticket_by_setting_it_in_progress():
    ticket = factories.flow_ticket("nossa")
    agent = factories.agent_for("nossa")

    response = patch(agent, ticket, {"status": "inProgress"})

    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["statusChangeReason"]) == (
        "inProgress",
        "claimed",
    )
    ticket = factories.reload(ticket)
    assert (ticket.state, ticket.assignee_id) == ("claimed", agent.pk)


def test_a_sop_state_named_in_status_change_reason_picks_the_step():
    scene = factories.flow_scene("nossa")
    scene.walk_to("claimed")

    response = patch(
        scene.agent, scene.ticket, {"status": "inProgress", "statusChangeReason": "diagnosing"}
    )

    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["statusChangeReason"]) == (
        "inProgress",
        "diagnosing",
    )
    assert scene.reload().state == "diagnosing"


def test_the_same_status_without_a_sop_state_changes_nothing():
    scene = factories.flow_scene("nossa")
    scene.walk_to("claimed")
    before = factories.ticket_snapshot(scene.ticket)

    response = patch(scene.agent, scene.ticket, {"status": "inProgress"})

    assert response.status_code == 200
    assert factories.ticket_snapshot(scene.ticket) == before


def test_several_steps_to_a_status_ask_for_the_sop_state():
    scene = factories.flow_scene("nossa")
    scene.walk_to("diagnosing")

    response = patch(scene.agent, scene.ticket, {"status": "held"})

    assert response.status_code == 400
    [message] = response.json()["errors"]["statusChangeReason"]
    # From diagnosing, held is: escalated (Support), escalated_field, linked_to_gamas.
    assert "escalated, escalated_field, linked_to_gamas" in message
    assert scene.reload().state == "diagnosing"


def test_the_agent_sends_the_ticket_to_the_field_with_a_note():
    scene = factories.flow_scene("nossa")
    scene.walk_to("diagnosing")

    response = patch(
        scene.agent,
        scene.ticket,
        {
            "status": "held",
            "statusChangeReason": "escalated_field",
            "troubleTicketCharacteristic": [characteristic("note", "ODP box burnt")],
        },
    )

    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["statusChangeReason"]) == (
        "held",
        "escalated_field",
    )
    step = TransitionLog.objects.filter(ticket=scene.ticket).latest("pk")
    assert (step.transition, step.note) == ("escalate_to_field", "ODP box burnt")


def test_a_required_note_missing_is_asked_for_in_status_change_reason():
    scene = factories.flow_scene("nossa")
    scene.walk_to("diagnosing")

    response = patch(
        scene.agent, scene.ticket, {"status": "held", "statusChangeReason": "escalated_field"}
    )

    assert response.status_code == 400
    assert "statusChangeReason" in response.json()["errors"]
    assert scene.reload().state == "diagnosing"


def test_the_agent_escalates_to_support_with_the_reason():
    scene = factories.flow_scene("nossa")
    scene.walk_to("diagnosing")

    response = patch(
        scene.agent,
        scene.ticket,
        {
            "status": "held",
            "statusChangeReason": "escalated",
            "troubleTicketCharacteristic": [characteristic("reason", "ONT keeps rebooting")],
        },
    )

    assert response.status_code == 200, response.json()
    assert scene.reload().state == "escalated"
    assert scene.ticket.escalations.get().reason == "ONT keeps rebooting"


def test_support_answers_an_escalation_by_setting_it_back_in_progress():
    scene = factories.flow_scene("nossa")
    scene.escalate_from("diagnosing")

    response = patch(
        scene.support,
        scene.ticket,
        {"status": "inProgress", "statusChangeReason": "Reset the OLT port, try again"},
    )

    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["statusChangeReason"]) == (
        "inProgress",
        "diagnosing",
    )
    answer = TransitionLog.objects.filter(ticket=scene.ticket).latest("pk")
    assert answer.transition == "answer_escalation"


def test_the_agent_closes_with_a_closing_code():
    scene = factories.flow_scene("nossa")
    scene.walk_to("verifying")
    factories.record_calls(scene.ticket, scene.agent, ContactOutcome.ANSWERED)

    response = patch(
        scene.agent,
        scene.ticket,
        {
            "status": "closed",
            "statusChangeReason": "Customer confirms the line is back",
            "troubleTicketCharacteristic": [characteristic("closingCode", "FIXED_REMOTE")],
        },
    )

    assert response.status_code == 200, response.json()
    body = conforms(response.json())
    assert (body["status"], body["statusChangeReason"]) == ("closed", "closed")
    assert body["resolutionDate"]
    ticket = scene.reload()
    assert (ticket.state, ticket.closing_code) == ("closed", "FIXED_REMOTE")
    step = TransitionLog.objects.filter(ticket=ticket).latest("pk")
    assert (step.transition, step.note) == ("close", "Customer confirms the line is back")


def test_closing_without_a_code_lists_the_codes_that_close_it():
    scene = factories.flow_scene("nossa")
    scene.walk_to("verifying")

    response = patch(scene.agent, scene.ticket, {"status": "closed"})

    assert response.status_code == 400
    assert response.json()["errors"]["troubleTicketCharacteristic.closingCode"] == [
        "Choose the closing code: CUSTOMER_SIDE, FIXED_FIELD, FIXED_REMOTE, GAMAS_RECOVERED, "
        "UNREACHABLE."
    ]


def test_a_closing_code_that_does_not_give_the_status_is_400():
    scene = factories.flow_scene("callback")
    scene.walk_to("resolved_on_call")

    response = patch(
        scene.agent,
        scene.ticket,
        {
            "status": "closed",
            "troubleTicketCharacteristic": [characteristic("closingCode", "DUPLICATE")],
        },
    )

    assert response.status_code == 400
    assert "troubleTicketCharacteristic.closingCode" in response.json()["errors"]
    assert scene.reload().state == "resolved_on_call"


@pytest.mark.parametrize(
    ("status", "closing_code"),
    [("closed", "RESOLVED_ON_CALL"), ("rejected", "DUPLICATE")],
)
def test_the_only_code_that_gives_the_status_is_taken(status, closing_code):
    """Callback, resolved on the call: RESOLVED_ON_CALL closes it; DUPLICATE rejects it."""
    scene = factories.flow_scene("callback")
    scene.walk_to("resolved_on_call")

    response = patch(scene.agent, scene.ticket, {"status": status})

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == status
    assert (scene.reload().state, scene.ticket.closing_code) == ("closed", closing_code)


def test_a_condition_not_met_is_409_with_its_reason():
    scene = factories.flow_scene("nossa")
    scene.walk_to("verifying")  # no answered call in this step yet

    response = patch(
        scene.agent,
        scene.ticket,
        {
            "status": "closed",
            "troubleTicketCharacteristic": [characteristic("closingCode", "FIXED_REMOTE")],
        },
    )

    assert response.status_code == 409
    message = response.json()["message"]
    assert "Verifying" in message and "verifying" in message
    assert "customer has not been reached" in message
    assert scene.reload().state == "verifying"


def test_a_status_the_sop_does_not_reach_is_409_and_nothing_of_the_patch_is_applied():
    scene = factories.flow_scene("nossa")
    scene.walk_to("diagnosing")
    before = factories.ticket_snapshot(scene.ticket)

    response = patch(
        scene.agent,
        scene.ticket,
        {"status": "resolved", "note": [{"text": "Written with the refused change"}]},
    )

    assert response.status_code == 409, response.json()
    error = response.json()
    assert (error["@type"], error["code"], error["reason"]) == (
        "Error",
        "TransitionNotAllowed",
        "Conflict",
    )
    assert error["message"].startswith(
        "The SOP does not move a ticket from “Diagnosing” (diagnosing) to resolved. "
        "From there you may move it to: "
    )
    assert "held (escalated_field)" in error["message"]
    assert "inProgress (remote_fix)" in error["message"]
    assert factories.ticket_snapshot(scene.ticket) == before
    assert not Note.objects.exists()


def test_a_status_change_for_another_role_is_403_and_nothing_of_the_patch_is_applied(supervisor):
    """Supervisors may add notes and change priorities, but the SOP's steps are the agent's."""
    scene = factories.flow_scene("nossa")
    scene.walk_to("diagnosing")
    before = factories.ticket_snapshot(scene.ticket)

    response = patch(
        supervisor,
        scene.ticket,
        {
            "note": [{"text": "Hurry"}],
            "priority": "Critical",
            "status": "held",
            "statusChangeReason": "escalated_field",
        },
    )

    assert response.status_code == 403, response.json()
    assert "assigned agent" in response.json()["message"]
    assert factories.ticket_snapshot(scene.ticket) == before
    assert scene.reload().priority == 3
    assert not Note.objects.exists()
    assert not TransitionLog.objects.filter(transition="change_priority").exists()


def test_a_closed_ticket_cannot_be_reopened_through_its_status():
    scene = factories.flow_scene("callback")
    scene.walk_to("closed")

    response = patch(scene.agent, scene.ticket, {"status": "inProgress"})

    assert response.status_code == 409
    assert response.json()["message"].endswith("You may not change its status from there.")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": "done"}, "status"),
        ({"status": None}, "status"),
        ({"priority": None}, "priority"),
        ({"priority": "Urgent"}, "priority"),
        ({"id": "99"}, "id"),
        ({"creationDate": "2025-01-01T00:00:00Z"}, "creationDate"),
        ({"statusChangeHistory": []}, "statusChangeHistory"),
        ({"ticketType": "gamas"}, "ticketType"),
        ({"description": "New text"}, "description"),
        ({"mood": "angry"}, "mood"),
        ({"@type": "Note"}, "@type"),
        (
            {"troubleTicketCharacteristic": [characteristic("closingCode", "FIXED_REMOTE")]},
            "troubleTicketCharacteristic",
        ),
        (
            {
                "status": "closed",
                "troubleTicketCharacteristic": [characteristic("site", "MLG")],
            },
            "troubleTicketCharacteristic.site",
        ),
        ({"statusChangeReason": "Just because"}, "statusChangeReason"),
        ({"note": [{"text": "ok\x00"}]}, "note[0].text"),
    ],
)
def test_read_only_unknown_or_bad_fields_are_400_naming_them(supervisor, change, field):
    ticket = factories.flow_ticket("nossa")
    before = factories.ticket_snapshot(ticket)

    response = patch(supervisor, ticket, {"note": [{"text": "Not kept"}], **change})

    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"], response.json()["errors"]
    assert factories.ticket_snapshot(ticket) == before
    assert not Note.objects.exists()


def test_json_patch_is_not_supported(supervisor):
    ticket = factories.flow_ticket("nossa")
    response = patch(
        supervisor,
        ticket,
        [{"op": "replace", "path": "/priority", "value": "High"}],
        content_type="application/json-patch+json",
    )
    assert response.status_code == 415
    assert response.json()["@type"] == "Error"


def test_a_ticket_the_client_may_not_see_is_404():
    ticket = factories.flow_ticket("nossa")
    other_site_agent = factories.agent_for("nossa", site_code="MLG")

    assert patch(other_site_agent, ticket, {"note": [{"text": "x"}]}).status_code == 404
    assert (
        client_for(other_site_agent).patch(f"{TICKETS}/nope", "{}", content_type=MERGE).status_code
        == 404
    )


# --- Deleting ------------------------------------------------------------------------------------
def test_delete_is_405_saying_how_to_end_a_ticket(supervisor):
    ticket = factories.flow_ticket("nossa")

    response = client_for(supervisor).delete(f"{TICKETS}/{ticket.pk}")

    assert response.status_code == 405
    assert response["Allow"] == "GET, PATCH, HEAD, OPTIONS"
    error = response.json()
    assert (error["@type"], error["status"], error["reason"]) == (
        "Error",
        "405",
        "Method Not Allowed",
    )
    assert "PATCH its status" in error["message"]
    assert Ticket.objects.filter(pk=ticket.pk).exists()


def test_put_is_405():
    ticket = factories.flow_ticket("nossa")
    response = client_for(factories.role_user("Supervisor")).put(
        f"{TICKETS}/{ticket.pk}", {}, format="json"
    )
    assert response.status_code == 405
    assert "DELETE" not in response["Allow"]


# --- Concurrency (PostgreSQL) ---------------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_status_changes_at_once_one_wins_the_other_is_409():
    """Close and "not restored: diagnose again" sent together from verifying: the row lock
    serialises them; the second finds the ticket where the first left it, from which its
    status is not reachable, and changes nothing (its note included)."""
    for code, name in (("PST", "Pusat"), ("MLG", "Malang")):
        Site.objects.get_or_create(code=code, defaults={"name": name})
    scene = factories.flow_scene("nossa")
    scene.walk_to("verifying")
    factories.record_calls(scene.ticket, scene.agent, ContactOutcome.ANSWERED)
    close = {
        "status": "closed",
        "troubleTicketCharacteristic": [characteristic("closingCode", "FIXED_REMOTE")],
    }
    again = {
        "status": "inProgress",
        "statusChangeReason": "diagnosing",
        "note": [{"text": "Sent with the second change"}],
        "troubleTicketCharacteristic": [characteristic("note", "Still red")],
    }

    results = at_once(
        [
            lambda: patch(scene.agent, scene.ticket, close),
            lambda: patch(scene.agent, scene.ticket, again),
        ]
    )

    codes = sorted(value.status_code for _kind, value in results)
    assert codes == [200, 409], [value.json() for _kind, value in results]
    ticket = scene.reload()
    steps = list(
        TransitionLog.objects.filter(ticket=ticket, from_state="verifying")
        .exclude(to_state="verifying")
        .values_list("transition", flat=True)
    )
    winner = next(i for i, (_kind, value) in enumerate(results) if value.status_code == 200)
    if winner == 0:
        assert (ticket.state, steps) == ("closed", ["close"])
        assert not Note.objects.exists()
    else:
        assert (ticket.state, steps) == ("diagnosing", ["not_restored"])
        assert Note.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_ticket_posted_twice_at_once_is_one_ticket():
    for code, name in (("PST", "Pusat"), ("MLG", "Malang")):
        Site.objects.get_or_create(code=code, defaults={"name": name})
    system = factories.user("System", username="crm")

    results = at_once([lambda: post(system, new_ticket()), lambda: post(system, new_ticket())])

    answers = [value for _kind, value in results]
    assert [answer.status_code for answer in answers] == [201, 201], answers
    assert answers[0].json()["id"] == answers[1].json()["id"]
    assert (Ticket.objects.count(), Service.objects.count(), Customer.objects.count()) == (1, 1, 1)
