"""TMF621 event subscriptions (`/hub`): who may subscribe, and the events each ticket change
sends to the subscribers who may see the ticket.

The changes come from `services.events` (one announcement per change, inside its transaction);
this module is one consumer of them. For each change it picks the spec's event types
(`event_types`, the table in docs/tmf621.md), and for each active subscription that asks for
them (its `query`) and whose owner may see the ticket (the same scoping as the API's reads),
writes one outbox row per event with the complete event JSON, frozen now, in the change's
transaction (`integrations.hub.queue`). The outbox sends it after commit, signed, with retries.
"""

from __future__ import annotations

import threading
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _

from integrations import hub as delivery
from integrations.models import EventSubscription

from .. import roles, tmf
from ..exceptions import ConditionNotMet, InvalidInput, TransitionForbidden
from ..models import Flow
from . import events

CREATE = delivery.CREATE
STATUS_CHANGE = delivery.STATUS_CHANGE
ATTRIBUTE_VALUE_CHANGE = delivery.ATTRIBUTE_VALUE_CHANGE
RESOLVED = delivery.RESOLVED
INFORMATION_REQUIRED = delivery.INFORMATION_REQUIRED

# What a subscription's query may filter on, in the event's `troubleTicket`, and the values
# each accepts (None: any).
TICKET_FILTERS: dict[str, tuple[str, ...] | None] = {
    "ticketType": tuple(Flow.values),
    "status": tmf.STATUSES,
    "severity": tuple(dict.fromkeys(tmf.SEVERITY_NAMES.values())),
    "priority": tuple(tmf.PRIORITY_NAMES.values()),
    "channel.id": None,
}
# What the reporter is asked for when an agent cannot reach the customer (`pending`): a note
# with a way to reach them (the spec's JsonPatch, pointing into the TroubleTicket).
INFORMATION_WANTED = {"op": "add", "path": "/note"}
# The event's `description`: what changed, in words (English, for the receiving system's log).
DESCRIPTIONS = {
    events.ARRIVED: "Trouble ticket created.",
    events.TRANSITION: "Status change reason: %(from_state)s -> %(to_state)s.",
    events.ASSIGNEE: "Assigned agent changed.",
    events.PRIORITY: "Priority changed (and with it the expected resolution date).",
    events.NOTE: "Note added.",
    events.CONTACT_ATTEMPT: "Contact attempt with the customer recorded (note added).",
    events.EXTERNAL_ID: "External identifier added.",
    events.SLA_MARK: "SLA status changed (troubleTicketCharacteristic slaStatus).",
}


# --- Which events a change sends ------------------------------------------------------------
def _status(flow: str, state: str, closing_code: str = "") -> str:
    try:
        return tmf.tmf_status(flow, state, closing_code)
    except KeyError:  # a state the mapping lacks (tests/tmf/test_mapping.py catches it): no
        return ""  # status change is claimed for it, and the change itself still commits


def event_types(change: events.TicketChange) -> list[str]:
    """The spec's event types one change sends (docs/tmf621.md, "Which change sends what").

    Arrival: CreateEvent. A new TMF status: StatusChangeEvent, plus ResolvedEvent when it is
    `resolved`, plus InformationRequiredEvent when it is `pending` (the agent cannot reach the
    customer and needs the reporter's input). Anything else a subscriber sees (the SOP state
    within the same status, priority, a note or contact attempt, the assignee, an external
    identifier, the SLA status): AttributeValueChangeEvent."""
    if change.kind == events.ARRIVED:
        return [CREATE]
    ticket = change.ticket
    before = _status(ticket.flow, change.from_state)
    after = _status(ticket.flow, change.to_state, ticket.closing_code)
    if before == after:
        return [ATTRIBUTE_VALUE_CHANGE]
    found = [STATUS_CHANGE]
    if after == tmf.RESOLVED:
        found.append(RESOLVED)
    if after == tmf.PENDING:
        found.append(INFORMATION_REQUIRED)
    return found


# --- Who receives what ----------------------------------------------------------------------
def may_subscribe(user) -> bool:
    """System clients, supervisors and administrators (whose role includes supervising)."""
    return roles.is_system(user) or roles.is_supervisor(user)


def may_see(owner, ticket) -> bool:
    """Whether the subscription's owner may see the ticket: `selectors.visible_tickets` for one
    ticket in hand (supervisors, Support, admins everything; a system client its profile's
    site and flows; an agent the queues they work)."""
    if not owner.is_active:
        return False
    if roles.sees_every_ticket(owner):
        return True
    if roles.is_system(owner):
        return roles.system_may_see(owner, ticket)
    return roles.may_work_ticket(owner, ticket)


def event_json(event_type: str, ticket_json: dict, change: events.TicketChange) -> dict:
    """One event, as the spec's `TroubleTicket*Event`; its `eventId` is new and unique, and
    stays the event's on every attempt to deliver it (the row keeps this JSON)."""
    event_id = str(uuid.uuid4())
    at = tmf.iso(change.at)
    payload = {"troubleTicket": ticket_json}
    if event_type == INFORMATION_REQUIRED:
        payload["informationRequired"] = INFORMATION_WANTED
    return {
        "@type": event_type,
        "@baseType": "Event",
        "id": event_id,
        "eventId": event_id,
        "eventTime": at,
        "timeOccurred": at,
        "eventType": event_type,
        "correlationId": change.change_id,
        "domain": "troubleTicket",
        "title": event_type,
        "description": DESCRIPTIONS.get(change.kind, "")
        % {"from_state": change.from_state, "to_state": change.to_state},
        "event": payload,
    }


class TmfHub:
    """The consumer of ticket changes that queues TMF621 event deliveries."""

    MEMO = "hub.subscriptions"

    def __init__(self) -> None:
        self._read = threading.local()  # what `wants` read, for the `handle` that follows it

    def _subscriptions(self) -> list[EventSubscription]:
        batch = events.current_batch()
        if batch is not None and self.MEMO in batch.memo:
            return batch.memo[self.MEMO]
        found = getattr(self._read, "found", None)
        self._read.found = None
        if found is None:
            found = delivery.active_subscriptions()
        owners = {}  # one user object per owner: its permissions are read once
        for subscription in found:
            subscription.owner = owners.setdefault(subscription.owner_id, subscription.owner)
        if batch is not None:
            batch.memo[self.MEMO] = found
        return found

    def wants(self) -> bool:
        batch = events.current_batch()
        if batch is not None and self.MEMO in batch.memo:
            return bool(batch.memo[self.MEMO])
        self._read.found = delivery.active_subscriptions()
        return bool(self._read.found)

    def handle(self, change: events.TicketChange) -> None:
        subscriptions = self._subscriptions()
        types = event_types(change)
        ticket = change.ticket
        seen: dict[int, dict | None] = {}  # owner -> the ticket as they see it (None: hidden)
        deliveries = []
        for subscription in subscriptions:
            query = delivery.parsed_query(subscription.query, ticket_filters=TICKET_FILTERS)
            wanted = [event_type for event_type in types if query.wants(event_type)]
            if not wanted:
                continue
            owner = subscription.owner
            if owner.pk not in seen:
                visible = may_see(owner, ticket)
                seen[owner.pk] = tmf.event_ticket(ticket, viewer=owner) if visible else None
            ticket_json = seen[owner.pk]
            if ticket_json is None or not query.matches(ticket_json):
                continue
            deliveries += [
                delivery.Delivery(
                    subscription_id=subscription.pk,
                    event=event_json(event_type, ticket_json, change),
                    log_entry_id=change.entry.pk if change.entry is not None else None,
                )
                for event_type in wanted
            ]
        if not deliveries:
            return
        batch = events.current_batch()
        if batch is None:
            delivery.queue(deliveries)
        else:
            batch.defer("hub", delivery.queue, deliveries)


events.consumer(TmfHub)


# --- Subscribing ----------------------------------------------------------------------------
def create_subscription(*, owner, callback, query="") -> tuple[EventSubscription, str]:
    """`owner` subscribes `callback` to the events `query` names (all when empty).

    Returns the subscription and its signing secret, which the caller shows the client once:
    it is not shown again. Raises TransitionForbidden (not a system client, supervisor or
    administrator), InvalidInput (callback or query wrong) or ConditionNotMet (the client holds
    `TIER2_HUB_MAX_PER_CLIENT` subscriptions already)."""
    if not may_subscribe(owner):
        raise TransitionForbidden(
            _("Only system clients, supervisors and administrators subscribe to events.")
        )
    errors: dict[str, list[str]] = {}
    try:
        callback = delivery.check_callback(callback)
    except ValueError as problem:
        errors["callback"] = [str(problem)]
    query = "" if query is None else query
    if not isinstance(query, str):
        errors["query"] = [_("Write the query as text, e.g. %(example)s.") % {"example": EXAMPLE}]
    else:
        query = query.strip()
        try:
            delivery.parse_query(query, ticket_filters=TICKET_FILTERS)
        except ValueError as problem:
            errors["query"] = [str(problem)]
    if errors:
        raise InvalidInput(errors)
    with transaction.atomic():
        # The owner's row, locked: two subscriptions made at once count each other.
        list(get_user_model().objects.select_for_update().filter(pk=owner.pk).values_list("pk"))
        limit = settings.TIER2_HUB_MAX_PER_CLIENT
        if EventSubscription.objects.filter(owner=owner).count() >= limit:
            raise ConditionNotMet(
                _("You have %(max)d event subscriptions, the most one client may; delete one.")
                % {"max": limit}
            )
        secret = delivery.new_secret()
        subscription = EventSubscription.objects.create(
            owner=owner, callback=callback, query=query, secret=secret
        )
    return subscription, secret


EXAMPLE = "eventType=TroubleTicketStatusChangeEvent&ticketType=nossa"


def delete_subscription(*, subscription_id, actor) -> None:
    """The owner (or an administrator) ends a subscription; its deliveries still waiting are not
    sent, and its delivery log goes with it. Raises EventSubscription.DoesNotExist for one the
    actor may not see."""
    with transaction.atomic():
        subscription = EventSubscription.objects.select_for_update().get(pk=subscription_id)
        if subscription.owner_id != actor.pk and not roles.is_admin(actor):
            raise EventSubscription.DoesNotExist
        subscription.delete()
