"""Changes that arrive through the TMF621 API: a trouble ticket created, a trouble ticket patched.

The resource's JSON is translated here into the calls every other door makes: `receive_report`
(the intake: deduplication, the line and its customer, Fresh Lapul, gamas linking), `add_note`,
`change_priority` and `transition_ticket`. Nothing here bypasses a rule of those services; what
this module adds is the reading of the standard's body, and which SOP transition a requested
TMF `status` stands for. docs/tmf621.md describes the same choices for clients.

**Creating** (`create_trouble_ticket`), by supervisors, admins and system clients:

- `description` (the summary, 255 characters at most), `severity` (Critical, Major, Minor) and
  `ticketType` are required; `priority` (Critical, High, Medium/Normal, Low) wins over
  `severity` when both are given.
- `ticketType` is one of `CREATABLE_TYPES`: `nossa`, `gamas` (an IVR Gamas report) and
  `callback`. The others are made from supervisors' lists (C4 Caring, Ideas, Force Close) or by
  the arrival rules (Fresh Lapul), never reported from outside.
- Exactly one `externalIdentifier` is required: it is what makes a repeated POST give the same
  ticket. Owner `NOSSA` is the NOSSA number (source `nossa`, as the console's ingestion and the
  NOSSA pull: a NOSSA ticket pushed both ways is one ticket), `IVR` the IVR call id (source
  `ivr`), `Callback` the Callback record (source `callback`); a `nossa` ticket must carry its
  NOSSA number and a `callback` ticket its Callback record (the flows' calls to those systems
  need them), a `gamas` report may carry the IVR call id or the client's own id. Any other
  owner is the client's own reference, kept under a source of that client (`source_of_client`).
- The line is the `relatedEntity` of role `service` (`entity.id`: the 12-digit service number).
  A line we do not know yet is created from the `relatedParty` of role `customer`
  (`partyOrPartyRole.name`) and the `troubleTicketCharacteristic` entries `phone` (or
  `contactPhone`), `sto`, `olt`, `odp` and optionally `address`, `package`; when none of these
  is given the line is asked of I-SISKA, as the pulls do. `category` (INTERNET, IPTV, VOICE) is
  a characteristic too.
- `note` entries become the ticket's first notes. Fields the system decides (`status`,
  `statusChangeReason`, `statusChangeDate`, `expectedResolutionDate`, `resolutionDate`,
  `requestedResolutionDate`, `name`, `channel`) are accepted and not used; `attachment`,
  `troubleTicketRelationship` and `troubleTicketSpecification` are refused (we keep none), as
  are the resource's read-only fields and names the standard does not define.

**Patching** (`patch_trouble_ticket`): `note` (entries without an `id` are added; entries with
one must be the ticket's own, unchanged: notes are never edited or removed), `priority` or
`severity` (`change_priority`: supervisors), and `status`, taken as the one SOP transition from
the ticket's state whose target has that status and that the caller may take. When several do,
`statusChangeReason` names the SOP state to move to (the resource shows the state there) and
otherwise is the transition's note / reason / answer; closing transitions take their code from
the characteristic `closingCode` (or the only code that gives the asked status), other inputs
from characteristics of the input's name (`action`, `incident`, `reopenAs`, `offerCode`). All of
one PATCH commits together or not at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.db import transaction
from django.utils.translation import gettext as _

from .. import roles, tmf
from ..exceptions import (
    ConditionNotMet,
    InvalidInput,
    TransitionForbidden,
    TransitionNotAllowed,
)
from ..flows import FlowTicket
from ..flows.base import CLOSED
from ..models import ContactAttempt, Flow, Note, Service
from .deadlines import change_priority
from .engine import TEXT_INPUT_MAX, available_transitions, locked_ticket, transition_ticket
from .imports import (
    OPTIONAL_SERVICE_FIELDS,
    SERVICE_FIELDS,
    clean_nossa_number,
    clean_service_number,
)
from .intake import receive_report
from .records import add_note

TYPE = tmf.TYPE
CREATABLE_TYPES = (Flow.NOSSA, Flow.GAMAS, Flow.CALLBACK)
SUMMARY_MAX = 255
SOURCE_MAX = 16  # Ticket.source_system
CATEGORIES = ("INTERNET", "IPTV", "VOICE")
EXTERNAL_ID_RE = re.compile(r"\S{1,64}")  # Ticket.source_ref holds 64 characters

# Owners whose identifiers the console already knows from its other doors: owner (any case) ->
# (its spelling, source_system, the ticket type it identifies).
KNOWN_OWNERS: dict[str, tuple[str, str, str]] = {
    "nossa": ("NOSSA", "nossa", Flow.NOSSA),
    "ivr": ("IVR", "ivr", Flow.GAMAS),
    "callback": ("Callback", "callback", Flow.CALLBACK),
}
# The owner a ticket type's identifier must have (None: any owner but the other types' owners).
OWNER_OF_TYPE: dict[str, str | None] = {
    Flow.NOSSA: "NOSSA",
    Flow.CALLBACK: "Callback",
    Flow.GAMAS: None,
}

# --- The body's fields ------------------------------------------------------------------------
# Every top-level name of the standard's TroubleTicket (the resource and its create/patch forms).
SPEC_FIELDS = frozenset(
    {
        "id", "href", "@type", "@baseType", "@schemaLocation", "name", "description",
        "severity", "ticketType", "attachment", "channel", "creationDate",
        "requestedResolutionDate", "expectedResolutionDate", "resolutionDate",
        "externalIdentifier", "lastUpdate", "note", "priority", "relatedEntity", "relatedParty",
        "status", "statusChangeDate", "statusChangeReason", "statusChangeHistory",
        "troubleTicketRelationship", "troubleTicketSpecification", "troubleTicketCharacteristic",
    }
)  # fmt: skip
CREATE_TAKES = frozenset(
    {
        "@type", "description", "severity", "priority", "ticketType", "externalIdentifier",
        "relatedEntity", "relatedParty", "troubleTicketCharacteristic", "note",
    }
)  # fmt: skip
CREATE_IGNORES = frozenset(
    {
        "@baseType", "@schemaLocation", "name", "channel", "status", "statusChangeReason",
        "statusChangeDate", "expectedResolutionDate", "resolutionDate", "requestedResolutionDate",
    }
)  # fmt: skip
CREATE_REFUSES = frozenset(
    {"attachment", "troubleTicketRelationship", "troubleTicketSpecification"}
)
PATCH_TAKES = frozenset(
    {
        "@type", "note", "priority", "severity", "status", "statusChangeReason",
        "troubleTicketCharacteristic",
    }
)  # fmt: skip

# Characteristics a POST reads: the new line's fields (intake's names) and the category.
LINE_CHARACTERISTICS = {
    "phone": "phone",
    "contactPhone": "phone",  # the name the resource shows the customer's phone under
    "sto": "sto",
    "olt": "olt",
    "odp": "odp",
    "address": "address",
    "package": "package",
}
# Characteristics the resource shows that a PATCH cannot set.
SHOWN_CHARACTERISTICS = frozenset(
    {"site", "slaStatus", "failedContactAttempts", "category", "slgDue", "contactPhone"}
)
# Where each of the new line's fields is given in the body (for error messages).
LINE_FIELD_PLACES = {
    "customer_name": "relatedParty",
    "phone": "troubleTicketCharacteristic.phone",
    "sto": "troubleTicketCharacteristic.sto",
    "olt": "troubleTicketCharacteristic.olt",
    "odp": "troubleTicketCharacteristic.odp",
    "address": "troubleTicketCharacteristic.address",
    "package": "troubleTicketCharacteristic.package",
}
# Transition inputs whose value is free text: they take `statusChangeReason` when not given.
TEXT_INPUTS = frozenset({"note", "reason", "answer"})


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def source_of_client(user) -> str:
    """The `source_system` under which a client's own identifiers are kept: `tmf:<username>`,
    or `tmf#<user id>` when that is longer than the column (usernames never contain `#`), so
    two clients' references never meet and one client cannot reach another's tickets by id."""
    name = f"tmf:{user.get_username()}"
    return name if len(name) <= SOURCE_MAX else f"tmf#{user.pk}"


# --- Reading JSON ---------------------------------------------------------------------------------
class Problems:
    """Field messages gathered while reading a body, raised together as one `InvalidInput`."""

    def __init__(self):
        self.errors: dict[str, list[str]] = {}

    def add(self, where: str, message: str) -> None:
        self.errors.setdefault(where, []).append(str(message))

    def raise_any(self) -> None:
        if self.errors:
            raise InvalidInput(self.errors)


def _unsafe_text(value, where: str, problems: Problems) -> bool:
    """Strings the database cannot store (NUL characters, lone surrogates), anywhere in the body;
    reported here as a 400 instead of failing the insert with a 500."""
    found = False
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            problems.add(where, _("The text is not valid Unicode."))
            return True
        if "\x00" in value:
            problems.add(where, _("The text contains a NUL character."))
            return True
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{where}.{key}" if where else str(key)
            found = _unsafe_text(key, name, problems) or found
            found = _unsafe_text(item, name, problems) or found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _unsafe_text(item, f"{where}[{index}]", problems) or found
    return found


def _body(data, problems: Problems) -> dict:
    if not isinstance(data, dict):
        raise InvalidInput({"non_field_errors": [_("Send a JSON object (a TroubleTicket).")]})
    if _unsafe_text(data, "", problems):
        problems.raise_any()
    kind = data.get("@type", TYPE)
    if kind != TYPE:
        problems.add("@type", _("A trouble ticket's @type is %(type)s.") % {"type": TYPE})
    return data


def _text(data: dict, name: str, problems: Problems, *, max_length: int, required=False) -> str:
    value = data.get(name)
    if value is None:
        if required:
            problems.add(name, _("This field is required."))
        return ""
    if not isinstance(value, str):
        problems.add(name, _("Enter text."))
        return ""
    value = value.strip()
    if required and not value:
        problems.add(name, _("This field is required."))
    elif len(value) > max_length:
        problems.add(name, _("Keep it under %(max)d characters.") % {"max": max_length})
    return value


def _list(data: dict, name: str, problems: Problems) -> list[dict]:
    """A list of objects (absent or null: empty)."""
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        problems.add(name, _("Send a list of objects."))
        return []
    return value


def _characteristics(data: dict, problems: Problems) -> dict[str, str]:
    """`troubleTicketCharacteristic` as name -> value (text; a number is taken as its digits)."""
    found: dict[str, str] = {}
    for index, item in enumerate(_list(data, "troubleTicketCharacteristic", problems)):
        name, value = item.get("name"), item.get("value")
        where = f"troubleTicketCharacteristic[{index}]"
        if not isinstance(name, str) or not name.strip():
            problems.add(where, _("A characteristic needs a name."))
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            problems.add(f"troubleTicketCharacteristic.{name}", _("Give a text value."))
            continue
        if name in found:
            problems.add(f"troubleTicketCharacteristic.{name}", _("Given twice."))
            continue
        found[name] = str(value).strip()
    return found


def _notes(data: dict, problems: Problems, *, references=False) -> list[tuple[int, dict]]:
    """`note` entries as (index, entry), each with its text checked; with `references`, an
    entry with an `id` and no text stands for a note the ticket has."""
    notes = []
    for index, item in enumerate(_list(data, "note", problems)):
        text = item.get("text")
        where = f"note[{index}].text"
        if references and item.get("id") not in (None, "") and text is None:
            notes.append((index, item))
            continue
        if not isinstance(text, str) or not text.strip():
            problems.add(where, _("Write the note."))
        elif len(text.strip()) > TEXT_INPUT_MAX:
            problems.add(where, _("Keep it under %(max)d characters.") % {"max": TEXT_INPUT_MAX})
        else:
            notes.append((index, item))
    return notes


def _priority(data: dict, problems: Problems) -> int | None:
    """The priority asked for by `priority` or, without it, `severity` (None: neither)."""
    found = None
    for name in ("severity", "priority"):
        if data.get(name) is None:
            continue
        try:
            # A blank word is no word: `priority_from` would read it as not given.
            value = tmf.priority_from(**{name: data[name] or "?"})
        except InvalidInput as problem:
            for where, messages in problem.errors.items():
                for message in messages:
                    problems.add(where, message)
            continue
        if name == "priority" or found is None:
            found = value
    return found


def _refuse_fields(data: dict, allowed, ignored, refused, problems: Problems) -> None:
    for name in data:
        if name in allowed or name in ignored:
            continue
        if name not in SPEC_FIELDS:
            problems.add(name, _("TroubleTicket has no field of this name."))
        elif name in refused:
            if data[name] not in (None, []):
                problems.add(name, _("This console does not keep this field."))
        else:
            problems.add(name, _("This field is set by the console; it cannot be written."))


# --- Creating -------------------------------------------------------------------------------------
@dataclass
class _Report:
    flow: str = ""
    source_system: str = ""
    source_ref: str = ""
    nossa_number: str = ""
    service_number: str = ""
    service_fields: dict | None = None
    priority: int | None = None
    category: str = ""
    summary: str = ""
    notes: list[str] = field(default_factory=list)


def create_trouble_ticket(*, actor, data) -> tuple[FlowTicket, bool]:
    """A `TroubleTicket` POSTed by a client becomes a ticket through the intake.

    Returns (ticket, created); the same external identifier again gives the ticket it made
    first and changes nothing. Raises TransitionForbidden (not a supervisor, admin or system
    client; or the identifier's ticket, or the ticket the report would make, is outside a
    scoped client's view: nothing is written), InvalidInput."""
    if not (roles.is_supervisor(actor) or roles.is_system(actor)):
        raise TransitionForbidden(
            _("Only supervisors, admins and system clients may create trouble tickets.")
        )
    report = _read_report(data, actor)
    with transaction.atomic():
        ticket, created = _receive(report, actor)
        outside = roles.is_system(actor) and not roles.system_may_see(actor, ticket)
        if not created:
            if outside:
                raise TransitionForbidden(
                    _("This external identifier belongs to a ticket outside your scope.")
                )
            return ticket, False
        if outside:  # raised inside the transaction: the ticket and its line are not kept
            raise TransitionForbidden(
                _("This line's tickets are worked outside your scope (another site or flow).")
            )
        for text in report.notes:
            add_note(ticket_id=ticket.pk, author=actor, text=text)
    return ticket, True


def _read_report(data, actor) -> _Report:
    problems = Problems()
    data = _body(data, problems)
    _refuse_fields(data, CREATE_TAKES, CREATE_IGNORES, CREATE_REFUSES, problems)
    report = _Report()
    report.summary = _text(data, "description", problems, max_length=SUMMARY_MAX, required=True)
    if data.get("severity") is None:
        problems.add("severity", _("This field is required."))
    report.priority = _priority(data, problems)
    report.flow = _ticket_type(data, problems)
    _external_identifier(data, report, actor, problems)
    report.service_number = _service_number(data, problems)
    characteristics = _characteristics(data, problems)
    report.category = _category(characteristics, report.flow, problems)
    _line(data, characteristics, report, problems)
    report.notes = [item["text"].strip() for _index, item in _notes(data, problems)]
    problems.raise_any()
    return report


def _ticket_type(data: dict, problems: Problems) -> str:
    value = data.get("ticketType")
    allowed = ", ".join(CREATABLE_TYPES)
    if value is None:
        problems.add("ticketType", _("This field is required."))
        return ""
    flow = value.strip().lower() if isinstance(value, str) else ""
    if flow not in CREATABLE_TYPES:
        problems.add(
            "ticketType",
            _("Trouble tickets created through this API are of type %(types)s.")
            % {"types": allowed},
        )
        return ""
    return flow


def _external_identifier(data: dict, report: _Report, actor, problems: Problems) -> None:
    """The one external identifier: which source it belongs to and its reference there."""
    items = _list(data, "externalIdentifier", problems)
    if "externalIdentifier" in problems.errors:
        return
    if len(items) != 1:
        problems.add(
            "externalIdentifier",
            _(
                "Give exactly one external identifier (owner and id): a repeated request "
                "with the same one gives the same ticket."
            ),
        )
        return
    item = items[0]
    where = "externalIdentifier[0]"
    owner, value = item.get("owner"), item.get("id")
    if not isinstance(value, str) or not EXTERNAL_ID_RE.fullmatch(value.strip()):
        problems.add(f"{where}.id", _("An identifier is 1 to 64 characters, without spaces."))
        return
    if not isinstance(owner, str) or not owner.strip():
        problems.add(f"{where}.owner", _("Name the system that owns this identifier."))
        return
    value = value.strip()
    known = KNOWN_OWNERS.get(owner.strip().lower())
    wanted = OWNER_OF_TYPE.get(report.flow, "")
    if report.flow and wanted and (known is None or known[0] != wanted):
        problems.add(
            f"{where}.owner",
            _("A %(type)s ticket is identified by its %(owner)s identifier.")
            % {"type": report.flow, "owner": wanted},
        )
        return
    if known is not None and report.flow and known[2] != report.flow:
        problems.add(
            f"{where}.owner",
            _("A %(owner)s identifier identifies a %(type)s ticket.")
            % {"owner": known[0], "type": known[2]},
        )
        return
    if known is None:
        report.source_system, report.source_ref = source_of_client(actor), value
        return
    report.source_system = known[1]
    if known[0] == "NOSSA":
        try:
            value = clean_nossa_number(value)
        except ValueError as problem:
            problems.add(f"{where}.id", str(problem))
            return
        report.nossa_number = value
    report.source_ref = value


def _service_number(data: dict, problems: Problems) -> str:
    entities = _list(data, "relatedEntity", problems)
    services = [item for item in entities if str(item.get("role", "")).lower() == "service"]
    if len(services) != 1:
        if "relatedEntity" not in problems.errors:
            problems.add(
                "relatedEntity",
                _("Give the line as one related entity of role service (its service number)."),
            )
        return ""
    entity = services[0].get("entity")
    value = entity.get("id") if isinstance(entity, dict) else None
    try:
        return clean_service_number(value if isinstance(value, str) else "")
    except ValueError as problem:
        problems.add("relatedEntity.service", str(problem))
        return ""


def _category(characteristics: dict, flow: str, problems: Problems) -> str:
    value = characteristics.get("category", "")
    if not value:
        return "INTERNET" if flow == Flow.NOSSA else ""  # as the console's NOSSA ingestion
    if value.upper() not in CATEGORIES:
        problems.add(
            "troubleTicketCharacteristic.category",
            _("Use one of: %(names)s.") % {"names": ", ".join(CATEGORIES)},
        )
    return value.upper()


def _line(data: dict, characteristics: dict, report: _Report, problems: Problems) -> None:
    """The new line's fields as the intake names them (checked when given, used when new)."""
    for name in characteristics:
        if name not in LINE_CHARACTERISTICS and name != "category":
            problems.add(
                f"troubleTicketCharacteristic.{name}",
                _("Unknown characteristic; a new trouble ticket reads: %(names)s.")
                % {"names": ", ".join([*LINE_CHARACTERISTICS, "category"])},
            )
    fields = {
        LINE_CHARACTERISTICS[name]: value
        for name, value in characteristics.items()
        if name in LINE_CHARACTERISTICS
    }
    customers = [
        item
        for item in _list(data, "relatedParty", problems)
        if str(item.get("role", "")).lower() == "customer"
    ]
    if len(customers) > 1:
        problems.add("relatedParty", _("Give one customer."))
    elif customers:
        party = customers[0].get("partyOrPartyRole")
        name = party.get("name") if isinstance(party, dict) else None
        if isinstance(name, str) and name.strip():
            fields["customer_name"] = name.strip()
        else:
            problems.add("relatedParty", _("Give the customer's name (partyOrPartyRole.name)."))
    for name, value in list(fields.items()):
        rule = SERVICE_FIELDS.get(name) or OPTIONAL_SERVICE_FIELDS[name]
        try:
            fields[name] = rule(value)
        except ValueError as problem:
            problems.add(LINE_FIELD_PLACES[name], str(problem))
    report.service_fields = fields or None


def _line_fields(report: _Report) -> dict | None:
    """What the intake needs to create the line: nothing for a known line, the fields given,
    or None (I-SISKA is asked) when none were given. A new line given in part is a 400 naming
    each missing field where the body carries it."""
    if Service.objects.filter(service_number=report.service_number).exists():
        return None
    given = report.service_fields
    if not given:
        return None
    missing = [name for name in SERVICE_FIELDS if not given.get(name)]
    if missing:
        message = _("Needed to create a service that is not known yet.")
        raise InvalidInput({LINE_FIELD_PLACES[name]: [message] for name in missing})
    return given


def _receive(report: _Report, actor) -> tuple[FlowTicket, bool]:
    """`receive_report`, with its complaints about the line put where the body carries it."""
    from integrations.adapters import AdapterError

    try:
        return receive_report(
            flow=report.flow,
            source_system=report.source_system,
            source_ref=report.source_ref,
            service_number=report.service_number,
            service_fields=_line_fields(report),
            actor=actor,
            nossa_number=report.nossa_number,
            category=report.category,
            summary=report.summary,
            priority=report.priority,
        )
    except InvalidInput as problem:
        raise InvalidInput(
            {
                LINE_FIELD_PLACES.get(name, name): messages
                for name, messages in problem.errors.items()
            }
        ) from problem
    except AdapterError as problem:
        message = _("I-SISKA could not tell this new line's customer and network codes; give them.")
        raise InvalidInput(
            {LINE_FIELD_PLACES[name]: [message] for name in SERVICE_FIELDS}
        ) from problem


# --- Notes ----------------------------------------------------------------------------------------
def _existing_note_ids(ticket) -> dict[str, str]:
    """The ids the resource gives the ticket's notes and contact attempts, with their text."""
    notes = Note.objects.filter(ticket=ticket).values_list("pk", "text")
    found = {f"note-{pk}": text for pk, text in notes}
    for pk in ContactAttempt.objects.filter(ticket=ticket).values_list("pk", flat=True):
        found[f"contact-{pk}"] = ""
    return found


# --- Patching -------------------------------------------------------------------------------------
@dataclass
class _Patch:
    notes: list[tuple[int, dict]] = field(default_factory=list)
    priority: int | None = None
    severity_only: bool = False
    status: str = ""
    reason: str | None = None
    characteristics: dict[str, str] = field(default_factory=dict)


# The transition inputs a characteristic may carry, by characteristic name (either spelling).
INPUT_CHARACTERISTICS = frozenset(
    name
    for input_name in (
        "note",
        "reason",
        "answer",
        "incident",
        "closing_code",
        "reopen_as",
        "action",
        "offer_code",
    )
    for name in (input_name, camel(input_name))
)


def patch_trouble_ticket(*, actor, ticket_id: int, patch) -> FlowTicket:
    """Apply a JSON merge patch of a `TroubleTicket`: new notes, a priority, a status.

    All or nothing: a refused status change leaves the notes and priority of the same patch
    unapplied. Raises InvalidInput (400), TransitionForbidden (403: the caller's role),
    TransitionNotAllowed / ConditionNotMet / ConcurrentChange (409: the SOP says no now)."""
    changes = _read_patch(patch)
    with transaction.atomic():
        ticket = locked_ticket(ticket_id)
        _check_note_ids(ticket, changes.notes)
        for _index, item in changes.notes:
            if item.get("id") in (None, ""):
                add_note(ticket_id=ticket.pk, author=actor, text=item["text"].strip())
        if changes.priority is not None and changes.priority != ticket.priority:
            shown_same = changes.severity_only and ticket.priority in tmf.priorities_of_severity(
                tmf.SEVERITY_NAMES[changes.priority]
            )
            if not shown_same:
                change_priority(ticket_id=ticket.pk, priority=changes.priority, actor=actor)
        if changes.status:
            _change_status(ticket.pk, actor, changes)
        return locked_ticket(ticket_id)


def _read_patch(patch) -> _Patch:
    problems = Problems()
    data = _body(patch, problems)
    _refuse_fields(data, PATCH_TAKES, (), (), problems)
    for name in PATCH_TAKES - {"@type"}:
        if name in data and data[name] is None:
            problems.add(name, _("This field cannot be removed."))
    changes = _Patch(notes=_notes(data, problems, references=True))
    changes.priority = _priority(data, problems)
    changes.severity_only = data.get("priority") is None and data.get("severity") is not None
    status = data.get("status")
    if status is not None and status not in tmf.STATUSES:
        problems.add("status", _("Use one of: %(names)s.") % {"names": ", ".join(tmf.STATUSES)})
    reason = data.get("statusChangeReason")
    if reason is not None and not isinstance(reason, str):
        problems.add("statusChangeReason", _("Enter text."))
    elif isinstance(reason, str) and len(reason.strip()) > TEXT_INPUT_MAX:
        problems.add(
            "statusChangeReason", _("Keep it under %(max)d characters.") % {"max": TEXT_INPUT_MAX}
        )
    changes.characteristics = _characteristics(data, problems)
    for name in changes.characteristics:
        if name in SHOWN_CHARACTERISTICS and name not in INPUT_CHARACTERISTICS:
            problems.add(
                f"troubleTicketCharacteristic.{name}",
                _("This characteristic is set by the console; it cannot be written."),
            )
        elif name not in INPUT_CHARACTERISTICS:
            problems.add(
                f"troubleTicketCharacteristic.{name}",
                _("Unknown characteristic; a status change reads: %(names)s.")
                % {"names": ", ".join(sorted({camel(n) for n in INPUT_CHARACTERISTICS}))},
            )
    if isinstance(status, str):
        changes.status = status
        changes.reason = reason.strip() if isinstance(reason, str) else None
    elif changes.characteristics:
        problems.add(
            "troubleTicketCharacteristic",
            _("Characteristics are read with a status change only; give status too."),
        )
    elif isinstance(reason, str) and reason.strip():
        changes.reason = reason.strip()
        changes.status = "="  # the current status: statusChangeReason alone names a SOP state
    problems.raise_any()
    return changes


def _check_note_ids(ticket, notes: list[tuple[int, dict]]) -> None:
    """Notes sent with an `id` must be the ticket's own, as they are: notes are only added."""
    referred = [(index, item) for index, item in notes if item.get("id") not in (None, "")]
    if not referred:
        return
    known = _existing_note_ids(ticket)
    problems = Problems()
    for index, item in referred:
        note_id = str(item["id"])
        if note_id not in known:
            problems.add(
                f"note[{index}].id",
                _("No note of this ticket has this id; send a new note without an id."),
            )
        elif (
            note_id.startswith("note-")
            and item.get("text") is not None
            and item["text"] != known[note_id]
        ):
            problems.add(
                f"note[{index}].text",
                _("Notes are not edited; send a new note without an id."),
            )
    problems.raise_any()


# --- Status changes -----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Move:
    """A transition from the ticket's state and a TMF status it gives (with its closing code)."""

    name: str
    label: str
    target: str
    inputs: tuple
    code: str = ""
    blocked_reason: str = ""


def _statuses_of(machine, target: str, inputs) -> list[tuple[str, str]]:
    """(status, closing code) pairs a transition to `target` may give."""
    closing = next((spec for spec in inputs if spec.kind == "closing_code"), None)
    if target != CLOSED or closing is None:
        return [(tmf.tmf_status(machine.flow, target), "")]
    codes = closing.choices or machine.closing_codes
    return [(tmf.tmf_status(machine.flow, target, code), code) for code, _label in codes]


def _statuses_of_state(machine, state: str) -> set[str]:
    """The statuses a ticket of this flow shows in `state` (closed: by its closing codes)."""
    codes = [code for code, _label in machine.closing_codes] if state == CLOSED else []
    return {tmf.tmf_status(machine.flow, state)} | {
        tmf.tmf_status(machine.flow, state, code) for code in codes
    }


def _moves(machine, options, status: str) -> list[_Move]:
    return [
        _Move(option.name, option.label, option.target, option.inputs, code, option.blocked_reason)
        for option in options
        for gives, code in _statuses_of(machine, option.target, option.inputs)
        if gives == status
    ]


def _all_transitions_from(machine) -> list[tuple[object, str]]:
    """(transition, target) of every transition out of the ticket's state, whoever may take it
    (to tell a 403 from a 409); `available_transitions` gives those the caller may take."""
    found = type(machine)._meta.get_field("state").get_all_transitions(type(machine))
    return [
        (item, item.target if isinstance(item.target, str) else machine.escalated_from)
        for item in found
        if item.source == machine.state
    ]


def _state_words(machine) -> dict:
    state = machine.state
    info = type(machine).states.get(state)
    return {"state": str(info.label) if info else state, "code": state}


def _change_status(ticket_id: int, actor, changes: _Patch) -> None:
    machine = locked_ticket(ticket_id)
    current = tmf.tmf_status(machine.flow, machine.state, machine.closing_code)
    reason = changes.reason or ""
    named = reason if reason in type(machine).states else ""
    free_text = "" if named else reason
    status = changes.status
    if status == "=":  # statusChangeReason alone: it must name a SOP state
        if not named:
            raise InvalidInput(
                {
                    "statusChangeReason": [
                        _("Give status too, or a SOP state of this ticket's flow.")
                    ]
                }
            )
        status = current if named == machine.state else tmf.tmf_status(machine.flow, named)
    if status == current and named in ("", machine.state):
        return  # already there: nothing to change
    if named and status not in _statuses_of_state(machine, named):
        raise InvalidInput(
            {
                "statusChangeReason": [
                    _("The SOP state %(named)s does not have the status %(status)s.")
                    % {"named": named, "status": status}
                ]
            }
        )
    moves = [
        move
        for move in _moves(machine, available_transitions(machine, actor), status)
        if not named or move.target == named
    ]
    if not moves:
        _refuse(machine, actor, status, named)
    move = _choose(machine, moves, status, changes.characteristics)
    if move.blocked_reason:
        raise ConditionNotMet(
            _("“%(label)s” from “%(state)s” (%(code)s) is not possible yet: %(reason)s")
            % {"label": move.label, "reason": move.blocked_reason, **_state_words(machine)}
        )
    inputs = _inputs(move, changes.characteristics, free_text)
    try:
        transition_ticket(
            ticket_id=ticket_id,
            name=move.name,
            actor=actor,
            inputs=inputs,
            expected_state=machine.state,
        )
    except InvalidInput as problem:
        raise InvalidInput(
            {_place_of_input(name): messages for name, messages in problem.errors.items()}
        ) from problem


def _refuse(machine, actor, status: str, named: str):
    """No transition the caller may take gives `status`: 403 when others may, else 409."""
    words = {**_state_words(machine), "status": status}
    others = [
        found
        for found, target in _all_transitions_from(machine)
        if (not named or target == named)
        and status in {gives for gives, _c in _statuses_of(machine, target, found.custom["inputs"])}
    ]
    if others:
        who = sorted({_who(found.permission) for found in others} - {""})
        raise TransitionForbidden(
            _("Moving this ticket from “%(state)s” (%(code)s) to %(status)s is for: %(who)s.")
            % {**words, "who": ", ".join(who) or _("someone else")}
        )
    allowed = available_transitions(machine, actor)
    if named:
        words["status"] = f"{status} ({named})"
    message = _("The SOP does not move a ticket from “%(state)s” (%(code)s) to %(status)s.") % words
    reachable = sorted(
        {
            f"{gives} ({option.target})"
            for option in allowed
            for gives, _code in _statuses_of(machine, option.target, option.inputs)
        }
    )
    if reachable:
        message += " " + _("From there you may move it to: %(options)s.") % {
            "options": ", ".join(reachable)
        }
    else:
        message += " " + _("You may not change its status from there.")
    raise TransitionNotAllowed(message, current_state=machine.state)


def _who(permission) -> str:
    # The flows' "system" is the console's own background work, not a TMF system client.
    if getattr(permission, "__name__", "") == "system":
        return _("the console's background jobs")
    return str(getattr(permission, "label", ""))


def _choose(machine, moves: list[_Move], status: str, characteristics: dict) -> _Move:
    """The one move the patch asks for; InvalidInput says what is missing to tell."""
    given = characteristics.get("closingCode") or characteristics.get("closing_code")
    codes = sorted({move.code for move in moves if move.code})
    if given:
        if given not in codes:
            raise InvalidInput(
                {
                    "troubleTicketCharacteristic.closingCode": [
                        _(
                            "This code does not close the ticket as %(status)s from “%(state)s” "
                            "(%(code)s); choose one of: %(codes)s."
                        )
                        % {
                            **_state_words(machine),
                            "status": status,
                            "codes": ", ".join(codes) or "-",
                        }
                    ]
                }
            )
        moves = [move for move in moves if move.code == given]
    targets = sorted({move.target for move in moves})
    if len(targets) > 1:
        raise InvalidInput(
            {
                "statusChangeReason": [
                    _(
                        "Several SOP steps lead from “%(state)s” (%(code)s) to %(status)s: "
                        "%(targets)s. Give the SOP state to move to as statusChangeReason."
                    )
                    % {**_state_words(machine), "status": status, "targets": ", ".join(targets)}
                ]
            }
        )
    if len(moves) > 1:
        raise InvalidInput(
            {
                "troubleTicketCharacteristic.closingCode": [
                    _("Choose the closing code: %(codes)s.") % {"codes": ", ".join(codes)}
                ]
            }
        )
    return moves[0]


def _inputs(move: _Move, characteristics: dict, free_text: str) -> dict:
    inputs = {}
    for spec in move.inputs:
        value = characteristics.get(spec.name, characteristics.get(camel(spec.name)))
        if spec.kind == "closing_code":
            value = move.code
        elif value in (None, "") and spec.name in TEXT_INPUTS:
            value = free_text
        inputs[spec.name] = value
    return inputs


def _place_of_input(name: str) -> str:
    if name in TEXT_INPUTS:
        return "statusChangeReason"
    return f"troubleTicketCharacteristic.{camel(name)}"
