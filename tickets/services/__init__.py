"""Every write to tickets, gamas incidents and escalations goes through this package (one door).

The console's views, the API, the Celery tasks, the admin and the signal receivers call these
functions and nothing else that writes; none of them repeats a rule. Each function runs in one
database transaction: the row change, its transition-log row and the outbox rows of the external
calls it causes commit together, and the calls are dispatched after commit.

The package is split by responsibility, behind this one public face:

- `engine`: the transition engine every module builds on (what may be done now, inputs,
  permission, conditions, the log row and the outbox rows);
- `intake`: reports from outside become tickets (pulls, pushes, CSV rows): deduplication, the
  service and customer, routing, Fresh Lapul and gamas linking;
- `assignment`: who holds a ticket (claim, next ticket, release, reassign);
- `dispatch`: push mode: offers of waiting tickets to available agents, their answers,
  availability, capacity and pins;
- `records`: calls to the customer, notes, the panel's checks, adapter answers;
- `deadlines`: SLA clocks (priority, the pause with Support, clearing marks, the sweep);
- `escalations`: Support's desk (take, hand over, answer, resolve);
- `gamas`: incidents and the recovery fan-out;
- `imports`: supervisors' CSV lists;
- `campaigns`: campaign rules;
- `notifications`: a user's notifications marked read;
- `messages`: SMS and WhatsApp messages to customers (templates, the moments that send them,
  gamas broadcasts, opt-out, quiet hours, the rate limit, receipts);
- `tmf_changes`: trouble tickets created and patched through the TMF621 API;
- `events`: what changed on a ticket, announced inside the change's transaction to its
  consumers; `hub` (TMF621 event subscriptions) is one, queueing the subscribers' events;
- `live`: another, the live console's: messages to the open websockets after commit, and the
  notifications the services write (`notify`); docs/live.md.
"""

from .assignment import (
    claim_next_ticket,
    claim_ticket,
    queue_flows_of,
    reassign_ticket,
    release_ticket,
)
from .deadlines import SweepResult, change_priority, recompute_deadlines, sweep_sla
from .dispatch import (
    OfferClosed,
    accept_offer,
    decline_offer,
    dispatch_site,
    expire_offers,
    pin_ticket,
    set_availability,
    set_capacity,
    update_agent,
)
from .dispatch import seen as agent_seen
from .dispatch import sweep as dispatch_sweep
from .engine import TEXT_INPUT_MAX, TransitionOption, available_transitions, transition_ticket
from .escalations import (
    answer_escalation,
    assign_escalation,
    resolve_escalation,
    resolved_by_support,
)
from .gamas import (
    children_waiting,
    fan_out_recovery_batch,
    incidents_with_waiting_children,
    open_incident,
    start_fan_out,
    transition_incident,
)
from .hub import create_subscription, delete_subscription
from .intake import (
    FAULT_FLOWS,
    LAPUL_FLOWS,
    covering_incident,
    create_ticket,
    find_or_create_services,
    raised,
    receive_callback_record,
    receive_report,
    recent_closed_ticket,
    route_site,
)
from .messages import (
    broadcast_batch,
    poll_receipts,
    record_receipt,
    record_send_outcome,
    release_held,
    save_template,
    send_broadcast,
    set_message_preferences,
    start_broadcast,
    unfinished_broadcasts,
)
from .notifications import mark_notifications_read
from .records import (
    CUSTOMER_CHECKS,
    add_note,
    apply_call_answer,
    may_retry_call,
    record_contact_attempt,
    refresh_customer_checks,
    retry_call,
)
from .tmf_changes import create_trouble_ticket, patch_trouble_ticket

__all__ = [
    "CUSTOMER_CHECKS",
    "FAULT_FLOWS",
    "LAPUL_FLOWS",
    "TEXT_INPUT_MAX",
    "OfferClosed",
    "SweepResult",
    "TransitionOption",
    "accept_offer",
    "add_note",
    "agent_seen",
    "answer_escalation",
    "apply_call_answer",
    "assign_escalation",
    "available_transitions",
    "broadcast_batch",
    "change_priority",
    "children_waiting",
    "claim_next_ticket",
    "claim_ticket",
    "covering_incident",
    "create_subscription",
    "create_ticket",
    "create_trouble_ticket",
    "decline_offer",
    "delete_subscription",
    "dispatch_site",
    "dispatch_sweep",
    "expire_offers",
    "fan_out_recovery_batch",
    "find_or_create_services",
    "incidents_with_waiting_children",
    "mark_notifications_read",
    "may_retry_call",
    "open_incident",
    "patch_trouble_ticket",
    "pin_ticket",
    "poll_receipts",
    "queue_flows_of",
    "raised",
    "reassign_ticket",
    "receive_callback_record",
    "receive_report",
    "recent_closed_ticket",
    "recompute_deadlines",
    "record_contact_attempt",
    "record_receipt",
    "record_send_outcome",
    "refresh_customer_checks",
    "release_held",
    "release_ticket",
    "resolve_escalation",
    "resolved_by_support",
    "retry_call",
    "route_site",
    "save_template",
    "send_broadcast",
    "set_availability",
    "set_capacity",
    "set_message_preferences",
    "start_broadcast",
    "start_fan_out",
    "sweep_sla",
    "transition_incident",
    "transition_ticket",
    "unfinished_broadcasts",
    "update_agent",
]
