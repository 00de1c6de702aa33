"""What each external operation takes from a ticket, and what its answer changes on the ticket.

Adapters know nothing of Django models (STYLE 4); this module is the mapping between the two.
`SPECS[(app, operation)]` gives, for one operation, how to build its request from the ticket
(and the transition that caused it), whether it is a write that needs an idempotency key, and
how its answer is recorded on the ticket (mostly into `ticket.facts`, which the flow conditions
and the console's customer panel read).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .adapters import AdapterRejected


@dataclass(frozen=True)
class CallSpec:
    request: Callable  # (ticket, call) -> dict of keyword arguments
    writes: bool = False  # a write takes the call's idempotency key
    apply: Callable | None = None  # (ticket, response_json) -> list of changed field names


def _service_number(ticket, call) -> dict:
    return {"service_number": ticket.service.service_number}


def _nossa_number(ticket) -> str:
    if not ticket.nossa_number:
        raise AdapterRejected("The ticket has no NOSSA number.")
    return ticket.nossa_number


def _reason(call) -> str:
    entry = call.log_entry
    if entry is None:
        return "Tier-2"
    return entry.note or entry.data.get("reason") or entry.transition.replace("_", " ")


def _agent_code(ticket) -> str:
    assignee = ticket.assignee
    if assignee is None:
        return "TIER2"
    profile = getattr(assignee, "profile", None)
    return (profile.agent_code if profile and profile.agent_code else assignee.get_username())[:16]


def _fact(key: str) -> Callable:
    """An effect that stores the whole answer under facts[key]."""

    def store(ticket, response) -> list[str]:
        ticket.facts = {**ticket.facts, key: response}
        return ["facts"]

    return store


def _store_nossa_number(ticket, response) -> list[str]:
    ticket.nossa_number = response["nossa_number"]
    return ["nossa_number"]


def _store_connection(ticket, response) -> list[str]:
    ticket.facts = {**ticket.facts, "ibooster": response}
    return ["facts"]


def _store_usage(ticket, response) -> list[str]:
    days = response or []
    total = sum(day["download_gb"] for day in days)
    summary = {
        "days": len(days),
        "download_gb_total": round(total, 2),
        "zero_usage_days": sum(1 for day in days if not day["download_gb"]),
        "daily": days[-14:],
    }
    ticket.facts = {**ticket.facts, "usage": summary}
    return ["facts"]


def _store_arrears(ticket, response) -> list[str]:
    epayment = {
        "arrears_total": response["total_idr"],
        "months_unpaid": response["months_unpaid"],
    }
    ticket.facts = {**ticket.facts, "epayment": epayment}
    return ["facts"]


def _remote_action(ticket, call) -> dict:
    return {
        "service_number": ticket.service.service_number,
        "action": ticket.facts.get("remote_fix_action", "reboot"),
    }


def _network_change(ticket, call) -> dict:
    return {
        "service_number": ticket.service.service_number,
        "change": ticket.facts.get("remote_fix_action", "resync_profile"),
    }


def _as_composed(ticket, call) -> dict:
    return dict(call.request)


SPECS: dict[tuple[str, str], CallSpec] = {
    # NOSSA: the trouble-ticket system.
    ("nossa", "take_ticket"): CallSpec(
        request=lambda t, c: {"nossa_number": _nossa_number(t), "agent_code": _agent_code(t)},
        writes=True,
    ),
    ("nossa", "escalate"): CallSpec(
        request=lambda t, c: {"nossa_number": _nossa_number(t), "reason": _reason(c)},
        writes=True,
        apply=_fact("nossa_escalation"),
    ),
    ("nossa", "reopen"): CallSpec(
        request=lambda t, c: {"nossa_number": _nossa_number(t), "reason": _reason(c)},
        writes=True,
    ),
    ("nossa", "create_ticket"): CallSpec(
        request=lambda t, c: {
            "service_number": t.service.service_number,
            "symptom": _reason(c) if c.log_entry and c.log_entry.note else t.summary or "Gangguan",
        },
        writes=True,
        apply=_store_nossa_number,
    ),
    ("nossa", "close_ticket"): CallSpec(
        request=lambda t, c: {"nossa_number": _nossa_number(t), "closing_code": t.closing_code},
        writes=True,
    ),
    # Ibooster: line status and usage.
    ("ibooster", "connection_status"): CallSpec(request=_service_number, apply=_store_connection),
    ("ibooster", "usage_history"): CallSpec(
        request=lambda t, c: {"service_number": t.service.service_number, "days": 30},
        apply=_store_usage,
    ),
    # I-SISKA, E-payment, Webcare: who the customer is, what they owe, what they can buy.
    ("isiska", "profile"): CallSpec(request=_service_number, apply=_fact("isiska")),
    ("epayment", "arrears"): CallSpec(request=_service_number, apply=_store_arrears),
    ("epayment", "bills"): CallSpec(request=_service_number, apply=_fact("bills")),
    ("webcare", "offers"): CallSpec(request=_service_number, apply=_fact("webcare")),
    # ACS and Minitools: diagnose and fix remotely.
    ("acs", "diagnose"): CallSpec(request=_service_number, apply=_fact("acs")),
    ("acs", "remote_fix"): CallSpec(request=_remote_action, writes=True, apply=_fact("remote_fix")),
    ("minitools", "review_network"): CallSpec(request=_service_number, apply=_fact("network")),
    ("minitools", "update_network"): CallSpec(
        request=_network_change, writes=True, apply=_fact("remote_fix")
    ),
    # My CX and Sephia: escalations outside the console.
    ("mycx", "open_case"): CallSpec(
        request=lambda t, c: {"service_number": t.service.service_number, "summary": _reason(c)},
        writes=True,
        apply=_fact("mycx"),
    ),
    ("mycx", "follow_up"): CallSpec(
        request=lambda t, c: {"case_id": (t.facts.get("mycx") or {}).get("case_id", "")},
        apply=_fact("mycx_follow_up"),
    ),
    ("sephia", "internal_escalation"): CallSpec(
        request=lambda t, c: {"service_number": t.service.service_number, "reason": _reason(c)},
        writes=True,
        apply=_fact("sephia"),
    ),
    # Callback: the source of the Callback flow.
    ("callback", "mark_done"): CallSpec(
        request=lambda t, c: {"record_id": t.source_ref, "outcome": t.closing_code or "DONE"},
        writes=True,
    ),
    # Ideas: the order and the My Indihome registration.
    ("starclick", "enter_order"): CallSpec(
        request=lambda t, c: {
            "service_number": t.service.service_number,
            "offer_code": t.facts.get("accepted_offer", ""),
        },
        writes=True,
        apply=_fact("starclick"),
    ),
    ("myindihome", "register"): CallSpec(request=_service_number, writes=True),
    # SMS and WhatsApp: customer messages, composed when they were written (the row's request).
    ("sms", "send"): CallSpec(request=_as_composed, writes=True),
    ("whatsapp", "send_template"): CallSpec(request=_as_composed, writes=True),
}
