"""The transactional outbox: external calls are rows first, Celery messages second.

A service writes `AdapterCall` rows in the same transaction as the state change that causes
them; after commit they are sent to Celery. Every message published for a row is recorded on it
(`last_sent_at`, `due_at`, `send_count`), and a delivery runs the call only if it *claims* the
row (`claim`: a compare-and-set to `running` with a lease), so a call runs once at a time however
many messages name it.

The periodic sweep (`redispatch_stale`, from the `redispatch_outbox` task) sends a call again
only when no message for it can still be on its way:

- it was never sent, or the broker refused its last message (`last_sent_at` empty), and the grace
  time `TIER2_OUTBOX_REDISPATCH_AFTER_SECONDS` has passed since it was created or due;
- it is `running` past its lease (the worker running it died), and no message has been sent for
  it since the lease ran out, or the one sent was lost;
- it is `pending`, its message was due more than the grace time ago, and the queue has been
  delivered past that message: a probe published after it has already come out of the queue
  (`send_probe`, `OutboxProbe`). A message merely waiting behind a backlog, or in a broker that
  is down, is therefore never duplicated, however long it waits.

Every decision to send is taken on the rows themselves (`select_for_update(skip_locked=True)` and
an update of `last_sent_at` before publishing), so two sweeps never send the same row twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from kombu.exceptions import OperationalError

from .models import AdapterCall, CallStatus, OutboxProbe

log = logging.getLogger(__name__)

SWEEP_BATCH = 5000  # rows one sweep sends at most; the next sweep sends the rest


def _key(log_entry_id: int, app: str, operation: str) -> str:
    """One key per transition and operation: replaying the transition's calls reuses it."""
    return f"t2-{log_entry_id}-{app}-{operation}"[:64]


def enqueue(*, calls, log_entry, ticket=None, incident=None) -> list[AdapterCall]:
    """Queue `calls` (flow `Call`s) caused by one transition of a ticket or incident."""
    rows = AdapterCall.objects.bulk_create(
        AdapterCall(
            ticket=ticket,
            incident=incident,
            log_entry=log_entry,
            app=call.app,
            operation=call.operation,
            idempotency_key=_key(log_entry.pk, call.app, call.operation),
        )
        for call in calls
    )
    dispatch_on_commit([row.pk for row in rows])
    return rows


def enqueue_request(
    *, app: str, operation: str, request: dict, idempotency_key: str, ticket=None, incident=None
) -> AdapterCall:
    """Queue one call whose request is composed now (a customer message): it is sent as written,
    whatever the ticket becomes before a worker runs it."""
    row = AdapterCall.objects.create(
        ticket=ticket,
        incident=incident,
        app=app,
        operation=operation,
        request=request,
        idempotency_key=idempotency_key[:64],
    )
    dispatch_on_commit([row.pk])
    return row


def enqueue_bulk(*, calls, log_entries) -> int:
    """Queue the same calls for many tickets at once (gamas fan-out), one per log entry."""
    rows = AdapterCall.objects.bulk_create(
        (
            AdapterCall(
                ticket_id=entry.ticket_id,
                log_entry=entry,
                app=call.app,
                operation=call.operation,
                idempotency_key=_key(entry.pk, call.app, call.operation),
            )
            for entry in log_entries
            for call in calls
        ),
        batch_size=1000,
    )
    dispatch_on_commit([row.pk for row in rows])
    return len(rows)


def dispatch_on_commit(call_ids: list[int]) -> None:
    if call_ids:
        transaction.on_commit(lambda: dispatch(call_ids))


def dispatch(call_ids: list[int]) -> int:
    """Send the calls to Celery now. A broker error leaves the unsent ones to the sweep."""
    return _send(call_ids)


def reopen(call: AdapterCall) -> None:
    """Give a failed call (locked by the caller) a fresh retry budget and send it after commit.

    The row keeps its idempotency key, so a write the application did receive before the failure
    is not done twice.
    """
    call.status = CallStatus.PENDING
    call.attempts = 0
    call.dispatched_at = call.finished_at = call.lease_until = call.last_sent_at = None
    call.due_at = timezone.now()  # sent after commit; the sweep waits its grace time first
    call.save(
        update_fields=[
            "status", "attempts", "dispatched_at", "finished_at", "lease_until", "last_sent_at",
            "due_at",
        ]
    )  # fmt: skip
    dispatch_on_commit([call.pk])


# --- Sending: every published message is recorded on its row ----------------------------------
def _now_value(now: datetime) -> Value:
    return Value(now, output_field=DateTimeField())


def _send(call_ids: list[int], *, only: Q | None = None) -> int:
    """Publish one message per call, in id order; return how many were published.

    The rows are marked sent before publishing, under a row lock that a concurrent sweep skips,
    and only those still matching `only` are sent. When the broker refuses a message, that row
    and the rest go back to "not sent" (`last_sent_at` empty), which is what the sweep looks for.
    """
    from .tasks import run_adapter_call

    if not call_ids:
        return 0
    now = timezone.now()
    with transaction.atomic():
        rows = AdapterCall.objects.filter(pk__in=call_ids)
        if only is not None:
            rows = rows.filter(only)
        ids = list(
            rows.select_for_update(skip_locked=True).order_by("pk").values_list("pk", flat=True)
        )
        AdapterCall.objects.filter(pk__in=ids).update(
            last_sent_at=now, due_at=now, send_count=F("send_count") + 1
        )
    sent: list[int] = []
    for call_id in ids:
        try:
            run_adapter_call.delay(call_id)
        except OperationalError:  # broker unreachable: the sweep sends the rest later
            break
        sent.append(call_id)
    unsent = ids[len(sent) :]
    if unsent:
        AdapterCall.objects.filter(pk__in=unsent, last_sent_at=now).update(
            last_sent_at=None, due_at=None, send_count=F("send_count") - 1
        )
    if sent:
        AdapterCall.objects.filter(pk__in=sent, dispatched_at__isnull=True).update(
            dispatched_at=now
        )
    return len(sent)


def record_sent(call_id: int, *, countdown: float = 0.0) -> None:
    """Record a message published for the call elsewhere (a Celery retry, `countdown` s away)."""
    now = timezone.now()
    AdapterCall.objects.filter(pk=call_id).update(
        last_sent_at=now,
        due_at=now + timedelta(seconds=countdown),
        send_count=F("send_count") + 1,
        dispatched_at=Coalesce(F("dispatched_at"), _now_value(now)),
    )


# --- Claiming: one delivery runs the call, the others are duplicates ---------------------------
def claim(call_id: int) -> int | None:
    """Take the call for this delivery: its attempt number, or None for a duplicate delivery.

    A compare-and-set: `pending` -> `running`, or `running` whose lease has run out (its worker
    died) -> `running` again, with a fresh lease and one more attempt. Exactly one of any number
    of concurrent deliveries gets the row; a finished call, or one running within its lease, is
    never run by another delivery.
    """
    now = timezone.now()
    lease = timedelta(seconds=settings.TIER2_OUTBOX_LEASE_SECONDS)
    with transaction.atomic():
        claimed = (
            AdapterCall.objects.filter(pk=call_id)
            .filter(
                Q(status=CallStatus.PENDING) | Q(status=CallStatus.RUNNING, lease_until__lt=now)
            )
            .update(
                status=CallStatus.RUNNING,
                lease_until=now + lease,
                attempts=F("attempts") + 1,
                dispatched_at=Coalesce(F("dispatched_at"), _now_value(now)),
            )
        )
        if claimed != 1:
            return None
        # Our UPDATE holds the row lock until commit: nobody changes `attempts` in between.
        return AdapterCall.objects.values_list("attempts", flat=True).get(pk=call_id)


# --- The sweep ---------------------------------------------------------------------------------
def _queue() -> str:
    from tier2.celery import app

    return app.conf.task_default_queue


def stale_calls(now: datetime | None = None) -> Q:
    """Rows the sweep sends again: no message for them can still be on its way (module doc)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.TIER2_OUTBOX_REDISPATCH_AFTER_SECONDS)
    unsent = Q(status=CallStatus.PENDING, last_sent_at__isnull=True) & (
        Q(due_at__isnull=True, created_at__lt=cutoff) | Q(due_at__lt=cutoff)
    )
    expired = Q(status=CallStatus.RUNNING, lease_until__lt=now) & (
        Q(last_sent_at__isnull=True) | Q(last_sent_at__lt=F("lease_until"))
    )
    stale = unsent | expired
    passed = (
        OutboxProbe.objects.filter(queue=_queue()).values_list("passed_until", flat=True).first()
    )
    if passed is not None:  # the queue has delivered every message published before `passed`
        lost = Q(last_sent_at__lt=passed, due_at__lt=cutoff)
        stale |= lost & (
            Q(status=CallStatus.PENDING) | Q(status=CallStatus.RUNNING, lease_until__lt=now)
        )
    return stale


def redispatch_stale() -> int:
    """Send again the calls whose message is missing or lost (never those still queued)."""
    now = timezone.now()
    stale = stale_calls(now)
    ids = list(
        AdapterCall.objects.filter(stale).order_by("pk").values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    sent = _send(ids, only=stale)
    if sent:
        log.info("outbox sweep: sent %s stale calls again", sent)
    return sent


def send_probe() -> bool:
    """Publish a probe behind every message queued so far, unless one is on its way already.

    A probe that has not come back within the grace time is sent again (it may have been lost
    with the broker's data); a queue behind a long backlog so gets one probe per grace time.
    """
    from .tasks import outbox_probe

    now = timezone.now()
    grace = timedelta(seconds=settings.TIER2_OUTBOX_REDISPATCH_AFTER_SECONDS)
    probe, _ = OutboxProbe.objects.get_or_create(queue=_queue())
    waiting = probe.sent_at is not None and (
        probe.passed_until is None or probe.passed_until < probe.sent_at
    )
    if waiting and probe.sent_at > now - grace:
        return False
    OutboxProbe.objects.filter(pk=probe.pk).update(sent_at=now)
    try:
        outbox_probe.delay(now.isoformat())
    except OperationalError:
        OutboxProbe.objects.filter(pk=probe.pk, sent_at=now).update(sent_at=probe.sent_at)
        return False
    return True


def probe_passed(sent_at: datetime) -> None:
    """A probe sent at `sent_at` came out of the queue: everything sent before it has, too."""
    OutboxProbe.objects.filter(queue=_queue()).filter(
        Q(passed_until__isnull=True) | Q(passed_until__lt=sent_at)
    ).update(passed_until=sent_at, passed_at=timezone.now())
