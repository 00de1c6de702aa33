"""Monthly partitions of the two logs that grow with every ticket: the transition log
(`tickets_transitionlog`) and the adapter calls (`integrations_adaptercall`). docs/partitions.md.

On PostgreSQL both are declaratively partitioned by RANGE on `month`, the first day of a month
(Asia/Jakarta): a ticket's whole history (its log entries and the calls they caused) carries the
ticket's arrival month, so reading it with that month touches one partition of each table. A
table has one partition per month, named `<table>_y2026m11`, and a DEFAULT partition
(`<table>_default`) that catches a row whose month has no partition yet, so no write ever fails
for want of one; `ensure_months` later moves such rows into their month's new partition.

PostgreSQL requires the partition key in every unique index: the primary key is (id, month)
(Django keeps addressing rows by id, which the identity sequence keeps unique) and nothing may
hold a foreign key to a partitioned table. SQLite keeps plain tables with the same columns.

This module holds the mechanism only (names, DDL, the partition-key field); which months to
create and which to detach is `tickets.services.log_partitions`.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from django.db import models, transaction
from django.utils import timezone
from psycopg2 import sql

_MONTH_SUFFIX = re.compile(r"_y(\d{4})m(\d{2})$")


# --- Months ---------------------------------------------------------------------------------
def month_start(moment: datetime) -> date:
    """The first day of `moment`'s month in the console's time zone (settings.TIME_ZONE)."""
    return timezone.localtime(moment).date().replace(day=1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


class PartitionMonthField(models.DateField):
    """The partition key. Left empty, it is filled on insert (save and bulk_create alike) by
    the row's `partition_month()`, and never changes afterwards."""

    def pre_save(self, model_instance, add):
        value = getattr(model_instance, self.attname)
        if value is None and add:
            value = model_instance.partition_month()
            setattr(model_instance, self.attname, value)
        return value


class TicketHistoryQuerySet(models.QuerySet):
    """Rows of a partitioned log (they all have `ticket` and `month`)."""

    def of_ticket(self, ticket):
        """The ticket's rows, read from its arrival month's partition only."""
        return self.filter(ticket=ticket, month=ticket.log_month)


# --- Names and catalogue ----------------------------------------------------------------------
def partition_name(table: str, month: date) -> str:
    return f"{table}_y{month.year:04d}m{month.month:02d}"


def default_name(table: str) -> str:
    return f"{table}_default"


def is_partitioned(connection, table: str) -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [table]
        )
        return cursor.fetchone() is not None


def attached_months(connection, table: str) -> list[date]:
    """The months that have a partition of their own, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = to_regclass(%s)",
            [table],
        )
        names = [name for (name,) in cursor.fetchall()]
    months = []
    for name in names:
        found = _MONTH_SUFFIX.search(name)
        if found and name == partition_name(table, date(int(found[1]), int(found[2]), 1)):
            months.append(date(int(found[1]), int(found[2]), 1))
    return sorted(months)


def months_in_default(connection, table: str) -> list[date]:
    """Months of the rows waiting in the DEFAULT partition for a partition of their own."""
    with connection.cursor() as cursor:
        cursor.execute(_sql("SELECT DISTINCT month FROM {} ORDER BY month", default_name(table)))
        return [month for (month,) in cursor.fetchall()]


def partition_of_row(connection, table: str, pk: int) -> str:
    """The partition a row is stored in (for tests and the command's report)."""
    with connection.cursor() as cursor:
        cursor.execute(_sql("SELECT tableoid::regclass::text FROM {} WHERE id = %s", table), [pk])
        row = cursor.fetchone()
    return row[0] if row else ""


def _sql(template: str, *names: str) -> sql.Composed:
    """A statement with table and constraint names quoted as identifiers."""
    return sql.SQL(template).format(*(sql.Identifier(name) for name in names))


# --- Creating and detaching -------------------------------------------------------------------
def create_month(connection, table: str, month: date) -> None:
    """Give `month` its partition, moving its rows out of the DEFAULT partition first.

    The new table is filled while still standalone and then attached, in one transaction:
    ATTACH takes a lighter lock on the parent than CREATE ... PARTITION OF, and it refuses to
    run while the DEFAULT partition still holds a row of the month, so no row can be lost or
    routed twice.
    """
    name, end = partition_name(table, month), add_months(month, 1)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        like = "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        cursor.execute(_sql(like, name, table))
        cursor.execute(
            _sql("ALTER TABLE {} ADD CONSTRAINT {} CHECK (month >= %s AND month < %s)",
                 name, f"{name}_bound"),
            [month, end],
        )  # fmt: skip
        cursor.execute(
            _sql("WITH moved AS (DELETE FROM {} WHERE month >= %s AND month < %s RETURNING *)"
                 " INSERT INTO {} SELECT * FROM moved", default_name(table), name),
            [month, end],
        )  # fmt: skip
        cursor.execute(
            _sql("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM (%s) TO (%s)", table, name),
            [month, end],
        )
        # The CHECK spared ATTACH a scan of the new table; the bound now does its work.
        cursor.execute(_sql("ALTER TABLE {} DROP CONSTRAINT {}", name, f"{name}_bound"))


def ensure_months(connection, table: str, months) -> list[date]:
    """Create the partitions of `months` that `table` lacks (`create_month`); returns those."""
    missing = sorted(set(months) - set(attached_months(connection, table)))
    for month in missing:
        create_month(connection, table, month)
    return missing


def detach_month(connection, table: str, month: date, *, on: date) -> str:
    """Detach `month`'s partition: its rows leave the table (and every query of the console)
    and stay, unchanged, in a standalone table renamed `<partition>_archived_<on, YYYYMMDD>`
    (so a later partition of the same month never clashes with it), to dump and drop.
    Returns that name."""
    name = partition_name(table, month)
    archived = f"{name}_archived_{on:%Y%m%d}"
    with connection.cursor() as cursor:
        cursor.execute(_sql("ALTER TABLE {} DETACH PARTITION {}", table, name))
        cursor.execute(_sql("ALTER TABLE {} RENAME TO {}", name, archived))
    return archived


# --- Turning a plain table into a partitioned one (a migration's step) ------------------------
def partition_table(schema_editor, table: str, *, months_ahead: int) -> None:
    """Rebuild the plain `table` as a table partitioned by month, on PostgreSQL (elsewhere
    nothing happens): the same columns, rows, ids, constraints and indexes, the primary key
    widened to (id, month), a partition for every month its rows hold and for this month and
    `months_ahead` more, and the DEFAULT partition. Refused while another table holds a foreign
    key to it."""
    connection = schema_editor.connection
    if connection.vendor == "postgresql" and not is_partitioned(connection, table):
        _rebuild(connection, table, months_ahead=months_ahead)


def unpartition_table(schema_editor, table: str) -> None:
    """The reverse of `partition_table` (a migration undone): the rows of the attached
    partitions back in one plain table, with its primary key on `id` alone."""
    connection = schema_editor.connection
    if connection.vendor == "postgresql" and is_partitioned(connection, table):
        _rebuild(connection, table, months_ahead=None)


def _rebuild(connection, table: str, *, months_ahead: int | None) -> None:
    """Copy `table` into a new one, partitioned by month unless `months_ahead` is None, and
    put it in its place with the old one's constraints and indexes."""
    partitioned = months_ahead is not None
    with connection.cursor() as cursor:
        # Checks deferred to the commit (rows written earlier in this transaction) run now: a
        # table with pending trigger events cannot be dropped.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "SELECT conrelid::regclass::text FROM pg_constraint"
            " WHERE contype = 'f' AND confrelid = to_regclass(%s)",
            [table],
        )
        holders = [name for (name,) in cursor.fetchall()]
        if holders and partitioned:
            raise RuntimeError(f"{table} cannot be partitioned: {holders} hold foreign keys to it")
        cursor.execute(
            "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = to_regclass(%s) AND contype IN ('p', 'u', 'f')"
            " ORDER BY contype, conname",
            [table],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexdef FROM pg_indexes i WHERE i.schemaname = current_schema()"
            " AND i.tablename = %s AND NOT EXISTS (SELECT 1 FROM pg_constraint c"
            " WHERE c.conrelid = to_regclass(%s) AND c.conname = i.indexname)",
            [table, table],
        )
        indexes = [definition for (definition,) in cursor.fetchall()]

        staging = f"{table}__rebuilt"
        like = (
            "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY)"
        )
        if partitioned:
            cursor.execute(_sql("SELECT DISTINCT month FROM {}", table))
            months = {month for (month,) in cursor.fetchall()}
            this_month = month_start(timezone.now())
            months.update(add_months(this_month, step) for step in range(months_ahead + 1))
            cursor.execute(_sql(like + " PARTITION BY RANGE (month)", staging, table))
            cursor.execute(
                _sql("CREATE TABLE {} PARTITION OF {} DEFAULT", default_name(table), staging)
            )
            for month in sorted(months):
                cursor.execute(
                    _sql("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM (%s) TO (%s)",
                         partition_name(table, month), staging),
                    [month, add_months(month, 1)],
                )  # fmt: skip
        else:
            cursor.execute(_sql(like, staging, table))
        cursor.execute(_sql("INSERT INTO {} SELECT * FROM {}", staging, table))
        cursor.execute(
            _sql("SELECT setval(pg_get_serial_sequence(%s, 'id'),"
                 " coalesce((SELECT max(id) FROM {}), 0) + 1, false)", staging),
            [staging],
        )  # fmt: skip
        cursor.execute(_sql("DROP TABLE {}", table))  # and its partitions; archives stay
        cursor.execute(_sql("ALTER TABLE {} RENAME TO {}", staging, table))
        for name, kind, definition in constraints:
            if kind == "p":
                definition = "PRIMARY KEY (id, month)" if partitioned else "PRIMARY KEY (id)"
            # The definition is PostgreSQL's own text, read from its catalogue just above.
            cursor.execute(
                _sql("ALTER TABLE {} ADD CONSTRAINT {} ", table, name) + sql.SQL(definition)
            )
        for definition in indexes:  # PostgreSQL's own CREATE INDEX text, as read above
            cursor.execute(definition)
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
