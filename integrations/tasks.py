"""Celery tasks that talk to the external applications. Tasks take ids and re-read rows.

`run_adapter_call` runs one outbox row, exactly once at a time however often it is delivered:

- it first *claims* the row (`outbox.claim`, a compare-and-set to `running` with a lease); a
  delivery that cannot claim it (the call is finished, or running within its lease) is a
  duplicate and returns without calling anything;
- a write carries the row's idempotency key, so a repeat after a lost reply or a killed worker
  is applied once by the external application;
- a transient failure (`AdapterUnavailable`) gives the row back as `pending` and retries with
  Celery's exponential backoff (`retry_backoff`, `retry_backoff_max`, `retry_jitter`), up to
  `TIER2_ADAPTER_MAX_RETRIES` attempts; the retry's message is recorded on the row like any
  other;
- the outcome is recorded only by the delivery that still holds the claim, except a success,
  which is always recorded (once: a finished call is never recorded again).

The same task delivers TMF621 events to subscribers (rows of app `hub`, `integrations.hub`):
the row's request is the event, POSTed signed to the subscription's callback, with the hub's
own retry budget and backoff (`TIER2_HUB_*`); each outcome also updates the subscription's
health (failures in a row, suspension) in the transaction that records it.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from tickets import metrics

from . import hub, outbox
from .adapters import AdapterRejected, AdapterUnavailable, get_adapter, to_jsonable
from .calls import SPECS
from .models import AdapterCall, CallStatus
from .signals import answer_received, call_finished

log = logging.getLogger(__name__)


def retry_countdown(task, attempt: int) -> float:
    """Seconds before retrying after failed attempt number `attempt` (1 for the first).

    Celery's own backoff (`get_exponential_backoff_interval`, as `autoretry_for` uses it) from
    the task's `retry_backoff`, `retry_backoff_max` and `retry_jitter`, computed in milliseconds
    so that sub-second settings work. It stays below the broker's visibility timeout: Redis
    would otherwise hand the waiting retry to a second worker.
    """
    milliseconds = get_exponential_backoff_interval(
        factor=round(task.retry_backoff * 1000),
        retries=attempt - 1,
        maximum=round(task.retry_backoff_max * 1000),
        full_jitter=task.retry_jitter,
    )
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    return min(milliseconds / 1000, visibility / 2)


def _finish(
    call_id: int,
    attempt: int,
    *,
    status: str,
    response=None,
    error: str = "",
    duration_ms=None,
    retry_in: float | None = None,
):
    """Record the outcome of attempt `attempt`; on success, its effect on the ticket.

    Returns the row, or None when nothing was recorded: the call had succeeded already (a twin
    delivery's effect is recorded), or, for anything but a success, another delivery has taken
    the call over since this attempt's lease ran out (its outcome is the one that counts).
    """
    with transaction.atomic():
        call = AdapterCall.objects.select_for_update().get(pk=call_id)
        if call.status == CallStatus.SUCCEEDED:
            return None
        owner = call.status == CallStatus.RUNNING and call.attempts == attempt
        if status != CallStatus.SUCCEEDED and not owner:
            return None
        now = timezone.now()
        call.status, call.error, call.duration_ms = status, error[:2000], duration_ms
        call.lease_until = None
        fields = ["status", "error", "duration_ms", "lease_until"]
        if status in (CallStatus.SUCCEEDED, CallStatus.FAILED):
            call.finished_at = now
            fields.append("finished_at")
        if status == CallStatus.PENDING:  # a retry is about to be sent: none is on its way yet
            call.last_sent_at = None
            call.due_at = now + timedelta(seconds=retry_in or 0)
            fields += ["last_sent_at", "due_at"]
        if response is not None:
            call.response = response
            fields.append("response")
        call.save(update_fields=fields)
        if call.subscription_id is not None:  # an event delivery: its subscription's health
            hub.record_outcome(call)
        if status == CallStatus.SUCCEEDED and call.ticket_id:
            # The ticket side records what the answer means (through its services).
            answer_received.send(sender=AdapterCall, call=call, response=response)
        if status in (CallStatus.SUCCEEDED, CallStatus.FAILED):
            call_finished.send(sender=AdapterCall, call=call)
    metrics.adapter_call_finished(call.app, status)  # committed: each outcome counted once
    return call


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # the row counts the attempts (TIER2_ADAPTER_MAX_RETRIES)
    retry_backoff=settings.TIER2_ADAPTER_RETRY_BACKOFF_SECONDS,
    retry_backoff_max=settings.TIER2_ADAPTER_RETRY_BACKOFF_MAX_SECONDS,
    retry_jitter=settings.TIER2_ADAPTER_RETRY_JITTER,
)
def run_adapter_call(self, call_id: int) -> str:
    attempt = outbox.claim(call_id)
    if attempt is None:
        status = AdapterCall.objects.filter(pk=call_id).values_list("status", flat=True).first()
        log.info("adapter call %s: duplicate delivery, not run (%s)", call_id, status or "missing")
        return status or "missing"
    call = AdapterCall.objects.select_related(
        "ticket__service", "ticket__assignee", "log_entry"
    ).get(pk=call_id)
    event = call.app == hub.APP  # a TMF621 event to a subscriber: its body is the row's request
    spec = SPECS.get((call.app, call.operation))
    started = time.monotonic()
    try:
        if event:
            answer = hub.deliver(call)
        else:
            if spec is None:
                raise AdapterRejected(f"No mapping for {call.app}.{call.operation}.")
            request = spec.request(call.ticket, call)
            AdapterCall.objects.filter(pk=call_id).update(request=request)
            writes = spec.writes
            arguments = {**request, "idempotency_key": call.idempotency_key} if writes else request
            answer = getattr(get_adapter(call.app), call.operation)(**arguments)
    except AdapterUnavailable as problem:
        elapsed = int((time.monotonic() - started) * 1000)
        error = str(problem)
        last = hub.max_attempts() if event else settings.TIER2_ADAPTER_MAX_RETRIES
        if attempt >= last:
            _finish(call_id, attempt, status=CallStatus.FAILED, error=error, duration_ms=elapsed)
            return CallStatus.FAILED
        countdown = retry_countdown(hub.backoff() if event else self, attempt)
        released = _finish(
            call_id,
            attempt,
            status=CallStatus.PENDING,
            error=error,
            duration_ms=elapsed,
            retry_in=countdown,
        )
        if released is None:
            return CallStatus.RUNNING  # another delivery has finished or taken over the call
        # Published after the row is pending again, so the retry can claim it. If the broker
        # refuses it, Celery raises Reject and the sweep sends the call once the retry is due.
        retry = self.retry(countdown=countdown, exc=problem, throw=False)
        outbox.record_sent(call_id, countdown=countdown)
        raise retry from problem
    except AdapterRejected as problem:
        elapsed = int((time.monotonic() - started) * 1000)
        _finish(
            call_id,
            attempt,
            status=CallStatus.FAILED,
            error=str(problem),
            duration_ms=elapsed,
            response=problem.response if isinstance(problem, hub.NotSent) else None,
        )
        return CallStatus.FAILED
    except Exception as problem:  # a bug: fail the call (it can be retried) rather than leave
        # it running, to be run again after every lease; the worker logs the error
        error = f"{type(problem).__name__}: {problem}"
        _finish(call_id, attempt, status=CallStatus.FAILED, error=error)
        raise
    elapsed = int((time.monotonic() - started) * 1000)
    _finish(
        call_id,
        attempt,
        status=CallStatus.SUCCEEDED,
        response=to_jsonable(answer),
        duration_ms=elapsed,
    )
    return CallStatus.SUCCEEDED


@shared_task(ignore_result=True)
def outbox_probe(sent_at: str) -> None:
    """The sweep's probe came out of the queue: every message published before it has too."""
    outbox.probe_passed(parse_datetime(sent_at))


@shared_task
def redispatch_outbox() -> int:
    """Send again the outbox calls whose message is missing or lost (broker outage, lost
    worker), and probe how far the queue has been delivered for the next sweep."""
    outbox.send_probe()
    return outbox.redispatch_stale()
