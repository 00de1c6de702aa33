"""TMF621 event deliveries: outbox rows to subscribers' callbacks, signed, retried, suspended.

A ticket change becomes, for each subscription that wants it and whose owner may see the
ticket, one `AdapterCall` row (app `hub`, `subscription` set, `request` = the event's JSON,
frozen at the time of the change), written in the change's transaction by `queue` and sent to
Celery after commit. From there the outbox's guarantees apply unchanged (`integrations.outbox`):
the delivery runs only for the task that claims the row, a lost message is sent again by the
sweep, and a failed POST is retried with Celery's backoff (`TIER2_HUB_RETRY_BACKOFF_SECONDS`,
up to `TIER2_HUB_MAX_ATTEMPTS` attempts). Every attempt of one event sends the same body, so the
same `eventId`: a receiver deduplicates on it (`X-Tmf-Event-Id`).

The body is signed with the subscription's secret: `X-Tmf-Signature: sha256=<hex>`, the
HMAC-SHA256 of the exact body bytes (`adapters.hub.signature`). The secret lives only on the
subscription row; it is never written into a delivery's request or response, nor logged.

A subscription whose deliveries keep failing is suspended: after `TIER2_HUB_SUSPEND_AFTER`
deliveries in a row failed for good (every retry spent), nothing more is queued for it, and its
deliveries still waiting are not sent (they fail as "not sent"). An administrator sees it in the
admin with its delivery log and reactivates it; failed deliveries can be sent again from there.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings
from django.db.models import F, Q
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _

from tickets.models import TransitionLog

from . import outbox
from .adapters import AdapterRejected
from .adapters.hub import HubSender
from .models import AdapterCall, CallStatus, EventSubscription, SubscriptionStatus

log = logging.getLogger(__name__)

APP = "hub"  # AdapterCall.app of an event delivery

# --- The spec's event types (TMF621 v5.0.1, `TroubleTicket*Event`) -----------------------------
CREATE = "TroubleTicketCreateEvent"
STATUS_CHANGE = "TroubleTicketStatusChangeEvent"
ATTRIBUTE_VALUE_CHANGE = "TroubleTicketAttributeValueChangeEvent"
RESOLVED = "TroubleTicketResolvedEvent"
INFORMATION_REQUIRED = "TroubleTicketInformationRequiredEvent"
EVENT_TYPES = (CREATE, STATUS_CHANGE, ATTRIBUTE_VALUE_CHANGE, RESOLVED, INFORMATION_REQUIRED)
# AdapterCall.operation of each (its column holds 32 characters).
OPERATIONS = {name: name.removeprefix("TroubleTicket") for name in EVENT_TYPES}

CALLBACK_MAX = 1000
QUERY_MAX = 1000


# --- The active subscriptions, read at each change ---------------------------------------------
# "No active subscription", as this process last read it: until this monotonic time, a change
# costs no query at all. Only the absence is remembered, for TIER2_HUB_CACHE_SECONDS, and a
# subscription saved in this process forgets it at once; a list found is never reused (it could
# name a subscription deleted since, or one whose transaction rolled back).
_none_until = 0.0
_lock = threading.Lock()


@receiver(post_save, sender=EventSubscription, dispatch_uid="hub-forget-subscriptions")
def forget_subscriptions(**kwargs) -> None:
    """A subscription was made or changed in this process: read them again at the next change
    (this process queues for it from the next change on)."""
    global _none_until
    with _lock:
        _none_until = 0.0


def active_subscriptions() -> list[EventSubscription]:
    """The active subscriptions with their owners (one query), or [] without a query when this
    process found none less than `TIER2_HUB_CACHE_SECONDS` ago."""
    global _none_until
    now = time.monotonic()
    if now < _none_until:
        return []
    found = list(
        EventSubscription.objects.filter(status=SubscriptionStatus.ACTIVE)
        .select_related("owner", "owner__profile")
        .order_by("pk")
    )
    if not found:
        with _lock:
            _none_until = now + settings.TIER2_HUB_CACHE_SECONDS
    return found


# --- What a subscription asks for: the callback and the query ------------------------------------
def check_callback(value) -> str:
    """The callback URL, stripped; raises ValueError (a message for the client) when it is not
    an absolute http(s) URL with a host, or carries credentials."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(_("Give the URL that receives the events."))
    url = value.strip()
    if len(url) > CALLBACK_MAX:
        raise ValueError(_("Keep it under %(max)d characters.") % {"max": CALLBACK_MAX})
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(char.isspace() for char in url)
    ):
        raise ValueError(_("Use an absolute http:// or https:// URL."))
    if parts.username or parts.password:
        raise ValueError(_("Put no credentials in the URL: verify the events' signature instead."))
    return url


@dataclass(frozen=True)
class HubQuery:
    """A subscription's `query`: which event types, and which tickets (all when empty).

    `filters` are (path in the event's `troubleTicket`, accepted values): every filter must
    match (AND); a filter matches when the ticket's value is one of its values (OR)."""

    event_types: frozenset[str] | None = None
    filters: tuple[tuple[tuple[str, ...], frozenset[str]], ...] = ()

    def wants(self, event_type: str) -> bool:
        return self.event_types is None or event_type in self.event_types

    def matches(self, ticket: dict) -> bool:
        for path, accepted in self.filters:
            value = ticket
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if value not in accepted:
                return False
        return True


TICKET_PREFIXES = ("event.troubleTicket.", "troubleTicket.")


def parse_query(text: str, *, ticket_filters: dict[str, tuple[str, ...] | None]) -> HubQuery:
    """Parse `eventType=A,B&ticketType=nossa&troubleTicket.status=resolved` (see docs).

    `ticket_filters` names the ticket attributes a query may filter on (dotted for a nested
    one, `channel.id`) and their accepted values (None: any value). Raises ValueError with a
    message for the client for anything else: an unknown name, an unknown value, a name given
    twice, an empty value."""
    text = (text or "").strip()
    if len(text) > QUERY_MAX:
        raise ValueError(_("Keep it under %(max)d characters.") % {"max": QUERY_MAX})
    if not text:
        return HubQuery()
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise ValueError(
            _("Write the query as name=value pairs joined by &, e.g. %(example)s.")
            % {"example": "eventType=TroubleTicketStatusChangeEvent&ticketType=nossa"}
        ) from None
    event_types: frozenset[str] | None = None
    filters: dict[str, frozenset[str]] = {}
    for raw_name, raw_value in pairs:
        name = raw_name.strip()
        values = [value.strip() for value in raw_value.split(",")]
        if not all(values):
            raise ValueError(_("Give a value for “%(name)s”.") % {"name": name})
        if name == "eventType":
            unknown = [value for value in values if value not in EVENT_TYPES]
            if unknown or event_types is not None:
                raise ValueError(_invalid(name, unknown, EVENT_TYPES))
            event_types = frozenset(values)
            continue
        attribute = next(
            (name.removeprefix(prefix) for prefix in TICKET_PREFIXES if name.startswith(prefix)),
            name,
        )
        if attribute not in ticket_filters:
            raise ValueError(
                _("“%(name)s” cannot be filtered on; use eventType or %(names)s.")
                % {"name": name, "names": ", ".join(ticket_filters)}
            )
        accepted = ticket_filters[attribute]
        unknown = [value for value in values if accepted is not None and value not in accepted]
        if unknown or attribute in filters:
            raise ValueError(_invalid(name, unknown, accepted or ()))
        filters[attribute] = frozenset(values)
    return HubQuery(
        event_types=event_types,
        filters=tuple((tuple(name.split(".")), values) for name, values in filters.items()),
    )


def _invalid(name: str, unknown: list[str], accepted) -> str:
    if not unknown:
        return _("Give “%(name)s” once, its values separated by commas.") % {"name": name}
    return _("Unknown value for “%(name)s”: %(values)s. Use one of: %(accepted)s.") % {
        "name": name,
        "values": ", ".join(unknown),
        "accepted": ", ".join(accepted),
    }


@lru_cache(maxsize=1024)
def _parsed(text: str, filters_key: tuple) -> HubQuery:
    return parse_query(text, ticket_filters=dict(filters_key))


def parsed_query(text: str, *, ticket_filters: dict) -> HubQuery:
    """`parse_query` of a stored (already validated) query, remembered; one that no longer
    parses (the accepted values changed since) asks for nothing."""
    key = tuple((name, None if values is None else tuple(values)) for name, values in
                ticket_filters.items())  # fmt: skip
    try:
        return _parsed(text, key)
    except ValueError:
        return HubQuery(event_types=frozenset())


def new_secret() -> str:
    """A subscription's signing secret (256 bits, hex)."""
    return secrets.token_hex(32)


# --- Queueing: rows in the change's transaction -------------------------------------------------
@dataclass(frozen=True)
class Delivery:
    """One event for one subscription (`event` is the complete JSON body, with its eventId)."""

    subscription_id: int
    event: dict
    log_entry_id: int | None = None


def rows_for(deliveries) -> list[AdapterCall]:
    # Each delivery goes under its log entry's partition month, read for all in one query.
    entries = {item.log_entry_id for item in deliveries} - {None}
    months = dict(TransitionLog.objects.filter(pk__in=entries).values_list("pk", "month"))
    return [
        AdapterCall(
            month=months.get(item.log_entry_id),
            app=APP,
            operation=OPERATIONS[item.event["eventType"]],
            subscription_id=item.subscription_id,
            log_entry_id=item.log_entry_id,
            request=item.event,
            idempotency_key=f"hub-{item.event['eventId']}",
        )
        for item in deliveries
    ]


def queue(deliveries) -> int:
    """Write the deliveries' outbox rows (bulk) and send them to Celery after commit."""
    rows = AdapterCall.objects.bulk_create(rows_for(deliveries), batch_size=1000)
    outbox.dispatch_on_commit([row.pk for row in rows])
    return len(rows)


# --- Delivering: one attempt, run by `run_adapter_call` ------------------------------------------
class NotSent(AdapterRejected):
    """The delivery is not attempted (no subscription, or not active): it fails at once and does
    not count against the receiver."""

    response = {"sent": False}


def body_bytes(event: dict) -> bytes:
    """The exact bytes POSTed, and signed: compact UTF-8 JSON, keys sorted (the same bytes on
    every attempt, whatever order the database gives the keys back in)."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


_senders: dict[float, HubSender] = {}


def _sender() -> HubSender:
    # Within the lease: a POST still running when it ends would be sent a second time.
    timeout = min(settings.TIER2_HUB_TIMEOUT_SECONDS, settings.TIER2_OUTBOX_LEASE_SECONDS / 2)
    sender = _senders.get(timeout)
    if sender is None:
        sender = _senders[timeout] = HubSender(timeout=timeout)
    return sender


def deliver(call: AdapterCall) -> dict:
    """POST the delivery's event to its subscription's callback, signed; the answer to record.

    Raises `AdapterUnavailable` (retried) when the receiver did not take it, `NotSent` when the
    subscription is gone, suspended, or its owner's account is no longer active."""
    subscription = (
        EventSubscription.objects.select_related("owner").filter(pk=call.subscription_id).first()
    )
    if subscription is None:
        raise NotSent("Not sent: the subscription was deleted.")
    if subscription.status != SubscriptionStatus.ACTIVE:
        raise NotSent(f"Not sent: the subscription is {subscription.status}.")
    if not subscription.owner.is_active:
        raise NotSent("Not sent: the subscriber's account is deactivated.")
    event = call.request or {}
    if event.get("eventType") not in EVENT_TYPES or not event.get("eventId"):
        raise NotSent("Not sent: the row holds no event.")
    posted = _sender().post(
        subscription.callback,
        body_bytes(event),
        secret=subscription.secret,
        event_id=event["eventId"],
        event_type=event["eventType"],
    )
    return {"sent": True, "status": posted.status}


def max_attempts() -> int:
    return settings.TIER2_HUB_MAX_ATTEMPTS


def backoff() -> SimpleNamespace:
    """The retry backoff of deliveries, in the shape `tasks.retry_countdown` reads from a task."""
    return SimpleNamespace(
        retry_backoff=settings.TIER2_HUB_RETRY_BACKOFF_SECONDS,
        retry_backoff_max=settings.TIER2_HUB_RETRY_BACKOFF_MAX_SECONDS,
        retry_jitter=settings.TIER2_ADAPTER_RETRY_JITTER,
    )


# How often a success is written on its subscription at most (a busy subscription's row is not
# locked by every delivery); a success after failures is always written.
SUCCESS_WRITTEN_EVERY = timedelta(seconds=60)


def record_outcome(call: AdapterCall) -> None:
    """Keep the subscription's health in step with the attempt just recorded on `call` (called
    inside the transaction that records it): a success clears the failures in a row, a failure
    that spent every retry adds one and, at `TIER2_HUB_SUSPEND_AFTER`, suspends it; a failed
    attempt still to be retried shows its error."""
    now = timezone.now()
    subscription = EventSubscription.objects.filter(pk=call.subscription_id)
    if call.status == CallStatus.SUCCEEDED:
        subscription.filter(
            Q(consecutive_failures__gt=0)
            | Q(last_success_at__isnull=True)
            | Q(last_success_at__lt=now - SUCCESS_WRITTEN_EVERY)
        ).update(consecutive_failures=0, last_success_at=now)
    elif call.status == CallStatus.PENDING:
        subscription.update(last_error=call.error[:2000], last_failure_at=now)
    elif call.status == CallStatus.FAILED and (call.response or {}).get("sent") is not False:
        subscription.update(
            consecutive_failures=F("consecutive_failures") + 1,
            last_error=call.error[:2000],
            last_failure_at=now,
        )
        suspended = subscription.filter(
            status=SubscriptionStatus.ACTIVE,
            consecutive_failures__gte=settings.TIER2_HUB_SUSPEND_AFTER,
        ).update(status=SubscriptionStatus.SUSPENDED, suspended_at=now)
        if suspended:
            log.warning(
                "event subscription %s suspended after %s failed deliveries in a row",
                call.subscription_id,
                settings.TIER2_HUB_SUSPEND_AFTER,
            )


# --- What administrators do ------------------------------------------------------------------
def reactivate(subscription_ids) -> int:
    """Make suspended subscriptions active again, their failure count cleared. Deliveries that
    failed stay failed (send them again with `send_again`); new changes are queued again."""
    count = EventSubscription.objects.filter(
        pk__in=list(subscription_ids), status=SubscriptionStatus.SUSPENDED
    ).update(status=SubscriptionStatus.ACTIVE, consecutive_failures=0, suspended_at=None)
    forget_subscriptions()
    return count


def send_again(call_ids) -> int:
    """Send failed deliveries again (same event, same eventId), each with a fresh retry budget.
    Only deliveries of active subscriptions: the others would fail as not sent again."""
    from django.db import transaction

    with transaction.atomic():
        calls = list(
            AdapterCall.objects.select_for_update(of=("self",))
            .filter(
                pk__in=list(call_ids),
                app=APP,
                status=CallStatus.FAILED,
                subscription__status=SubscriptionStatus.ACTIVE,
            )
            .order_by("pk")
        )
        for call in calls:
            call.response = None  # a "not sent" mark no longer holds
            call.save(update_fields=["response"])
            outbox.reopen(call)
    return len(calls)
