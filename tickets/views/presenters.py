"""How the console names and dates things: labels of states and transitions, SLA deadlines.

Read from the flow machines' metadata, so a label changed in `tickets/flows/` changes here too.
Nothing here queries the database.
"""

from __future__ import annotations

from functools import cache

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..flows import FLOWS, GamasIncidentMachine
from ..models import Flow, Priority

# Records the services write outside the machines (arrival, claims by hand, supervisors' moves).
EXTRA_TRANSITION_LABELS = {
    "arrive": _("Arrived"),
    "claim": _("Take"),
    "reassign": _("Reassigned"),
    "release": _("Released to the queue"),
    "open": _("Incident opened"),
    "assign_escalation": _("Escalation handed over"),
    "resolve_escalation": _("Resolved by Support"),
    "change_priority": _("Priority changed"),
    "refresh_checks": _("Checks asked again"),
    "sla_at_risk": _("SLA at risk"),
    "sla_breached": _("SLA breached"),
}


@cache
def _transition_labels(machine) -> dict:
    return {
        found.name: found.custom["label"]
        for found in machine._meta.get_field("state").get_all_transitions(machine)
    }


def transition_label(flow: str | None, name: str) -> str:
    machine = FLOWS.get(flow) if flow else GamasIncidentMachine
    labels = _transition_labels(machine) if machine else {}
    label = labels.get(name) or EXTRA_TRANSITION_LABELS.get(name)
    return str(label) if label else name.replace("_", " ")


def state_label(flow: str | None, state: str) -> str:
    machine = FLOWS.get(flow) if flow else GamasIncidentMachine
    info = machine.states.get(state) if machine else None
    if info is None:
        info = next((m.states[state] for m in FLOWS.values() if state in m.states), None)
    return str(info.label) if info else state


def sop_step(flow: str | None, state: str) -> str:
    machine = FLOWS.get(flow) if flow else GamasIncidentMachine
    info = machine.states.get(state) if machine else None
    return str(info.sop_step) if info else ""


def states_of(flow: str | None, among=None) -> list[tuple[str, str]]:
    """(code, label) of a flow's states in the machine's order; with no flow, those of every
    flow (or of the flows `among`), each state once."""
    if flow:
        return [(code, str(info.label)) for code, info in FLOWS[flow].states.items()]
    seen: dict[str, str] = {}
    for code_of_flow, machine in FLOWS.items():
        if among is not None and code_of_flow not in among:
            continue
        for code, info in machine.states.items():
            seen.setdefault(code, str(info.label))
    return list(seen.items())


def flow_label(flow: str) -> str:
    return str(Flow(flow).label) if flow in Flow.values else flow


def deadline_of(ticket):
    """The SLA deadline that runs now: claim-by while no agent holds it, else resolve-by."""
    if ticket.closed_at is not None:
        return None
    if ticket.assignee_id is None and ticket.awaiting_agent:
        return ticket.claim_by
    return ticket.resolve_by


def deadline_kind(ticket) -> str:
    if ticket.closed_at is not None:
        return ""
    if ticket.assignee_id is None and ticket.awaiting_agent:
        return str(_("to claim"))
    return str(_("to resolve"))


def countdown_text(moment, now=None) -> str:
    """Time left until `moment` as the SLA clock shows it: 1:05:09, -0:12:00, 3d 4h."""
    if moment is None:
        return "—"
    seconds = int((moment - (now or timezone.now())).total_seconds())
    sign = "-" if seconds < 0 else ""
    hours, rest = divmod(abs(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    if hours >= 48:
        return f"{sign}{hours // 24}d {hours % 24}h"
    return f"{sign}{hours}:{minutes:02d}:{seconds:02d}"


def priority_class(value) -> str:
    return {Priority.CRITICAL: "p1", Priority.HIGH: "p2", Priority.NORMAL: "p3"}.get(value, "p4")
