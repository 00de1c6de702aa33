"""How the console names and dates things: labels of states and transitions, SLA deadlines.

Read from the flow machines' metadata, so a label changed in `tickets/flows/` changes here too.
Nothing here queries the database. The SLA cell (countdown and badge) of every page comes from
`sla_view` and `countdown_markup`, so the queue, the workspace, the panel, the dashboard and the
desk write a deadline and an overdue time the same way.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..flows import FLOWS, GamasIncidentMachine
from ..models import Flow, Priority
from ..services import deadlines, records

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


def running_deadline(ticket, now=None) -> deadlines.RunningDeadline:
    """The deadline that runs now (`services.deadlines.running_deadline_of`: the one rule)."""
    return deadlines.running_deadline_of(ticket, now)


def deadline_of(ticket):
    """The moment the running SLA clock ends (None when paused or closed)."""
    return running_deadline(ticket).at


DEADLINE_KINDS = {
    deadlines.CLAIM: _("to claim"),
    deadlines.RESOLVE: _("to resolve"),
    deadlines.PAUSED: _("paused with Support"),
    deadlines.CLOSED: "",
}
BADGES = {
    deadlines.AT_RISK: ("at_risk", _("At risk")),
    deadlines.OVERDUE: ("breached", _("Breached")),
    deadlines.PAUSED: ("paused", _("Paused")),
}


def sla_view(ticket, now=None) -> dict:
    """What the SLA cell of a queue row, the workspace header and the panel show: the running
    deadline's countdown, what it is for, and the badge beside it, which speaks of that same
    deadline. A mark the sweep left for an earlier deadline (claim-by missed, then taken) is
    shown apart, as a dated fact, never as the badge of the clock that runs now."""
    now = now or timezone.now()
    running = running_deadline(ticket, now)
    badge = BADGES.get(running.status)
    earlier = None
    if ticket.breached_at is not None and running.status not in (deadlines.OVERDUE,):
        earlier = {"label": _("SLA breached"), "at": ticket.breached_at}
    return {
        "kind": running.kind,
        "kind_label": str(DEADLINE_KINDS[running.kind]),
        "at": running.at,
        "status": running.status,
        "countdown": countdown_markup(running.at, now, left=running.left),
        "badge_class": badge[0] if badge else "",
        "badge": str(badge[1]) if badge else "",
        "earlier_mark": earlier if ticket.closed_at is None else None,
    }


def countdown_text(moment, now=None) -> str:
    """Time left until `moment` as the SLA clock shows it: 1:05:09, -0:12:00, 3d 4h (the same
    as static/js/console.js's `formatLeft`, which keeps it live)."""
    if moment is None:
        return "—"
    return _left_text(int((moment - (now or timezone.now())).total_seconds()))


def _left_text(seconds: int) -> str:
    sign = "-" if seconds < 0 else ""
    hours, rest = divmod(abs(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    if hours >= 48:
        return f"{sign}{hours // 24}d {hours % 24}h"
    return f"{sign}{hours}:{minutes:02d}:{seconds:02d}"


def countdown_markup(moment, now=None, *, big: bool = False, left=None) -> str:
    """The one countdown of the console (queues, workspace, panel, dashboard, desk): time left
    in `countdown_text`'s format, red and read as "overdue 0:12:00" once past, the moment itself
    in the title. `left` (a timedelta) shows a stopped clock instead: no live ticking."""
    size = " big" if big else ""
    if moment is None:
        if left is None:
            return "—"
        return format_html(
            '<span class="countdown paused{}">{}</span>',
            size,
            _left_text(int(left.total_seconds())),
        )
    now = now or timezone.now()
    text = countdown_text(moment, now)
    late = moment < now
    return format_html(
        '<span class="countdown{}{}" data-deadline="{}" title="{}" aria-label="{}">{}</span>',
        size,
        " overdue" if late else "",
        moment.isoformat(),
        moment_text(moment),
        f"{_('overdue')} {text[1:]}" if late else text,
        text,
    )


def moment_text(moment) -> str:
    """A moment as the console writes one in full: 30 Nov 2026 14:05 (local time)."""
    if moment is None:
        return ""
    if not isinstance(moment, datetime):
        return str(moment)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return date_format(timezone.localtime(moment), "d M Y H:i")


def priority_class(value) -> str:
    return {Priority.CRITICAL: "p1", Priority.HIGH: "p2", Priority.NORMAL: "p3"}.get(value, "p4")


# --- Results: what external applications answered that the flow depends on ------------------
# (facts key, field of the answer, label): shown as facts in the workspace header and the panel.
RESULT_FACTS = (
    ("starclick", "order_id", _("Starclick order")),
    ("nossa_escalation", "work_order_id", _("NOSSA work order")),
    ("mycx", "case_id", _("My CX case")),
    ("sephia", "escalation_id", _("Sephia escalation")),
)


def fact_checked(ticket, key: str) -> dict:
    """Which check gave `ticket.facts[key]` and when (`services.records` records it), and which
    check answered later without replacing it. Empty when nothing is recorded."""
    facts = ticket.facts or {}
    source = (facts.get(records.CHECKED) or {}).get(key) or {}
    later = (facts.get(records.LATER) or {}).get(key) or {}
    return {
        "app": source.get("app", ""),
        "at": _moment(source.get("at")),
        "state": state_label(ticket.flow, source["state"]) if source.get("state") else "",
        "later_at": _moment(later.get("at")),
        "later_reason": later.get("reason", ""),
    }


def result_facts(ticket) -> list[dict]:
    """The answers the flow depends on, as facts with the time they came (newest knowledge
    of each: a number once given is the ticket's)."""
    facts = ticket.facts or {}
    found = []
    for key, field, label in RESULT_FACTS:
        value = (facts.get(key) or {}).get(field) if isinstance(facts.get(key), dict) else None
        if value:
            found.append(
                {
                    "key": key,
                    "label": str(label),
                    "value": value,
                    "at": fact_checked(ticket, key)["at"],
                }
            )
    return found


def _moment(text):
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)
