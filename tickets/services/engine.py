"""The transition engine: the one place a flow machine's transition is taken.

`apply_transition` checks the transition exists from the current state, the actor's permission,
the declared inputs and the machine's conditions; runs it; saves the row; writes its log entry
and the outbox rows of the external calls it starts; then runs what other service modules hooked
onto it (`after_transition`) and the close hook. Every module of this package builds on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import ConcurrentTransition

from integrations import outbox

from .. import metrics, stats
from ..exceptions import (
    ConcurrentChange,
    ConditionNotMet,
    InvalidInput,
    TransitionForbidden,
    TransitionNotAllowed,
)
from ..flows import FlowTicket, GamasIncidentMachine, as_flow
from ..flows.base import CLOSED, Input
from ..models import GamasIncident, Ticket, TransitionLog
from . import events

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
        words = {"name": _action_label(meta, name), "state": _state_label(machine)}
        message = (
            _("“%(name)s” is not possible while the incident is “%(state)s”.")
            if isinstance(machine, GamasIncident)
            else _("“%(name)s” is not possible while the ticket is “%(state)s”.")
        )
        raise TransitionNotAllowed(message % words, current_state=machine.state)
    return found


def _action_label(meta, name: str) -> str:
    """The words of the action `name` (its label from any state it leaves)."""
    label = next((found.custom.get("label") for found in meta.transitions.values()), None)
    return str(label) if label else name.replace("_", " ")


def _state_label(machine) -> str:
    """The words of the state the machine is in (people read labels, the API's code field
    carries the state's code)."""
    info = getattr(type(machine), "states", {}).get(machine.state)
    return str(info.label) if info else machine.state


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
        codes = dict(spec.choices or machine.closing_codes)
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
def log_entry(
    *, ticket=None, incident=None, actor, name, from_state, to_state, note="", data=None, at=None
):
    return TransitionLog.objects.create(
        at=at or timezone.now(),
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


def save_row(row, fields=None) -> None:
    try:
        row.save(update_fields=fields)
    except ConcurrentTransition as clash:
        raise ConcurrentChange() from clash


def apply_transition(
    machine, name: str, actor, raw_inputs: dict | None = None, *, check_perm=True, log_data=None
):
    """Run one transition on a row the caller holds in a transaction; log it, queue its calls."""
    found = _transition_of(machine, name)
    if check_perm and not found.has_perm(machine, actor):
        raise TransitionForbidden()
    inputs = _clean_inputs(machine, found, raw_inputs or {})
    failed = _failed_condition(machine, found)
    if failed is not None:
        raise ConditionNotMet(failed.message)
    from_state = machine.state
    now = timezone.now()
    getattr(machine, name)(**inputs)
    if isinstance(machine, FlowTicket) and machine.state != from_state:
        machine.state_changed_at = now  # evidence gathered before this step no longer counts
    if isinstance(machine, FlowTicket):
        machine.refresh_queue_flag()
        save_row(machine, WORKFLOW_FIELDS)
    else:
        save_row(machine)
    is_ticket = isinstance(machine, Ticket)
    entry = log_entry(
        ticket=machine if is_ticket else None,
        incident=None if is_ticket else machine,
        actor=actor,
        name=name,
        from_state=from_state,
        to_state=machine.state,
        note=inputs.get("note", ""),
        data={**_loggable(inputs), **(log_data or {})},
        at=now,
    )
    calls = [call for call in found.custom["calls"] if call.applies_to(machine)]
    if calls:
        outbox.enqueue(
            calls=calls,
            ticket=machine if is_ticket else None,
            incident=None if is_ticket else machine,
            log_entry=entry,
        )
    for hook in AFTER_TRANSITION.get(name, ()):
        hook(machine, actor, inputs, from_state)
    if is_ticket:  # after the hooks: the change as they completed it (clock, deadlines)
        events.ticket_changed(machine, kind=events.TRANSITION, from_state=from_state, entry=entry)
    metrics.transition_taken(machine, name)  # every transition, counted here only
    if is_ticket and machine.state == CLOSED:
        _after_close(machine)
    return machine


def locked_ticket(ticket_id: int, expected_state: str | None = None) -> FlowTicket:
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
    if name in ROUTED:
        return ROUTED[name](
            ticket_id=ticket_id, actor=actor, inputs=inputs or {}, expected_state=expected_state
        )
    with transaction.atomic():
        ticket = locked_ticket(ticket_id, expected_state)
        return apply_transition(ticket, name, actor, inputs)


# --- Hooks other service modules add -----------------------------------------------------------
# name -> functions(machine, actor, inputs, from_state) run after that transition, same transaction.
AFTER_TRANSITION: dict[str, list[Callable]] = {}
# name -> the service that owns that transition (claiming, Support's answer): one path each.
ROUTED: dict[str, Callable] = {}


def after_transition(name: str) -> Callable:
    """Register a function run after every successful `name` transition (in its transaction)."""

    def register(func: Callable) -> Callable:
        AFTER_TRANSITION.setdefault(name, []).append(func)
        return func

    return register


def routed(name: str) -> Callable:
    """Register the service that `transition_ticket(name=...)` hands a transition to."""

    def register(func: Callable) -> Callable:
        ROUTED[name] = func
        return func

    return register


def _after_close(ticket: Ticket) -> None:
    """Count the close for the dashboards; the last child closing closes a recovered gamas."""
    stats.record_closed(ticket)
    if ticket.gamas_incident_id is None:
        return
    incident = GamasIncidentMachine.objects.select_for_update().get(pk=ticket.gamas_incident_id)
    if incident.state == "recovered" and not incident.children.filter(closed_at__isnull=True):
        apply_transition(incident, "close", None, {"closing_code": "RECOVERED"})
