"""The logs' monthly partitions kept ready, and old months detached for archive (daily job,
`manage.py log_partitions`). The mechanism is tier2/partitions.py; docs/partitions.md.

Every day, for the transition log and the adapter calls:
- this month and the next TIER2_LOG_PARTITIONS_AHEAD have a partition;
- a month whose rows wait in the DEFAULT partition (a ticket that arrived in a month with no
  partition: an import of old records, a clock set back) gets its partition and its rows;
- with TIER2_LOG_ARCHIVE_MONTHS set, an arrival month older than that many months is detached
  from both tables once every ticket that arrived in it is closed and the anonymisation has
  left nothing personal in its rows: they then leave the console's queries and wait, unchanged,
  in standalone tables for the database administrator to dump and drop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from integrations.models import AdapterCall
from tier2 import partitions
from tier2.replica import PRIMARY

from ..models import Ticket, TransitionLog
from . import privacy

log = logging.getLogger(__name__)

MODELS = {model._meta.db_table: model for model in (TransitionLog, AdapterCall)}


def partitioned_tables(connection) -> list[str]:
    """The log tables partitioned in this database (none on SQLite)."""
    return [table for table in MODELS if partitions.is_partitioned(connection, table)]


@dataclass
class Report:
    created: list[tuple[str, date]] = field(default_factory=list)
    detached: list[str] = field(default_factory=list)
    kept: list[tuple[date, str]] = field(default_factory=list)  # old months not detached, why


def _local_midnight(month: date) -> datetime:
    return timezone.make_aware(datetime.combine(month, time.min))


def _archive_refusal(month: date) -> str:
    """Why `month` may not be detached yet ("" when it may)."""
    arrived = Ticket.objects.filter(
        created_at__gte=_local_midnight(month),
        created_at__lt=_local_midnight(partitions.add_months(month, 1)),
    )
    if arrived.filter(closed_at__isnull=True).exists():
        return "a ticket that arrived in it is still open"
    for model in MODELS.values():
        if model.objects.filter(month=month).filter(privacy.personal_data_left(model)).exists():
            return "personal data in it is not anonymised yet"
    return ""


def maintain(*, now: datetime | None = None) -> Report:
    """Create the partitions due and detach the months due (see the module's docstring).
    Nothing happens on a database without partitions (SQLite)."""
    connection = connections[PRIMARY]
    report = Report()
    tables = partitioned_tables(connection)
    if not tables:
        return report
    now = now or timezone.now()
    this_month = partitions.month_start(now)
    ahead = {
        partitions.add_months(this_month, step)
        for step in range(settings.TIER2_LOG_PARTITIONS_AHEAD + 1)
    }
    for table in tables:
        waiting = set(partitions.months_in_default(connection, table))
        for month in partitions.ensure_months(connection, table, ahead | waiting):
            report.created.append((table, month))
            log.info("log partition created", extra={"table": table, "month": str(month)})
    keep = settings.TIER2_LOG_ARCHIVE_MONTHS
    if not keep:
        return report
    oldest_kept = partitions.add_months(this_month, -keep)
    attached = {table: set(partitions.attached_months(connection, table)) for table in tables}
    old = sorted({month for months in attached.values() for month in months} - ahead)
    for month in (m for m in old if m < oldest_kept):
        with transaction.atomic(using=PRIMARY):
            refusal = _archive_refusal(month)
            if refusal:
                report.kept.append((month, refusal))
                continue
            for table in tables:
                if month in attached[table]:
                    name = partitions.detach_month(
                        connection, table, month, on=timezone.localdate(now)
                    )
                    report.detached.append(name)
                    log.info("log partition detached for archive", extra={"table": name})
    return report
