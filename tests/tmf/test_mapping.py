"""The TMF621 mapping (`tickets.tmf`): SOP states to TMF statuses, priorities, and each field of
the TroubleTicket a ticket becomes. The expected values are written here by hand, from the rules
of docs/tmf621.md and the spec, never computed by `tickets.tmf`."""

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from tests import factories
from tests.tmf.spec import assert_trouble_ticket
from tickets import services, tmf
from tickets.exceptions import InvalidInput
from tickets.flows import FLOWS
from tickets.models import AgentProfile, ContactOutcome, Note, Ticket

ROOT = Path(__file__).resolve().parents[2]
TICKETS = "/tmf-api/troubleTicket/v5/troubleTicket"

ACK, WORK, PENDING, HELD = "acknowledged", "inProgress", "pending", "held"
RESOLVED, CLOSED, REJECTED = "resolved", "closed", "rejected"

# Every SOP state of every flow -> TMF status (brief and docs/tmf621.md, "State mapping").
GOLDEN: dict[str, dict[str, str]] = {
    "callback": {
        "new": ACK, "claimed": WORK, "contacting": WORK, "resolved_on_call": RESOLVED,
        "nossa_ticket_created": RESOLVED, "unreachable": PENDING, "escalated": HELD,
        "closed": CLOSED,
    },
    "nossa": {
        "new": ACK, "claimed": WORK, "diagnosing": WORK, "remote_fix": WORK,
        "escalated_field": HELD, "waiting_field": HELD, "linked_to_gamas": HELD,
        "verifying": WORK, "escalated": HELD, "closed": CLOSED,
    },
    "gamas": {
        "new": ACK, "linked": HELD, "waiting_recovery": HELD, "verifying": WORK,
        "not_recovered": WORK, "converted": RESOLVED, "escalated": HELD, "closed": CLOSED,
    },
    "c4_caring": {
        "new": ACK, "claimed": WORK, "contacting": WORK, "cared": RESOLVED,
        "issue_found": RESOLVED, "unreachable": PENDING, "escalated": HELD, "closed": CLOSED,
    },
    "force_close": {
        "new": ACK, "claimed": WORK, "verifying": WORK, "confirmed_ok": RESOLVED,
        "not_ok": WORK, "reopened": WORK, "escalated": HELD, "closed": CLOSED,
    },
    "fresh_lapul": {
        "new": ACK, "claimed": WORK, "analysing": WORK, "escalated_priority": HELD,
        "monitoring": WORK, "verifying": WORK, "escalated": HELD, "closed": CLOSED,
    },
    "ideas": {
        "new": ACK, "claimed": WORK, "checking_offer": WORK, "contacting": WORK,
        "accepted": WORK, "order_entered": RESOLVED, "declined": RESOLVED,
        "unreachable": PENDING, "escalated": HELD, "closed": CLOSED,
    },
}  # fmt: skip

# Every closing code of every flow -> the status of a ticket closed with it.
GOLDEN_CLOSINGS: dict[str, dict[str, str]] = {
    "callback": {"RESOLVED_ON_CALL": CLOSED, "NOSSA_TICKET": CLOSED, "UNREACHABLE": CLOSED,
                 "DUPLICATE": REJECTED},
    "nossa": {"FIXED_REMOTE": CLOSED, "FIXED_FIELD": CLOSED, "GAMAS_RECOVERED": CLOSED,
              "CUSTOMER_SIDE": CLOSED, "UNREACHABLE": CLOSED},
    "gamas": {"GAMAS_RECOVERED": CLOSED, "CONVERTED_NOSSA": CLOSED, "UNREACHABLE": CLOSED},
    "c4_caring": {"CARED": CLOSED, "ISSUE_ESCALATED": CLOSED, "UNREACHABLE": CLOSED},
    "force_close": {"CONFIRMED_OK": CLOSED, "REOPENED": CLOSED, "UNREACHABLE_ONLINE": CLOSED},
    "fresh_lapul": {"FIXED": CLOSED, "CUSTOMER_SIDE": CLOSED, "UNREACHABLE": CLOSED},
    "ideas": {"ORDER_ENTERED": CLOSED, "DECLINED": CLOSED, "NOT_ELIGIBLE": REJECTED,
              "UNREACHABLE": CLOSED},
}  # fmt: skip


# --- States -------------------------------------------------------------------------------------
def test_the_golden_table_names_every_flow():
    assert set(GOLDEN) == set(FLOWS) == set(GOLDEN_CLOSINGS)


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_every_state_of_the_machine_is_in_the_table_and_maps_as_written(flow):
    """Fails when a machine gains (or loses) a state: the table here must be updated, and with
    it the docs' mapping table."""
    assert set(FLOWS[flow].states) == set(GOLDEN[flow])
    for state, status in GOLDEN[flow].items():
        assert tmf.tmf_status(flow, state) == status, (flow, state)


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_every_closing_code_of_the_machine_maps_as_written(flow):
    assert {code for code, _label in FLOWS[flow].closing_codes} == set(GOLDEN_CLOSINGS[flow])
    for code, status in GOLDEN_CLOSINGS[flow].items():
        assert tmf.tmf_status(flow, "closed", code) == status, (flow, code)


def test_the_sop_transition_table_has_no_state_or_code_the_golden_tables_miss():
    with (ROOT / "docs/sop-transitions.csv").open() as table:
        for row in csv.DictReader(table):
            flow = row["flow"]
            if flow == "gamas_incident":  # the incident's own machine: not a trouble ticket
                continue
            for state in [row["source"], *row["target"].split("|")]:
                assert state in GOLDEN[flow], (flow, state)
            for code in filter(None, row["closing_codes"].split("|")):
                assert code in GOLDEN_CLOSINGS[flow], (flow, code)


def test_a_closing_code_matters_only_once_closed():
    assert tmf.tmf_status("callback", "escalated", "DUPLICATE") == HELD
    assert tmf.tmf_status("nossa", "closed", "DUPLICATE") == CLOSED  # not a NOSSA code
    assert tmf.tmf_status("callback", "closed", "") == CLOSED


def test_an_unknown_state_is_an_error_not_a_guess():
    with pytest.raises(KeyError):
        tmf.tmf_status("nossa", "teleported")


# --- Priority and severity ------------------------------------------------------------------------
def test_priority_and_severity_names():
    assert tmf.PRIORITY_NAMES == {1: "Critical", 2: "High", 3: "Medium", 4: "Low"}
    assert tmf.SEVERITY_NAMES == {1: "Critical", 2: "Major", 3: "Minor", 4: "Minor"}


@pytest.mark.parametrize(
    ("severity", "priority", "expected"),
    [
        ("Critical", None, 1),
        ("Major", None, 2),
        ("Minor", None, 3),
        (None, "Critical", 1),
        (None, "High", 2),
        (None, "Medium", 3),
        (None, "Normal", 3),
        (None, "low", 4),
        ("Minor", "High", 2),  # an explicit priority wins
        ("Critical", "Low", 4),
        (None, None, None),
        ("", "", None),
    ],
)
def test_priority_from_severity_and_priority(severity, priority, expected):
    assert tmf.priority_from(severity, priority) == expected


@pytest.mark.parametrize(
    ("severity", "priority", "field"),
    [("Urgent", None, "severity"), (None, "P1", "priority"), (None, 2, "priority"),
     (["Major"], None, "severity")],
)  # fmt: skip
def test_priority_from_refuses_other_words_naming_the_field(severity, priority, field):
    with pytest.raises(InvalidInput) as refused:
        tmf.priority_from(severity, priority)
    assert list(refused.value.errors) == [field]


def test_href_of():
    assert tmf.href_of(42) == "/tmf-api/troubleTicket/v5/troubleTicket/42"


# --- Representations ------------------------------------------------------------------------------
def resource(ticket, viewer, **kwargs) -> dict:
    ticket = tmf.prefetch_for(Ticket.objects.all(), kwargs.get("fields")).get(pk=ticket.pk)
    return assert_trouble_ticket(tmf.ticket_resource(ticket, viewer=viewer, **kwargs))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def supervisor(db):
    user = factories.role_user("Supervisor")
    User.objects.filter(pk=user.pk).update(first_name="Sari", last_name="Wulandari")
    return User.objects.get(pk=user.pk)


@pytest.fixture
def agent(db):
    user = factories.agent(site_code="PST", flows=["nossa", "callback", "gamas", "fresh_lapul"],
                           username="budi")  # fmt: skip
    User.objects.filter(pk=user.pk).update(first_name="Budi", last_name="Santoso")
    AgentProfile.objects.filter(user=user).update(agent_code="PST-007")
    return User.objects.get(pk=user.pk)


def _nossa(**fields):
    service = factories.ServiceFactory(service_number="131100000071", package="IndiHome 50M")
    service.customer.name, service.customer.phone = "Dewi Anggraini", "081234567890"
    service.customer.save()
    return factories.arrive(
        "nossa", service=service, source_system="nossa", source_ref="IN16672489",
        nossa_number="IN16672489", summary="Internet mati sejak pagi", category="internet",
        priority=2, reported_at=at("2025-03-01T01:00:00Z"), **fields,
    )  # fmt: skip


@pytest.mark.django_db
def test_a_new_nossa_ticket_with_notes(supervisor, agent):
    ticket = _nossa()
    Ticket.objects.filter(pk=ticket.pk).update(
        resolve_by=at("2025-03-01T13:00:00Z"), slg_due=at("2025-03-02T01:00:00Z")
    )
    Note.objects.create(ticket=ticket, author=supervisor, text="Customer is a hospital",
                        created_at=at("2025-03-01T02:00:00Z"))  # fmt: skip
    Note.objects.create(ticket=ticket, author=agent, text="ONT shows LOS",
                        created_at=at("2025-03-01T01:30:00Z"))  # fmt: skip
    body = resource(ticket, supervisor)
    number = f"T2-{ticket.pk:07d}"
    service = ticket.service
    assert {key: body[key] for key in (
        "id", "href", "@type", "name", "description", "severity", "priority", "ticketType",
        "channel", "creationDate", "expectedResolutionDate", "status", "statusChangeReason",
        "statusChangeDate", "externalIdentifier", "troubleTicketRelationship",
    )} == {
        "id": str(ticket.pk),
        "href": f"{TICKETS}/{ticket.pk}",
        "@type": "TroubleTicket",
        "name": number,
        "description": "Internet mati sejak pagi",
        "severity": "Major",
        "priority": "High",
        "ticketType": "nossa",
        "channel": {"@type": "ChannelRef", "id": "nossa", "name": "NOSSA"},
        "creationDate": "2025-03-01T01:00:00Z",
        "expectedResolutionDate": "2025-03-01T13:00:00Z",
        "status": "acknowledged",
        "statusChangeReason": "new",
        "statusChangeDate": "2025-03-01T01:00:00Z",
        "externalIdentifier": [{"@type": "ExternalIdentifier", "id": "IN16672489",
                                "owner": "NOSSA", "externalIdentifierType": "troubleTicket"}],
        "troubleTicketRelationship": [],
    }  # fmt: skip
    assert "resolutionDate" not in body
    assert body["note"] == [
        {"@type": "Note", "id": f"note-{ticket.notes.get(author=agent).pk}",
         "author": "Budi Santoso", "date": "2025-03-01T01:30:00Z", "text": "ONT shows LOS"},
        {"@type": "Note", "id": f"note-{ticket.notes.get(author=supervisor).pk}",
         "author": "Sari Wulandari", "date": "2025-03-01T02:00:00Z",
         "text": "Customer is a hospital"},
    ]  # fmt: skip
    assert body["relatedEntity"] == [
        {"@type": "RelatedEntity", "role": "service",
         "entity": {"@type": "EntityRef", "id": "131100000071", "name": "IndiHome 50M",
                    "@referredType": "Service"}},
    ]  # fmt: skip
    assert body["relatedParty"] == [
        {"@type": "RelatedPartyRefOrPartyRoleRef", "role": "customer",
         "partyOrPartyRole": {"@type": "PartyRef", "id": str(service.customer_id),
                              "name": "Dewi Anggraini", "@referredType": "Individual"}},
    ]  # fmt: skip
    assert body["statusChangeHistory"] == [
        {"@type": "StatusChange", "status": "acknowledged", "statusChangeReason": "new",
         "statusChangeDate": body["statusChangeHistory"][0]["statusChangeDate"]},
    ]  # fmt: skip
    characteristics = {c["name"]: (c["@type"], c["value"]) for c in body[
        "troubleTicketCharacteristic"]}  # fmt: skip
    assert characteristics == {
        "site": ("StringCharacteristic", "PST"),
        "slaStatus": ("StringCharacteristic", "ok"),
        "failedContactAttempts": ("IntegerCharacteristic", 0),
        "category": ("StringCharacteristic", "internet"),
        "slgDue": ("StringCharacteristic", "2025-03-02T01:00:00Z"),
        "contactPhone": ("StringCharacteristic", "081234567890"),  # a supervisor reads it
    }


@pytest.mark.django_db
def test_a_claimed_ticket_with_a_contact_attempt(agent, supervisor):
    ticket = _nossa()
    services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    services.record_contact_attempt(
        ticket_id=ticket.pk, agent=agent, outcome=ContactOutcome.BUSY, note="Line busy twice"
    )
    attempt = ticket.contact_attempts.get()
    body = resource(ticket, supervisor)
    assert (body["status"], body["statusChangeReason"]) == ("inProgress", "claimed")
    assert body["note"] == [
        {"@type": "Note", "id": f"contact-{attempt.pk}", "author": "Budi Santoso",
         "date": attempt.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
         "text": "Contact attempt: Busy. Line busy twice"},
    ]  # fmt: skip
    assert [(c["status"], c["statusChangeReason"]) for c in body["statusChangeHistory"]] == [
        ("acknowledged", "new"),
        ("inProgress", "claimed"),
    ]
    assert body["relatedParty"][1] == {
        "@type": "RelatedPartyRefOrPartyRoleRef", "role": "assignee",
        "partyOrPartyRole": {"@type": "PartyRef", "id": str(agent.pk), "name": "Budi Santoso",
                             "@referredType": "Individual"},
    }  # fmt: skip
    # The agent holds the ticket: the phone in full; a system client sees the agent code only.
    phones = [c["value"] for c in resource(ticket, agent)["troubleTicketCharacteristic"]
              if c["name"] == "contactPhone"]  # fmt: skip
    assert phones == ["081234567890"]
    system = factories.role_user("System")
    seen = resource(ticket, system, fields={"relatedParty"})["relatedParty"][1]
    assert seen["partyOrPartyRole"]["name"] == "PST-007"


@pytest.mark.django_db
def test_an_agent_who_does_not_hold_the_ticket_reads_the_phone_masked(agent):
    ticket = _nossa()
    body = resource(ticket, agent, fields={"troubleTicketCharacteristic"})
    phones = [
        c["value"] for c in body["troubleTicketCharacteristic"] if c["name"] == "contactPhone"
    ]
    assert phones == ["0812****7890"]


@pytest.mark.django_db
def test_a_fresh_lapul_points_at_its_predecessor(supervisor):
    first = _nossa()
    factories.put_in_state(first, "closed", closing_code="FIXED_REMOTE",
                           closed_at=at("2025-03-01T05:00:00Z"))  # fmt: skip
    again = factories.arrive("nossa", service=first.service, source_system="nossa",
                             source_ref="IN16672999", nossa_number="IN16672999",
                             reported_at=at("2025-03-05T01:00:00Z"))  # fmt: skip
    assert again.flow == "fresh_lapul"
    body = resource(again, supervisor)
    assert body["ticketType"] == "fresh_lapul"
    assert body["priority"] == "High"  # one step above the default Medium
    assert body["troubleTicketRelationship"] == [
        {"@type": "TroubleTicketRelationship", "id": str(first.pk),
         "href": f"{TICKETS}/{first.pk}", "name": f"T2-{first.pk:07d}",
         "relationshipType": "isFreshLapulOf", "@referredType": "TroubleTicket"},
    ]  # fmt: skip
    closed = resource(first, supervisor)
    assert (closed["status"], closed["resolutionDate"]) == ("closed", "2025-03-01T05:00:00Z")


@pytest.mark.django_db
def test_an_ivr_gamas_report_linked_to_an_incident(supervisor):
    service = factories.service_at("PST", odp="ODP-KBL-FIBRECUT")
    incident = factories.open_gamas(area_level="odp", area_code="ODP-KBL-FIBRECUT")
    ticket = factories.arrive("gamas", service=service, source_system="ivr",
                              source_ref="IVR30000042")  # fmt: skip
    body = resource(ticket, supervisor)
    assert (body["status"], body["statusChangeReason"]) == ("held", "waiting_recovery")
    assert body["channel"] == {"@type": "ChannelRef", "id": "ivr", "name": "IVR"}
    assert body["externalIdentifier"] == [
        {"@type": "ExternalIdentifier", "id": "IVR30000042", "owner": "IVR",
         "externalIdentifierType": "ivrCall"},
    ]  # fmt: skip
    number = f"GMS-{incident.pk:06d}"
    assert body["relatedEntity"][1] == {
        "@type": "RelatedEntity", "role": "gamasIncident",
        "entity": {"@type": "EntityRef", "id": str(incident.pk), "name": f"{number} Fibre cut",
                   "@referredType": "GamasIncident"},
    }  # fmt: skip
    assert body["troubleTicketRelationship"] == [
        {"@type": "TroubleTicketRelationship", "id": number, "name": "Fibre cut",
         "relationshipType": "isChildOfGamas", "@referredType": "GamasIncident"},
    ]  # fmt: skip
    assert [(c["status"], c["statusChangeReason"]) for c in body["statusChangeHistory"]] == [
        ("acknowledged", "new"), ("held", "linked"), ("held", "waiting_recovery"),
    ]  # fmt: skip


@pytest.mark.django_db
def test_a_callback_record_and_its_rejection_as_a_duplicate(supervisor):
    ticket = factories.arrive("callback", service=factories.service_at("PST"),
                              source_system="callback", source_ref="CB2600000123",
                              priority=1)  # fmt: skip
    body = resource(ticket, supervisor)
    assert body["channel"] == {"@type": "ChannelRef", "id": "callback", "name": "Callback"}
    assert body["externalIdentifier"] == [
        {"@type": "ExternalIdentifier", "id": "CB2600000123", "owner": "Callback",
         "externalIdentifierType": "callbackRecord"},
    ]  # fmt: skip
    assert (body["priority"], body["severity"]) == ("Critical", "Critical")
    factories.put_in_state(ticket, "resolved_on_call",
                           state_changed_at=at("2025-03-01T03:00:00Z"))  # fmt: skip
    resolved = resource(ticket, supervisor)
    assert (resolved["status"], resolved["resolutionDate"]) == ("resolved", "2025-03-01T03:00:00Z")
    factories.put_in_state(ticket, "closed", closing_code="DUPLICATE",
                           closed_at=at("2025-03-01T04:00:00Z"))  # fmt: skip
    rejected = resource(ticket, supervisor)
    assert rejected["status"] == "rejected"
    assert "resolutionDate" not in rejected
    closing = [c["value"] for c in rejected["troubleTicketCharacteristic"]
               if c["name"] == "closingCode"]  # fmt: skip
    assert closing == ["DUPLICATE"]


@pytest.mark.django_db
def test_a_callback_that_created_a_nossa_ticket_carries_both_identifiers(supervisor):
    ticket = factories.arrive("callback", service=factories.service_at("PST"),
                              source_system="callback", source_ref="CB2600000124")  # fmt: skip
    Ticket.objects.filter(pk=ticket.pk).update(nossa_number="IN16670001")
    assert resource(ticket, supervisor)["externalIdentifier"] == [
        {"@type": "ExternalIdentifier", "id": "IN16670001", "owner": "NOSSA",
         "externalIdentifierType": "troubleTicket"},
        {"@type": "ExternalIdentifier", "id": "CB2600000124", "owner": "Callback",
         "externalIdentifierType": "callbackRecord"},
    ]  # fmt: skip


@pytest.mark.django_db
def test_a_console_ticket_comes_from_the_console_channel_with_no_identifier(supervisor):
    ticket = factories.arrive("c4_caring", service=factories.service_at("MLG"))
    body = resource(ticket, supervisor, fields={"channel", "externalIdentifier"})
    assert body == {
        "id": str(ticket.pk), "href": f"{TICKETS}/{ticket.pk}", "@type": "TroubleTicket",
        "channel": {"@type": "ChannelRef", "id": "console", "name": "Tier-2 console"},
        "externalIdentifier": [],
    }  # fmt: skip


@pytest.mark.django_db
def test_an_event_carries_the_lighter_resource(supervisor):
    body = tmf.event_ticket(_nossa(), viewer=supervisor)
    assert set(body) == {
        "id", "href", "@type", "status", "statusChangeReason", "statusChangeDate", "ticketType",
        "severity", "priority", "lastUpdate", "externalIdentifier", "expectedResolutionDate",
        "channel",
    }  # fmt: skip
    assert_trouble_ticket(body)
