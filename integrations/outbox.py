"""The transactional outbox: external calls are rows first, Celery messages second.

A service writes `AdapterCall` rows in the same transaction as the state change that causes
them; after commit they are sent to Celery. If the broker is down the rows stay `pending` and
the periodic `redispatch_outbox` task sends them again, so a broker outage delays calls but
loses none. The task that runs a call is idempotent on the row, so a row sent twice runs once.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import OperationalError

from .models import AdapterCall, CallStatus


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
    """Send the calls to Celery. A broker error leaves them pending for the redispatch sweep."""
    from .tasks import run_adapter_call

    sent = []
    for call_id in call_ids:
        try:
            run_adapter_call.delay(call_id)
        except OperationalError:  # broker unreachable: the sweep sends the rest later
            break
        sent.append(call_id)
    if sent:
        AdapterCall.objects.filter(pk__in=sent, dispatched_at__isnull=True).update(
            dispatched_at=timezone.now()
        )
    return len(sent)


def redispatch_stale() -> int:
    """Send again every call still pending (never sent, or sent and lost) after a grace time."""
    cutoff = timezone.now() - timedelta(seconds=settings.TIER2_OUTBOX_REDISPATCH_AFTER_SECONDS)
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    stuck = timezone.now() - timedelta(seconds=visibility)
    stale = AdapterCall.objects.filter(
        Q(status=CallStatus.PENDING, created_at__lt=cutoff)
        & (Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=cutoff))
        | Q(status=CallStatus.RUNNING, dispatched_at__lt=stuck)
    )
    ids = list(stale.order_by("pk").values_list("pk", flat=True)[:5000])
    return dispatch(ids)
