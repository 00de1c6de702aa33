"""Tickets in the vocabulary of TM Forum's TMF621 Trouble Ticket API v5 (docs/tmf621.md).

One place maps our tickets to the standard's `TroubleTicket`: the SOP state to the TMF status
(`tmf_status`), priority 1..4 to `priority` and `severity` (`PRIORITY_NAMES`, `SEVERITY_NAMES`,
`priority_from`), a ticket to its JSON (`ticket_resource`, `event_ticket`), and what a page of
tickets must load so that building it costs a fixed number of queries (`prefetch_for`).

The resource views (`tickets.api.tmf`) and the event hub read these; nothing here writes.
It sits beside the flow machines: it knows the states by name, not by importing the machines,
and `tests/tmf/test_mapping.py` fails when a machine gains a state this table does not map.

What a viewer sees follows the console's data scoping: the ticket itself is chosen by
`selectors.visible_tickets`, and inside it the customer's phone is shown as `roles.phone_as_seen`
allows (an agent reads it in full only on the ticket they hold), and a system client sees the
assigned agent by their agent code only, never by user name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _

from . import roles
from .exceptions import InvalidInput
from .models import Priority, Ticket, TransitionLog

TYPE = "TroubleTicket"
TROUBLE_TICKET_PATH = "/tmf-api/troubleTicket/v5/troubleTicket/"  # tickets.api.tmf.urls

# --- Status ---------------------------------------------------------------------------------
ACKNOWLEDGED = "acknowledged"
IN_PROGRESS = "inProgress"
PENDING = "pending"
HELD = "held"
RESOLVED = "resolved"
CLOSED = "closed"
CANCELLED = "cancelled"
REJECTED = "rejected"
STATUSES = (ACKNOWLEDGED, IN_PROGRESS, PENDING, HELD, RESOLVED, CLOSED, CANCELLED, REJECTED)

# Every SOP state of every flow machine (tickets/flows/*.py). A state name means the same in
# every flow that has it, so one table serves all seven.
STATUS_BY_STATE: dict[str, str] = {
    # waiting for an agent
    "new": ACKNOWLEDGED,
    # an agent works it
    "claimed": IN_PROGRESS,
    "contacting": IN_PROGRESS,
    "diagnosing": IN_PROGRESS,
    "remote_fix": IN_PROGRESS,
    "verifying": IN_PROGRESS,
    "analysing": IN_PROGRESS,
    "monitoring": IN_PROGRESS,
    "checking_offer": IN_PROGRESS,
    "accepted": IN_PROGRESS,
    "not_ok": IN_PROGRESS,
    "reopened": IN_PROGRESS,
    "not_recovered": IN_PROGRESS,
    # waiting for the reporter / customer
    "unreachable": PENDING,
    # waiting for a third party (Support, the field team, the gamas recovery)
    "escalated": HELD,
    "escalated_field": HELD,
    "waiting_field": HELD,
    "escalated_priority": HELD,
    "linked": HELD,
    "linked_to_gamas": HELD,
    "waiting_recovery": HELD,
    # solved from our side, not closed yet
    "resolved_on_call": RESOLVED,
    "nossa_ticket_created": RESOLVED,
    "cared": RESOLVED,
    "issue_found": RESOLVED,
    "confirmed_ok": RESOLVED,
    "order_entered": RESOLVED,
    "declined": RESOLVED,
    "converted": RESOLVED,
    # the end
    "closed": CLOSED,
}

# Closing codes that end a ticket without working a real case: the request failed the
# business rules (TMF: "invalid information is provided or the request fails to meet business
# rules"). No SOP closing code withdraws a ticket, so none maps to `cancelled`.
REJECTED_CLOSINGS: frozenset[tuple[str, str]] = frozenset(
    {
        ("callback", "DUPLICATE"),  # the Callback record duplicates another
        ("ideas", "NOT_ELIGIBLE"),  # the customer is in arrears: not eligible for the offer
    }
)
CANCELLED_CLOSINGS: frozenset[tuple[str, str]] = frozenset()


def tmf_status(flow: str, state: str, closing_code: str = "") -> str:
    """The TMF status of a ticket of `flow` in SOP `state` (closed with `closing_code`).

    Raises KeyError for a state no machine has (the mapping test keeps the table complete)."""
    status = STATUS_BY_STATE[state]
    if status == CLOSED and closing_code:
        if (flow, closing_code) in REJECTED_CLOSINGS:
            return REJECTED
        if (flow, closing_code) in CANCELLED_CLOSINGS:
            return CANCELLED
    return status


def states_for(statuses: Iterable[str]) -> tuple[set[str], bool, bool]:
    """The SOP states whose TMF status is one of `statuses`, for filtering a queryset.

    Returns (states, closed_plain, closed_special): whether plain `closed` tickets are asked
    for (`closed`) and whether closed tickets with a rejecting/cancelling code are (`rejected`,
    `cancelled`); the caller filters `closed` rows on their closing codes accordingly."""
    wanted = set(statuses)
    states = {state for state, status in STATUS_BY_STATE.items() if status in wanted}
    states.discard("closed")
    return states, CLOSED in wanted, bool(wanted & {REJECTED, CANCELLED})


def special_closings(statuses: Iterable[str]) -> set[tuple[str, str]]:
    """The (flow, closing code) pairs that make a closed ticket `rejected` / `cancelled`."""
    wanted = set(statuses)
    pairs: set[tuple[str, str]] = set()
    if REJECTED in wanted:
        pairs |= REJECTED_CLOSINGS
    if CANCELLED in wanted:
        pairs |= CANCELLED_CLOSINGS
    return pairs


# --- Priority and severity -------------------------------------------------------------------
PRIORITY_NAMES: dict[int, str] = {
    Priority.CRITICAL: "Critical",
    Priority.HIGH: "High",
    Priority.NORMAL: "Medium",
    Priority.LOW: "Low",
}
SEVERITY_NAMES: dict[int, str] = {
    Priority.CRITICAL: "Critical",
    Priority.HIGH: "Major",
    Priority.NORMAL: "Minor",
    Priority.LOW: "Minor",
}
# What clients send: the names above, any case, and "Normal" for Medium (our own word for it).
PRIORITY_BY_NAME: dict[str, int] = {
    **{name.lower(): value for value, name in PRIORITY_NAMES.items()},
    "normal": Priority.NORMAL,
}
PRIORITY_BY_SEVERITY: dict[str, int] = {
    "critical": Priority.CRITICAL,
    "major": Priority.HIGH,
    "minor": Priority.NORMAL,
}


def priority_of_name(name: str) -> int | None:
    """Our priority for a TMF priority name (None when it is not one)."""
    return PRIORITY_BY_NAME.get(str(name).strip().lower())


def priorities_of_severity(name: str) -> tuple[int, ...]:
    """Our priorities that show as TMF severity `name` (empty when it is not one)."""
    wanted = str(name).strip().lower()
    return tuple(value for value, label in SEVERITY_NAMES.items() if label.lower() == wanted)


def priority_from(severity=None, priority=None) -> int | None:
    """The priority (1..4) a client asks for: an explicit `priority` wins, else `severity`
    (Critical 1, Major 2, Minor 3); None when neither is given.

    Raises `InvalidInput` naming the field when a value is not one of the standard's words."""
    if priority not in (None, ""):
        value = priority_of_name(priority) if isinstance(priority, str) else None
        if value is None:
            raise InvalidInput(
                {
                    "priority": [
                        _("Use one of: %(names)s.")
                        % {"names": ", ".join([*PRIORITY_NAMES.values(), "Normal"])}
                    ]
                }
            )
        return value
    if severity not in (None, ""):
        value = (
            PRIORITY_BY_SEVERITY.get(severity.strip().lower())
            if isinstance(severity, str)
            else None
        )
        if value is None:
            raise InvalidInput(
                {"severity": [_("Use one of: %(names)s.") % {"names": "Critical, Major, Minor"}]}
            )
        return value
    return None


# --- Channel and external identifiers ----------------------------------------------------------
CONSOLE_CHANNEL = "console"  # tickets with no source system: made in the console or its API
CHANNEL_NAMES: dict[str, str] = {
    "nossa": "NOSSA",
    "nossa-fc": "NOSSA (force closed)",
    "callback": "Callback",
    "ivr": "IVR",
    "c4-list": "C4 Caring list",
    "ideas-list": "Ideas campaign list",
    "campaign": "Campaign",
    CONSOLE_CHANNEL: "Tier-2 console",
}
# The external identifiers a source system's reference stands for: (owner, type).
SOURCE_IDENTIFIERS: dict[str, tuple[str, str]] = {
    "callback": ("Callback", "callbackRecord"),
    "ivr": ("IVR", "ivrCall"),
}
# Sources whose reference is the NOSSA number itself (shown once, as the NOSSA identifier).
NOSSA_SOURCES = frozenset({"nossa", "nossa-fc"})
NOSSA_IDENTIFIER = ("NOSSA", "troubleTicket")


def channel_id(ticket: Ticket) -> str:
    return ticket.source_system or CONSOLE_CHANNEL


def source_system_of_channel(value: str) -> str:
    """The `source_system` a `channel.id` stands for (the console's is blank)."""
    return "" if value == CONSOLE_CHANNEL else value


def external_identifiers(ticket: Ticket) -> list[dict]:
    """NOSSA number, Callback record, IVR call id, and any other client's own reference
    (a ticket created through the API keeps the client's id in `source_ref`)."""
    found = []
    if ticket.nossa_number:
        found.append(_identifier(ticket.nossa_number, *NOSSA_IDENTIFIER))
    if ticket.source_ref and not (
        ticket.source_system in NOSSA_SOURCES and ticket.source_ref == ticket.nossa_number
    ):
        owner, kind = SOURCE_IDENTIFIERS.get(
            ticket.source_system,
            (CHANNEL_NAMES.get(ticket.source_system, ticket.source_system), "troubleTicket"),
        )
        if ticket.source_system in NOSSA_SOURCES:
            owner, kind = NOSSA_IDENTIFIER
        found.append(_identifier(ticket.source_ref, owner, kind))
    return found


def _identifier(value: str, owner: str, kind: str) -> dict:
    return {
        "@type": "ExternalIdentifier",
        "id": value,
        "owner": owner,
        "externalIdentifierType": kind,
    }


# --- The resource -----------------------------------------------------------------------------
def href_of(ticket_id) -> str:
    return f"{TROUBLE_TICKET_PATH}{ticket_id}"


def iso(value: datetime | None) -> str | None:
    """A date-time as RFC 3339 in UTC (`2025-01-31T08:00:00.123456Z`), None stays None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ticket_number(ticket_id: int) -> str:
    return Ticket.number_of(ticket_id)


def _status(ticket: Ticket) -> str:
    return tmf_status(ticket.flow, ticket.state, ticket.closing_code)


def _resolution_date(ticket: Ticket) -> str | None:
    status = _status(ticket)
    if status == RESOLVED:
        return iso(ticket.state_changed_at)
    if status == CLOSED:
        return iso(ticket.closed_at)
    return None  # rejected / cancelled tickets were never resolved


def _channel(ticket: Ticket) -> dict:
    key = channel_id(ticket)
    return {"@type": "ChannelRef", "id": key, "name": CHANNEL_NAMES.get(key, key)}


def _status_history(ticket: Ticket) -> list[dict]:
    return [
        {
            "@type": "StatusChange",
            "status": tmf_status(
                ticket.flow, row.to_state, str((row.data or {}).get("closing_code", ""))
            ),
            "statusChangeReason": row.to_state,
            "statusChangeDate": iso(row.at),
        }
        for row in ticket.transitions.all()
        if row.to_state != row.from_state and row.to_state in STATUS_BY_STATE
    ]


def _author(user) -> str:
    if user is None:
        return "system"
    return user.get_full_name() or user.get_username()


def _notes(ticket: Ticket) -> list[dict]:
    notes = [
        (note.created_at, note.pk, {
            "@type": "Note",
            "id": f"note-{note.pk}",
            "author": _author(note.author),
            "date": iso(note.created_at),
            "text": note.text,
        })
        for note in ticket.notes.all()
    ]  # fmt: skip
    for attempt in ticket.contact_attempts.all():
        text = _("Contact attempt: %(outcome)s.") % {"outcome": attempt.get_outcome_display()}
        if attempt.note:
            text = f"{text} {attempt.note}"
        notes.append(
            (attempt.at, attempt.pk, {
                "@type": "Note",
                "id": f"contact-{attempt.pk}",
                "author": _author(attempt.agent),
                "date": iso(attempt.at),
                "text": text,
            })
        )  # fmt: skip
    return [body for _at, _pk, body in sorted(notes, key=lambda item: (item[0], item[1]))]


def _entity_ref(entity_id: str, name: str, referred_type: str) -> dict:
    return {"@type": "EntityRef", "id": entity_id, "name": name, "@referredType": referred_type}


def _related_entities(ticket: Ticket) -> list[dict]:
    service = ticket.service
    found = [
        {
            "@type": "RelatedEntity",
            "role": "service",
            "entity": _entity_ref(
                service.service_number,
                service.package or service.service_number,
                "Service",
            ),
        }
    ]
    if ticket.gamas_incident_id is not None:
        incident = ticket.gamas_incident
        found.append(
            {
                "@type": "RelatedEntity",
                "role": "gamasIncident",
                "entity": _entity_ref(
                    str(incident.pk), f"{incident.number} {incident.title}", "GamasIncident"
                ),
            }
        )
    if ticket.campaign_id is not None:
        found.append(
            {
                "@type": "RelatedEntity",
                "role": "campaign",
                "entity": _entity_ref(ticket.campaign.code, ticket.campaign.name, "Campaign"),
            }
        )
    return found


def _party(role: str, party_id: str, name: str, referred_type: str = "Individual") -> dict:
    return {
        "@type": "RelatedPartyRefOrPartyRoleRef",
        "role": role,
        "partyOrPartyRole": {
            "@type": "PartyRef",
            "id": party_id,
            "name": name,
            "@referredType": referred_type,
        },
    }


def _assignee_name(assignee, viewer) -> str:
    """Staff read the agent's name; a system client only their agent code (the name our
    customers hear on the phone is not an external system's business)."""
    profile = roles.profile_of(assignee)
    code = profile.agent_code if profile is not None else ""
    if roles.is_system(viewer) and not roles.sees_every_ticket(viewer):
        return code or _("Tier-2 agent")
    return assignee.get_full_name() or assignee.get_username()


def _related_parties(ticket: Ticket, viewer) -> list[dict]:
    customer = ticket.service.customer
    found = [_party("customer", str(customer.pk), customer.name)]
    if ticket.assignee_id is not None:
        found.append(
            _party("assignee", str(ticket.assignee_id), _assignee_name(ticket.assignee, viewer))
        )
    return found


def _relationships(ticket: Ticket) -> list[dict]:
    found = []
    if ticket.previous_ticket_id is not None:
        found.append(
            {
                "@type": "TroubleTicketRelationship",
                "id": str(ticket.previous_ticket_id),
                "href": href_of(ticket.previous_ticket_id),
                "name": ticket_number(ticket.previous_ticket_id),
                "relationshipType": "isFreshLapulOf",
                "@referredType": TYPE,
            }
        )
    if ticket.gamas_incident_id is not None:
        incident = ticket.gamas_incident
        found.append(
            {
                "@type": "TroubleTicketRelationship",
                "id": incident.number,
                "name": incident.title,
                "relationshipType": "isChildOfGamas",
                "@referredType": "GamasIncident",
            }
        )
    return found


def _characteristic(name: str, value, kind: str = "string") -> dict:
    type_name = {"string": "StringCharacteristic", "integer": "IntegerCharacteristic"}[kind]
    return {"@type": type_name, "id": name, "name": name, "valueType": kind, "value": value}


def _characteristics(ticket: Ticket, viewer) -> list[dict]:
    found = [
        _characteristic("site", ticket.site.code),
        _characteristic("slaStatus", ticket.sla_status),
        _characteristic("failedContactAttempts", ticket.failed_attempts, "integer"),
    ]
    if ticket.category:
        found.append(_characteristic("category", ticket.category))
    if ticket.slg_due is not None:
        found.append(_characteristic("slgDue", iso(ticket.slg_due)))
    if ticket.closing_code:
        found.append(_characteristic("closingCode", ticket.closing_code))
    phone = roles.phone_as_seen(viewer, ticket, ticket.service.customer.phone)
    if phone:
        found.append(_characteristic("contactPhone", phone))
    return found


# Each top-level field: how it is built (ticket, viewer) -> value; None leaves it out.
FIELD_BUILDERS: dict[str, Callable] = {
    "name": lambda ticket, viewer: ticket_number(ticket.pk),
    "description": lambda ticket, viewer: ticket.summary,
    "severity": lambda ticket, viewer: SEVERITY_NAMES.get(ticket.priority),
    "priority": lambda ticket, viewer: PRIORITY_NAMES.get(ticket.priority),
    "ticketType": lambda ticket, viewer: ticket.flow,
    "channel": lambda ticket, viewer: _channel(ticket),
    "creationDate": lambda ticket, viewer: iso(ticket.created_at),
    "lastUpdate": lambda ticket, viewer: iso(ticket.updated_at),
    "expectedResolutionDate": lambda ticket, viewer: iso(ticket.resolve_by),
    "resolutionDate": lambda ticket, viewer: _resolution_date(ticket),
    "status": lambda ticket, viewer: _status(ticket),
    "statusChangeReason": lambda ticket, viewer: ticket.state,
    "statusChangeDate": lambda ticket, viewer: iso(ticket.state_changed_at or ticket.created_at),
    "statusChangeHistory": lambda ticket, viewer: _status_history(ticket),
    "externalIdentifier": lambda ticket, viewer: external_identifiers(ticket),
    "note": lambda ticket, viewer: _notes(ticket),
    "relatedEntity": lambda ticket, viewer: _related_entities(ticket),
    "relatedParty": _related_parties,
    "troubleTicketRelationship": lambda ticket, viewer: _relationships(ticket),
    "troubleTicketCharacteristic": _characteristics,
}
ALWAYS = ("id", "href", "@type")
FIELDS: tuple[str, ...] = (*ALWAYS, *FIELD_BUILDERS)
EVENT_FIELDS = frozenset(
    {
        "status",
        "statusChangeReason",
        "statusChangeDate",
        "ticketType",
        "severity",
        "priority",
        "lastUpdate",
        "externalIdentifier",
        "expectedResolutionDate",
        "channel",
    }
)


def ticket_resource(ticket: Ticket, *, viewer, fields: Iterable[str] | None = None) -> dict:
    """The ticket as a TMF621 `TroubleTicket`, as `viewer` may see it.

    `fields`: the top-level names to include (None: all); `id`, `href` and `@type` are always
    there, names we do not produce are ignored. Load the ticket with `prefetch_for` first when
    building many (the builders read the related rows through the ORM's caches)."""
    wanted = FIELD_BUILDERS.keys() if fields is None else [f for f in FIELD_BUILDERS if f in fields]
    body = {"id": str(ticket.pk), "href": href_of(ticket.pk), "@type": TYPE}
    for name in wanted:
        value = FIELD_BUILDERS[name](ticket, viewer)
        if value is not None:
            body[name] = value
    return body


def event_ticket(ticket: Ticket, *, viewer) -> dict:
    """The lighter resource an event carries (no notes, parties or history)."""
    return ticket_resource(ticket, viewer=viewer, fields=EVENT_FIELDS)


# --- Loading a page -----------------------------------------------------------------------------
# What each field reads beyond the ticket's own columns.
SELECTS: dict[str, tuple[str, ...]] = {
    "relatedEntity": ("service", "gamas_incident", "campaign"),
    "relatedParty": ("service__customer", "assignee__profile"),
    "troubleTicketRelationship": ("gamas_incident",),
    "troubleTicketCharacteristic": ("site", "service__customer"),
}
PREFETCHES: dict[str, tuple] = {
    "note": ("notes__author", "contact_attempts__agent"),
    "statusChangeHistory": (
        Prefetch(
            "transitions",
            queryset=TransitionLog.objects.only(
                "id", "ticket_id", "at", "from_state", "to_state", "data"
            ).order_by("at", "pk"),
        ),
    ),
}


def wanted_fields(fields: Iterable[str] | None) -> set[str]:
    return set(FIELD_BUILDERS) if fields is None else {f for f in fields if f in FIELD_BUILDERS}


def prefetch_for(queryset: QuerySet[Ticket], fields: Iterable[str] | None = None) -> QuerySet:
    """`queryset` loading what `ticket_resource(..., fields=fields)` reads: joins for the
    one-to-one parts, one query per list (notes, calls, the log) for a whole page."""
    wanted = wanted_fields(fields)
    selects = sorted({path for name in wanted for path in SELECTS.get(name, ())})
    prefetches = [item for name in sorted(wanted) for item in PREFETCHES.get(name, ())]
    if selects:
        queryset = queryset.select_related(*selects)
    if prefetches:
        queryset = queryset.prefetch_related(*prefetches)
    return queryset
