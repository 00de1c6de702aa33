"""Every write to tickets and gamas incidents goes through these functions (one door per write).

The console, the API and the Celery tasks call them; none of them repeats a rule. Each function
runs in one database transaction: the row change, its transition-log row and the outbox rows of
the external calls it causes commit together, and the calls are dispatched after commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import ConcurrentTransition

from integrations import outbox

from . import roles, sla, stats
from .exceptions import (
    ConcurrentChange,
    ConditionNotMet,
    InvalidInput,
    NoTicketAvailable,
    TicketAlreadyClaimed,
    TransitionForbidden,
    TransitionNotAllowed,
)
from .flows import FLOWS, FlowTicket, GamasIncidentMachine, as_flow
from .flows.base import CLOSED, Input
from .models import (
    ContactAttempt,
    ContactOutcome,
    Customer,
    Escalation,
    EscalationStatus,
    Flow,
    GamasIncident,
    Note,
    Priority,
    Service,
    Site,
    Ticket,
    TransitionLog,
)

# Flows whose arrival is a fault report: a recent close on the same service makes a Fresh Lapul.
LAPUL_FLOWS = frozenset({Flow.NOSSA, Flow.CALLBACK})
# Flows whose tickets carry the SLG restoration guarantee.
FAULT_FLOWS = frozenset({Flow.NOSSA, Flow.CALLBACK, Flow.GAMAS, Flow.FRESH_LAPUL, Flow.FORCE_CLOSE})
TEXT_INPUT_MAX = 4000


# --- Reading a machine ----------------------------------------------------------------------
@dataclass(frozen=True)
class TransitionOption:
    """A transition the user could take now, for the console's buttons and the API."""

    name: str
    label: str
    inputs: tuple[Input, ...]
    target: str
    blocked_reason: str = ""

    @property
    def allowed(self) -> bool:
        return not self.blocked_reason


def _transition_of(machine, name: str):
    """The django-fsm Transition `name` from the machine's current state, or raise."""
    method = getattr(type(machine), name, None)
    meta = getattr(method, "_django_fsm", None)
    if meta is None or name.startswith("_"):
        raise TransitionNotAllowed(_("Unknown action “%(name)s”.") % {"name": name})
    found = meta.get_transition(machine.state)
    if found is None:
        raise TransitionNotAllowed(
            _("“%(name)s” is not possible while the ticket is %(state)s.")
            % {"name": name, "state": machine.state},
            current_state=machine.state,
        )
    return found


def _failed_condition(machine, found):
    return next((check for check in found.conditions if not check(machine)), None)


def _target_of(machine, found) -> str:
    """The state a transition leads to; Support's answer returns to where it came from."""
    if isinstance(found.target, str):
        return found.target
    return machine.escalated_from


def available_transitions(machine, user) -> list[TransitionOption]:
    """Transitions from the current state that `user` may take, with why any is blocked now."""
    options = []
    for found in type(machine)._meta.get_field("state").get_all_transitions(type(machine)):
        if found.source != machine.state or not found.has_perm(machine, user):
            continue
        failed = _failed_condition(machine, found)
        options.append(
            TransitionOption(
                name=found.name,
                label=str(found.custom["label"]),
                inputs=found.custom["inputs"],
                target=_target_of(machine, found),
                blocked_reason=str(failed.message) if failed else "",
            )
        )
    return options


# --- Inputs ---------------------------------------------------------------------------------
def _clean_inputs(machine, found, raw: dict) -> dict:
    """Validate the transition's declared inputs; ignore anything it does not ask for."""
    cleaned, errors = {}, {}
    for spec in found.custom["inputs"]:
        value = raw.get(spec.name)
        if isinstance(value, str):
            value = value.strip()
        if value in (None, ""):
            if spec.required:
                errors[spec.name] = [_("This field is required.")]
            else:
                cleaned[spec.name] = ""
            continue
        try:
            cleaned[spec.name] = _clean_value(machine, spec, value)
        except ValueError as problem:
            errors[spec.name] = [str(problem)]
    if errors:
        raise InvalidInput(errors)
    return cleaned


def _clean_value(machine, spec: Input, value):
    if spec.kind == "closing_code":
        codes = dict(machine.closing_codes)
        if value not in codes:
            raise ValueError(_("Choose one of: %(codes)s.") % {"codes": ", ".join(codes)})
        return value
    if spec.kind == "choice":
        if value not in dict(spec.choices):
            raise ValueError(
                _("Choose one of: %(codes)s.") % {"codes": ", ".join(dict(spec.choices))}
            )
        return value
    if spec.kind == "incident":
        if isinstance(value, GamasIncident):
            incident = value
        else:
            try:
                incident = GamasIncident.objects.filter(pk=int(value)).first()
            except (TypeError, ValueError):
                incident = None
        if incident is None or incident.state != "open":
            raise ValueError(_("Choose an open gamas incident."))
        return incident
    if not isinstance(value, str):
        raise ValueError(_("Enter text."))
    if len(value) > TEXT_INPUT_MAX:
        raise ValueError(_("Keep it under %(max)d characters.") % {"max": TEXT_INPUT_MAX})
    return value


# --- The transition engine ------------------------------------------------------------------
def _log(*, ticket=None, incident=None, actor, name, from_state, to_state, note="", data=None):
    return TransitionLog.objects.create(
        ticket=ticket,
        incident=incident,
        actor=actor,
        transition=name,
        from_state=from_state,
        to_state=to_state,
        note=note,
        data=data or {},
    )


def _loggable(inputs: dict) -> dict:
    return {
        key: (value.pk if hasattr(value, "pk") else value)
        for key, value in inputs.items()
        if key != "note" and value != ""
    }


# The columns a transition or a claim may change on a ticket: saving only these keeps the
# UPDATE small on the hot path ("next ticket") and leaves the other columns to their writers.
WORKFLOW_FIELDS = (
    "state", "assignee", "claimed_at", "awaiting_agent", "escalated_from", "closing_code",
    "closed_at", "facts", "gamas_incident", "state_changed_at", "updated_at",
)  # fmt: skip


def _save(row, fields=None) -> None:
    try:
        row.save(update_fields=fields)
    except ConcurrentTransition as clash:
        raise ConcurrentChange() from clash


def _apply(machine, name: str, actor, raw_inputs: dict | None = None, *, check_perm=True):
    """Run one transition on a row the caller holds in a transaction; log it, queue its calls."""
    found = _transition_of(machine, name)
    if check_perm and not found.has_perm(machine, actor):
        raise TransitionForbidden()
    inputs = _clean_inputs(machine, found, raw_inputs or {})
    failed = _failed_condition(machine, found)
    if failed is not None:
        raise ConditionNotMet(failed.message)
    from_state = machine.state
    getattr(machine, name)(**inputs)
    if isinstance(machine, FlowTicket) and machine.state != from_state:
        machine.state_changed_at = timezone.now()  # evidence gathered before no longer counts
    if isinstance(machine, FlowTicket):
        machine.refresh_queue_flag()
        _save(machine, WORKFLOW_FIELDS)
    else:
        _save(machine)
    is_ticket = isinstance(machine, Ticket)
    entry = _log(
        ticket=machine if is_ticket else None,
        incident=None if is_ticket else machine,
        actor=actor,
        name=name,
        from_state=from_state,
        to_state=machine.state,
        note=inputs.get("note", ""),
        data=_loggable(inputs),
    )
    calls = [call for call in found.custom["calls"] if call.applies_to(machine)]
    if calls:
        outbox.enqueue(
            calls=calls,
            ticket=machine if is_ticket else None,
            incident=None if is_ticket else machine,
            log_entry=entry,
        )
    after = AFTER_TRANSITION.get(name)
    if after is not None:
        after(machine, actor, inputs, from_state)
    if is_ticket and machine.state == CLOSED:
        _after_close(machine)
    return machine


def _locked_ticket(ticket_id: int, expected_state: str | None = None) -> FlowTicket:
    try:
        ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
    except (Ticket.DoesNotExist, ValueError, TypeError) as missing:
        raise TransitionNotAllowed(_("No such ticket.")) from missing
    if expected_state is not None and ticket.state != expected_state:
        raise ConcurrentChange(current_state=ticket.state)
    return as_flow(ticket)


def transition_ticket(
    *, ticket_id: int, name: str, actor, inputs: dict | None = None, expected_state=None
) -> FlowTicket:
    """Take the named transition of the ticket's flow, as `actor` (None: the system)."""
    if name == "claim":
        return claim_ticket(ticket_id=ticket_id, agent=actor, expected_state=expected_state)
    with transaction.atomic():
        ticket = _locked_ticket(ticket_id, expected_state)
        return _apply(ticket, name, actor, inputs)


# --- What happens after some transitions ----------------------------------------------------
def _open_escalation(ticket, actor, inputs, from_state):
    now = timezone.now()
    Escalation.objects.create(
        ticket=ticket,
        raised_by=actor,
        raised_at=now,
        reason=inputs["reason"],
        from_state=from_state,
        due_at=sla.escalation_due(ticket.flow, ticket.priority, now),
    )


def _answer_escalation(ticket, actor, inputs, from_state):
    """Close the open escalation; the time it spent with Support pauses the ticket's SLA."""
    now = timezone.now()
    escalation = (
        Escalation.objects.select_for_update()
        .filter(ticket=ticket, status=EscalationStatus.OPEN)
        .first()
    )
    if escalation is None:
        return
    escalation.status = EscalationStatus.ANSWERED
    escalation.answered_by, escalation.answered_at = actor, now
    escalation.answer = inputs["answer"]
    escalation.save(update_fields=["status", "answered_by", "answered_at", "answer"])
    ticket.sla_paused_seconds += int((now - escalation.raised_at).total_seconds())
    sla.apply_deadlines(ticket, ticket.created_at)
    _save(ticket)


def _after_close(ticket: Ticket) -> None:
    """Count the close for the dashboards; the last child closing closes a recovered gamas."""
    stats.record_closed(ticket)
    if ticket.gamas_incident_id is None:
        return
    incident = GamasIncidentMachine.objects.select_for_update().get(pk=ticket.gamas_incident_id)
    if incident.state == "recovered" and not incident.children.filter(closed_at__isnull=True):
        _apply(incident, "close", None, {"closing_code": "RECOVERED"})


AFTER_TRANSITION = {
    "escalate": _open_escalation,
    "answer_escalation": _answer_escalation,
}


# --- Arrival --------------------------------------------------------------------------------
def raised(priority: int) -> int:
    return max(Priority.CRITICAL, priority - 1)


def route_site(flow: str, service: Service) -> Site:
    """C4 Caring goes to Malang (SOP 8.4); other flows split by service number between sites."""
    if flow == Flow.C4_CARING:
        return Site.objects.get(code=settings.TIER2_C4_CARING_SITE)
    sites = list(Site.objects.order_by("code"))
    return sites[int(service.service_number[-1:] or 0) % len(sites)]


def covering_incident(service: Service) -> GamasIncident | None:
    """The open gamas incident whose area (ODP, OLT or STO; narrowest first) covers the service."""
    for level, code in (("odp", service.odp), ("olt", service.olt), ("sto", service.sto)):
        incident = (
            GamasIncident.objects.filter(state="open", area_level=level, area_code=code)
            .order_by("opened_at")
            .first()
        )
        if incident is not None:
            return incident
    return None


def recent_closed_ticket(service: Service, at=None) -> Ticket | None:
    since = (at or timezone.now()) - timedelta(days=settings.TIER2_LAPUL_WINDOW_DAYS)
    return (
        Ticket.objects.filter(service=service, closed_at__gte=since)
        .exclude(flow__in=[Flow.C4_CARING, Flow.IDEAS])
        .order_by("-closed_at")
        .first()
    )


def create_ticket(
    *,
    flow: str,
    service: Service,
    actor=None,
    priority: int = Priority.NORMAL,
    category: str = "",
    summary: str = "",
    source_system: str = "",
    source_ref: str = "",
    nossa_number: str = "",
    campaign=None,
    reported_at=None,
) -> tuple[FlowTicket, bool]:
    """A ticket arrives. Returns (ticket, created); the same source reference twice gives one.

    Arrival rules: a fault report on a service closed within the lapul window becomes a Fresh
    Lapul linked to the earlier ticket, one priority step higher; an IVR Gamas report inside an
    open incident's area is linked to it and waits for its recovery.
    """
    if source_ref:
        existing = Ticket.objects.filter(source_system=source_system, source_ref=source_ref).first()
        if existing is not None:
            return as_flow(existing), False
    now = timezone.now()
    reported_at = reported_at or now
    try:
        with transaction.atomic():
            previous = recent_closed_ticket(service, reported_at) if flow in LAPUL_FLOWS else None
            if previous is not None:
                flow, priority = Flow.FRESH_LAPUL, raised(priority)
            ticket = FLOWS[flow](
                flow=flow,
                service=service,
                site=route_site(flow, service),
                priority=priority,
                category=category,
                summary=summary[:255],
                source_system=source_system,
                source_ref=source_ref,
                nossa_number=nossa_number,
                campaign=campaign,
                previous_ticket=previous,
                created_at=reported_at,
                state_changed_at=reported_at,
            )
            sla.apply_deadlines(ticket, reported_at)
            if flow in FAULT_FLOWS:
                first_report = previous.slg_due if previous and previous.slg_due else None
                ticket.slg_due = first_report or sla.slg_due(reported_at)
            ticket.refresh_queue_flag()
            ticket.save()
            stats.record_created(ticket)
            _log(
                ticket=ticket,
                actor=actor,
                name="arrive",
                from_state="",
                to_state=ticket.state,
                data={"previous_ticket": previous.pk} if previous else {},
            )
            if flow == Flow.GAMAS:
                incident = covering_incident(service)
                if incident is not None:
                    _link_report(ticket, incident)
    except IntegrityError:
        if not source_ref:
            raise
        # A concurrent arrival of the same source reference won the insert.
        existing = Ticket.objects.get(source_system=source_system, source_ref=source_ref)
        return as_flow(existing), False
    return ticket, True


SERVICE_FIELDS = ("customer_name", "phone", "sto", "olt", "odp")


def _profile_fields(service_number: str) -> dict:
    """A new line's customer and network codes, as I-SISKA (the customer registry) has them."""
    from integrations.adapters import get_adapter

    profile = get_adapter("isiska").profile(service_number=service_number)
    return {
        "customer_name": profile.customer_name,
        "phone": profile.phone,
        "address": profile.address,
        "package": profile.package_name,
        "sto": profile.sto,
        "olt": profile.olt,
        "odp": profile.odp,
    }


def find_or_create_services(wanted: dict[str, dict | None]) -> dict[str, Service]:
    """The services of these numbers, creating each unknown one with its customer.

    `wanted` maps a service number to the fields to create it from (customer_name, phone, sto,
    olt, odp; address and package optional), or to None to ask I-SISKA. A number created
    concurrently by another arrival is read back, never inserted twice (the unique constraint
    decides, inside a savepoint per new line).
    """
    found = {
        item.service_number: item for item in Service.objects.filter(service_number__in=wanted)
    }
    for number, fields in wanted.items():
        if number in found:
            continue
        fields = fields if fields is not None else _profile_fields(number)
        missing = [name for name in SERVICE_FIELDS if not fields.get(name)]
        if missing:
            message = _("Needed to create a service that is not known yet.")
            raise InvalidInput({name: [message] for name in missing})
        try:
            with transaction.atomic():
                customer = Customer.objects.create(
                    name=fields["customer_name"], phone=fields["phone"],
                    address=fields.get("address", ""),
                )  # fmt: skip
                found[number] = Service.objects.create(
                    service_number=number, customer=customer, package=fields.get("package", ""),
                    address=fields.get("address", ""), sto=fields["sto"], olt=fields["olt"],
                    odp=fields["odp"],
                )  # fmt: skip
        except IntegrityError:
            found[number] = Service.objects.get(service_number=number)
    return found


def receive_report(
    *,
    flow: str,
    source_system: str,
    source_ref: str,
    service_number: str,
    service_fields: dict | None = None,
    actor=None,
    **ticket_fields,
) -> tuple[FlowTicket, bool]:
    """The one intake of reports from outside: pulls, pushes (API) and CSV lists.

    Deduplicates on (source_system, source_ref), finds or creates the service and customer,
    then lets `create_ticket` route it and apply the arrival rules (Fresh Lapul, gamas linking).
    Returns (ticket, created); a repeat changes nothing. `actor` None is the system (a pull);
    a person pushing reports must be a supervisor.
    """
    if actor is not None and not roles.is_supervisor(actor):
        raise TransitionForbidden(_("Only supervisors and service accounts may push reports."))
    if source_ref:
        existing = Ticket.objects.filter(source_system=source_system, source_ref=source_ref).first()
        if existing is not None:
            return as_flow(existing), False
    with transaction.atomic():
        service = find_or_create_services({service_number: service_fields})[service_number]
        return create_ticket(
            flow=flow, service=service, actor=actor, source_system=source_system,
            source_ref=source_ref, **ticket_fields,
        )  # fmt: skip


def _link_report(ticket: FlowTicket, incident: GamasIncident) -> None:
    _apply(ticket, "link", None, {"incident": incident})
    _apply(ticket, "await_recovery", None)


# --- Claiming -------------------------------------------------------------------------------
def _take(ticket: FlowTicket, agent, *, actor=None, note: str = "") -> FlowTicket:
    """Give the ticket to `agent`; `actor` is the supervisor when it is an assignment."""
    previous = ticket.assignee_id
    ticket.assignee = agent
    ticket.claimed_at = timezone.now()
    if actor is None and hasattr(type(ticket), "claim") and ticket.state == "new":
        return _apply(ticket, "claim", agent)
    ticket.refresh_queue_flag()
    _save(ticket, WORKFLOW_FIELDS)
    _log(
        ticket=ticket, actor=actor or agent, name="reassign" if actor else "claim",
        from_state=ticket.state, to_state=ticket.state, note=note,
        data={"assignee": agent.pk, "previous_assignee": previous},
    )  # fmt: skip
    return ticket


def claim_ticket(*, ticket_id: int, agent, expected_state: str | None = None) -> FlowTicket:
    """The agent takes this ticket. One agent only: a second one gets TicketAlreadyClaimed."""
    with transaction.atomic():
        ticket = _locked_ticket(ticket_id, expected_state)
        if agent is None or not roles.is_agent(agent):
            raise TransitionForbidden(_("Only agents take tickets."))
        if ticket.assignee_id not in (None, agent.pk):
            raise TicketAlreadyClaimed(assignee=ticket.assignee.get_username())
        if not roles.may_work_ticket(agent, ticket):
            raise TransitionForbidden(_("This ticket is not in a queue you work."))
        if ticket.assignee_id is None and not ticket.awaiting_agent:
            raise TransitionNotAllowed(_("This ticket is not waiting for an agent."))
        takes_claim_step = ticket.state == "new" and hasattr(type(ticket), "claim")
        if ticket.assignee_id == agent.pk and not takes_claim_step:
            return ticket  # already theirs: taking it twice changes nothing
        return _take(ticket, agent)


def queue_flows_of(agent) -> list[str]:
    profile = roles.profile_of(agent)
    if profile is None or profile.site_id is None:
        return []
    return [
        flow
        for flow in profile.flows
        if flow in FLOWS
        and (flow != Flow.C4_CARING or profile.site.code == settings.TIER2_C4_CARING_SITE)
    ]


def claim_next_ticket(*, agent) -> FlowTicket:
    """Take the most urgent unclaimed ticket of the agent's flows and site, atomically.

    Most urgent: earliest claim-by deadline, then priority, then age. On PostgreSQL concurrent
    callers skip each other's locked rows (FOR UPDATE SKIP LOCKED), so none waits or collides.
    """
    if not roles.is_agent(agent):
        raise TransitionForbidden(_("Only agents take tickets from the queues."))
    flows = queue_flows_of(agent)
    if not flows:
        raise NoTicketAvailable(_("You have no queues: ask a supervisor to assign you flows."))
    with transaction.atomic():
        ticket = (
            Ticket.objects.select_for_update(skip_locked=True)
            .filter(awaiting_agent=True, site_id=agent.profile.site_id, flow__in=flows)
            .order_by("claim_by", "priority", "created_at", "pk")
            .first()
        )
        if ticket is None:
            raise NoTicketAvailable()
        return _take(as_flow(ticket), agent)


def release_ticket(*, ticket_id: int, supervisor, note: str = "") -> FlowTicket:
    """A supervisor takes a ticket away from its agent; it waits in the queue again."""
    if not roles.is_supervisor(supervisor):
        raise TransitionForbidden()
    with transaction.atomic():
        ticket = _locked_ticket(ticket_id)
        if ticket.assignee_id is None or ticket.is_closed:
            raise TransitionNotAllowed(_("The ticket is not held by an agent."))
        previous = ticket.assignee_id
        ticket.assignee, ticket.claimed_at = None, None
        ticket.refresh_queue_flag()
        _save(ticket)
        _log(
            ticket=ticket, actor=supervisor, name="release", from_state=ticket.state,
            to_state=ticket.state, note=note, data={"previous_assignee": previous},
        )  # fmt: skip
        return ticket


def reassign_ticket(*, ticket_id: int, supervisor, agent, note: str = "") -> FlowTicket:
    """A supervisor hands the ticket to another agent who works its flow and site."""
    if not roles.is_supervisor(supervisor):
        raise TransitionForbidden()
    with transaction.atomic():
        ticket = _locked_ticket(ticket_id)
        if ticket.is_closed:
            raise TransitionNotAllowed(_("The ticket is closed."))
        if not roles.may_work_ticket(agent, ticket):
            raise InvalidInput({"agent": [_("This agent does not work this flow at this site.")]})
        return _take(ticket, agent, actor=supervisor, note=note)


def change_priority(*, ticket_id: int, priority: int, actor, note: str = "") -> FlowTicket:
    """A supervisor changes a ticket's priority; its SLA deadlines are computed anew from its
    arrival with the policy of the new priority."""
    if not roles.is_supervisor(actor):
        raise TransitionForbidden()
    if priority not in Priority.values:
        raise InvalidInput({"priority": [_("Choose a priority from 1 (critical) to 4 (low).")]})
    with transaction.atomic():
        ticket = _locked_ticket(ticket_id)
        if ticket.is_closed:
            raise TransitionNotAllowed(_("The ticket is closed."))
        previous = ticket.priority
        ticket.priority = priority
        sla.apply_deadlines(ticket, ticket.created_at)
        _save(ticket)
        _log(
            ticket=ticket, actor=actor, name="change_priority", from_state=ticket.state,
            to_state=ticket.state, note=note, data={"from": previous, "to": priority},
        )  # fmt: skip
        return ticket


# --- Records on a ticket --------------------------------------------------------------------
def record_contact_attempt(
    *, ticket_id: int, agent, outcome: str, note: str = "", expected_state: str | None = None
) -> ContactAttempt:
    """One call to the customer. Failed calls count toward the unreachable rule."""
    if outcome not in ContactOutcome.values:
        raise InvalidInput({"outcome": [_("Choose answered, no answer, busy or wrong number.")]})
    if len(note) > TEXT_INPUT_MAX:
        raise InvalidInput({"note": [_("Keep it under %(max)d characters.") % {"max": 4000}]})
    with transaction.atomic():
        ticket = _locked_ticket(ticket_id, expected_state)
        if ticket.is_closed:
            raise TransitionNotAllowed(_("The ticket is closed."))
        if ticket.assignee_id != agent.pk:
            raise TransitionForbidden(_("Only the agent holding the ticket records calls."))
        attempt = ContactAttempt.objects.create(
            ticket=ticket,
            agent=agent,
            outcome=outcome,
            phone=ticket.service.customer.phone,
            note=note,
        )
        if attempt.failed:
            ticket.failed_attempts += 1
        else:
            ticket.last_answered_at = attempt.at
        ticket.last_contact_outcome = outcome
        _save(ticket)
        return attempt


def add_note(*, ticket_id: int, author, text: str) -> Note:
    text = (text or "").strip()
    if not text:
        raise InvalidInput({"text": [_("Write the note.")]})
    if len(text) > TEXT_INPUT_MAX:
        raise InvalidInput({"text": [_("Keep it under %(max)d characters.") % {"max": 4000}]})
    with transaction.atomic():
        ticket = _locked_ticket(ticket_id)
        _require_ticket_insider(ticket, author)
        return Note.objects.create(ticket=ticket, author=author, text=text)


def _require_ticket_insider(ticket: Ticket, user) -> None:
    """The ticket's agent, Support or a supervisor may annotate a ticket and refresh its checks."""
    if ticket.assignee_id == user.pk or roles.is_support(user) or roles.is_supervisor(user):
        return
    raise TransitionForbidden(_("Only the ticket's agent, Support or a supervisor."))


# What the console's customer panel shows, asked again on "Refresh".
CUSTOMER_CHECKS = (
    ("isiska", "profile"),
    ("ibooster", "connection_status"),
    ("ibooster", "usage_history"),
    ("epayment", "bills"),
)


def refresh_customer_checks(*, ticket_id: int, actor) -> int:
    """Ask I-SISKA, Ibooster and E-payment again for the customer panel: a logged request with
    no state change; checks still under way are not asked twice. Returns how many were queued."""
    from integrations.models import AdapterCall, CallStatus

    from .flows.base import Call

    with transaction.atomic():
        ticket = _locked_ticket(ticket_id)
        if not roles.may_work_ticket(actor, ticket):  # any agent of its queue may look
            _require_ticket_insider(ticket, actor)
        running = set(
            AdapterCall.objects.filter(
                ticket=ticket, status__in=(CallStatus.PENDING, CallStatus.RUNNING)
            ).values_list("app", "operation")
        )
        calls = [Call(*check) for check in CUSTOMER_CHECKS if check not in running]
        if not calls:
            return 0
        entry = _log(
            ticket=ticket, actor=actor, name="refresh_checks", from_state=ticket.state,
            to_state=ticket.state,
        )  # fmt: skip
        outbox.enqueue(calls=calls, ticket=ticket, log_entry=entry)
        return len(calls)


def apply_call_answer(*, call, response) -> list[str]:
    """Record on the ticket what a successful external call found (facts, the NOSSA number, the
    Starclick order). Called inside the transaction that marks the call succeeded; the ticket
    row is locked like every other write. Returns the changed fields."""
    from integrations.calls import SPECS

    spec = SPECS.get((call.app, call.operation))
    if spec is None or spec.apply is None or call.ticket_id is None:
        return []
    ticket = Ticket.objects.select_for_update().get(pk=call.ticket_id)
    changed = spec.apply(ticket, response)
    _save(ticket, [*changed, "updated_at"])
    return changed


# --- Gamas incidents ------------------------------------------------------------------------
def open_incident(*, title: str, area_level: str, area_code: str, actor) -> GamasIncident:
    """Open a mass outage; unlinked IVR Gamas reports already in its area are linked to it."""
    from .flows.gamas import incident_managers

    if not incident_managers(None, actor):
        raise TransitionForbidden()
    errors = {}
    if not (title or "").strip():
        errors["title"] = [_("This field is required.")]
    if area_level not in ("sto", "olt", "odp"):
        errors["area_level"] = [_("Choose STO, OLT or ODP.")]
    if not (area_code or "").strip():
        errors["area_code"] = [_("This field is required.")]
    if errors:
        raise InvalidInput(errors)
    with transaction.atomic():
        incident = GamasIncidentMachine.objects.create(
            title=title.strip()[:200], area_level=area_level, area_code=area_code.strip(),
            opened_by=actor,
        )  # fmt: skip
        _log(incident=incident, actor=actor, name="open", from_state="", to_state="open")
        waiting = Ticket.objects.select_for_update().filter(
            flow=Flow.GAMAS, state="new", **{f"service__{area_level}": incident.area_code}
        )
        for report in waiting:
            _link_report(as_flow(report), incident)
        return incident


def transition_incident(
    *, incident_id: int, name: str, actor, inputs: dict | None = None, expected_state=None
):
    """Recover or close a gamas incident. Recovery fans out to its children in the background."""
    with transaction.atomic():
        try:
            incident = GamasIncidentMachine.objects.select_for_update().get(pk=incident_id)
        except (GamasIncident.DoesNotExist, ValueError, TypeError) as missing:
            raise TransitionNotAllowed(_("No such incident.")) from missing
        if expected_state is not None and incident.state != expected_state:
            raise ConcurrentChange(current_state=incident.state)
        _apply(incident, name, actor, inputs)
        if name == "recover":
            from .tasks import start_gamas_fan_out

            transaction.on_commit(lambda: start_gamas_fan_out(incident.pk))
        return incident


def fan_out_recovery_batch(*, incident_id: int, batch_size: int | None = None) -> int:
    """Move one batch of an incident's waiting children to verifying; returns how many moved.

    The batch goes through each flow machine's `gamas_recovered` transition metadata (its source,
    target and calls) but is written in bulk: one UPDATE, one log insert, one outbox insert.
    """
    batch_size = batch_size or settings.TIER2_GAMAS_BATCH_SIZE
    moved = 0
    with transaction.atomic():
        incident = GamasIncident.objects.get(pk=incident_id)
        if incident.state == "open":
            return 0
        for machine in FLOWS.values():
            method = getattr(machine, "gamas_recovered", None)
            if method is None:
                continue
            for source, found in method._django_fsm.transitions.items():
                rows = list(
                    Ticket.objects.select_for_update(skip_locked=True)
                    .filter(gamas_incident_id=incident_id, flow=machine.flow_code, state=source)
                    .order_by("pk")
                    .values_list("pk", "assignee_id")[: batch_size - moved]
                )
                if not rows:
                    continue
                ids = [pk for pk, _assignee in rows]
                target = found.target
                # Waiting for an agent again only if no agent still holds the ticket.
                queued = target not in machine.unqueued_states
                Ticket.objects.filter(pk__in=ids, state=source).update(
                    state=target,
                    awaiting_agent=Case(
                        When(assignee__isnull=True, then=Value(queued)), default=Value(False)
                    ),
                    updated_at=timezone.now(),
                )
                now = timezone.now()
                entries = TransitionLog.objects.bulk_create(
                    TransitionLog(
                        ticket_id=pk, actor=None, at=now, transition="gamas_recovered",
                        from_state=source, to_state=target, data={"incident": incident_id},
                    )
                    for pk in ids
                )  # fmt: skip
                outbox.enqueue_bulk(calls=found.custom["calls"], log_entries=entries)
                moved += len(ids)
                if moved >= batch_size:
                    return moved
    return moved
