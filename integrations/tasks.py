"""Celery tasks that talk to the external applications. Tasks take ids and re-read rows.

`run_adapter_call` runs one outbox row: it is safe to deliver twice (a finished row is not run
again; a write carries the row's idempotency key, so the external side does it once), retries
transient failures with exponential backoff, and records every attempt on the row.
"""

from __future__ import annotations

import logging
import time

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import outbox
from .adapters import AdapterRejected, AdapterUnavailable, get_adapter, to_jsonable
from .calls import SPECS
from .models import AdapterCall, CallStatus
from .signals import answer_received

log = logging.getLogger(__name__)


def _backoff_seconds(attempt: int) -> float:
    return settings.TIER2_ADAPTER_RETRY_BACKOFF_SECONDS * (2 ** (attempt - 1))


def _finish(call_id: int, *, status: str, response=None, error: str = "", duration_ms=None):
    """Record the outcome on the call row and, on success, its effect on the ticket."""
    with transaction.atomic():
        call = AdapterCall.objects.select_for_update().get(pk=call_id)
        if call.status == CallStatus.SUCCEEDED:
            return call  # a twin delivery finished first; its effect is already recorded
        call.status, call.error, call.duration_ms = status, error[:2000], duration_ms
        if status in (CallStatus.SUCCEEDED, CallStatus.FAILED):
            call.finished_at = timezone.now()
        if response is not None:
            call.response = response
        call.save(update_fields=["status", "error", "duration_ms", "finished_at", "response"])
        if status == CallStatus.SUCCEEDED and call.ticket_id:
            # The ticket side records what the answer means (through its services).
            answer_received.send(sender=AdapterCall, call=call, response=response)
        return call


@shared_task(bind=True, acks_late=True, max_retries=None)
def run_adapter_call(self, call_id: int) -> str:
    with transaction.atomic():
        call = (
            AdapterCall.objects.select_for_update(of=("self",))
            .select_related("ticket__service", "ticket__assignee", "log_entry")
            .filter(pk=call_id)
            .first()
        )
        if call is None or call.status in (CallStatus.SUCCEEDED, CallStatus.FAILED):
            return call.status if call else "missing"
        call.status = CallStatus.RUNNING
        call.attempts += 1
        call.dispatched_at = call.dispatched_at or timezone.now()
        call.save(update_fields=["status", "attempts", "dispatched_at"])
    spec = SPECS.get((call.app, call.operation))
    started = time.monotonic()
    try:
        if spec is None:
            raise AdapterRejected(f"No mapping for {call.app}.{call.operation}.")
        request = spec.request(call.ticket, call)
        AdapterCall.objects.filter(pk=call_id).update(request=request)
        arguments = {**request, "idempotency_key": call.idempotency_key} if spec.writes else request
        answer = getattr(get_adapter(call.app), call.operation)(**arguments)
    except AdapterUnavailable as problem:
        elapsed = int((time.monotonic() - started) * 1000)
        if call.attempts < settings.TIER2_ADAPTER_MAX_RETRIES:
            _finish(call_id, status=CallStatus.PENDING, error=str(problem), duration_ms=elapsed)
            raise self.retry(countdown=_backoff_seconds(call.attempts), exc=problem) from problem
        _finish(call_id, status=CallStatus.FAILED, error=str(problem), duration_ms=elapsed)
        return CallStatus.FAILED
    except AdapterRejected as problem:
        elapsed = int((time.monotonic() - started) * 1000)
        _finish(call_id, status=CallStatus.FAILED, error=str(problem), duration_ms=elapsed)
        return CallStatus.FAILED
    elapsed = int((time.monotonic() - started) * 1000)
    _finish(call_id, status=CallStatus.SUCCEEDED, response=to_jsonable(answer), duration_ms=elapsed)
    return CallStatus.SUCCEEDED


@shared_task
def redispatch_outbox() -> int:
    """Send again the outbox rows that were never delivered (broker outage, lost worker)."""
    return outbox.redispatch_stale()
