"""The logs partitioned by month (tier2/partitions.py, tickets/services/log_partitions.py,
docs/partitions.md).

Expected months are worked by hand in Asia/Jakarta (UTC+7, no daylight saving): a ticket that
arrives at 2026-01-31 20:00 UTC arrives at 03:00 on 1 February in Jakarta, so its history is
February's. The PostgreSQL tests run inside the test's transaction: the partitions they create
or detach are rolled back with it (PostgreSQL's DDL is transactional).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from integrations.models import AdapterCall
from tests import factories
from tickets import selectors
from tickets.models import Ticket, TransitionLog
from tickets.services import log_partitions
from tickets.tasks import maintain_log_partitions
from tier2 import partitions

postgres = pytest.mark.postgres
LOG_TABLES = ("tickets_transitionlog", "integrations_adaptercall")  # the two partitioned


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def ticket_arrived(moment: str, **fields) -> Ticket:
    return factories.arrive("nossa", reported_at=at(moment), **fields)


# --- Months, by hand -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("moment", "month"),
    [
        ("2026-01-31T16:59:59", date(2026, 1, 1)),  # 23:59:59 on 31 January in Jakarta
        ("2026-01-31T17:00:00", date(2026, 2, 1)),  # midnight, 1 February in Jakarta
        ("2026-01-31T20:00:00", date(2026, 2, 1)),
        ("2025-12-31T18:30:00", date(2026, 1, 1)),  # new year in Jakarta, not yet in UTC
        ("2026-11-15T04:00:00", date(2026, 11, 1)),
    ],
)
def test_a_month_is_the_jakarta_calendar_month(moment, month):
    assert partitions.month_start(at(moment)) == month


@pytest.mark.parametrize(
    ("month", "count", "expected"),
    [
        (date(2026, 11, 1), 3, date(2027, 2, 1)),
        (date(2026, 1, 1), -1, date(2025, 12, 1)),
        (date(2026, 12, 1), -14, date(2025, 10, 1)),
        (date(2026, 12, 1), 0, date(2026, 12, 1)),
    ],
)
def test_months_are_added_across_years(month, count, expected):
    assert partitions.add_months(month, count) == expected


def test_partition_names_follow_the_table_and_the_month():
    assert partitions.partition_name("tickets_transitionlog", date(2025, 3, 1)) == (
        "tickets_transitionlog_y2025m03"
    )
    assert partitions.default_name("integrations_adaptercall") == "integrations_adaptercall_default"


# --- Every row gets its ticket's month, however it is written ---------------------------------
@pytest.mark.django_db
def test_a_tickets_log_and_calls_carry_its_arrival_month():
    ticket = ticket_arrived("2026-01-31T20:00:00")
    # written later, in March (UTC and Jakarta alike), by each path the console uses
    later = at("2026-03-05T09:00:00")
    single = TransitionLog.objects.create(
        ticket=ticket, at=later, transition="claim", from_state="new", to_state="new"
    )
    (bulk,) = TransitionLog.objects.bulk_create(
        [TransitionLog(ticket=ticket, at=later, transition="x", from_state="a", to_state="a")]
    )
    by_id = TransitionLog.objects.create(
        ticket_id=ticket.pk, at=later, transition="y", from_state="a", to_state="a"
    )
    call = AdapterCall.objects.create(
        ticket=ticket, log_entry=single, app="nossa", operation="update", idempotency_key="k-1"
    )
    bare = AdapterCall.objects.create(
        ticket=ticket, app="sms", operation="send", idempotency_key="k-2", created_at=later
    )
    february = date(2026, 2, 1)
    assert [single.month, bulk.month, by_id.month, call.month, bare.month] == [february] * 5
    assert set(TransitionLog.objects.filter(ticket=ticket).values_list("month", flat=True)) == {
        february
    }


@pytest.mark.django_db
def test_rows_of_no_ticket_take_their_incident_or_their_own_month():
    incident = factories.open_gamas()
    incident.opened_at = at("2026-04-30T17:30:00")  # 1 May, 00:30 in Jakarta
    incident.save(update_fields=["opened_at"])
    entry = TransitionLog.objects.create(
        incident=incident, at=at("2026-06-02T00:00:00"), transition="note", from_state="open",
        to_state="open",
    )  # fmt: skip
    lone = TransitionLog.objects.create(
        at=at("2026-06-30T17:00:00"), transition="z", from_state="", to_state=""
    )
    hub = AdapterCall.objects.create(
        app="hub", operation="notify", idempotency_key="hub-1", created_at=at("2026-07-01T01:00:00")
    )
    assert entry.month == date(2026, 5, 1)
    assert lone.month == date(2026, 7, 1)  # 1 July, midnight in Jakarta
    assert hub.month == date(2026, 7, 1)


@pytest.mark.django_db
def test_an_idempotency_key_still_admits_one_call():
    """Unique with the month, and one key belongs to one ticket's month: a second row with
    the same key is refused, as before partitioning (exactly-once calls)."""
    ticket = ticket_arrived("2026-02-10T03:00:00")
    AdapterCall.objects.create(ticket=ticket, app="nossa", operation="u", idempotency_key="k")
    with pytest.raises(IntegrityError), transaction.atomic():
        AdapterCall.objects.create(ticket=ticket, app="nossa", operation="u", idempotency_key="k")
    assert AdapterCall.objects.filter(idempotency_key="k").count() == 1


@pytest.mark.django_db
def test_the_daily_job_with_every_partition_in_place_does_nothing():
    """On SQLite there are no partitions; on PostgreSQL the migrations made those due."""
    assert maintain_log_partitions() == {"created": [], "detached": [], "kept": []}


# --- PostgreSQL: the tables, the routing, the pruning -----------------------------------------
def partition_of(model, pk) -> str:
    return partitions.partition_of_row(connection, model._meta.db_table, pk)


def plan_of(queryset) -> str:
    return queryset.explain()


@postgres
@pytest.mark.django_db
def test_both_logs_are_partitioned_with_this_month_and_the_next_ones_ready(settings):
    today = timezone.localdate()
    this_month = date(today.year, today.month, 1)
    expected = []
    for step in range(settings.TIER2_LOG_PARTITIONS_AHEAD + 1):  # 3 by default
        index = this_month.year * 12 + this_month.month - 1 + step
        expected.append(date(index // 12, index % 12 + 1, 1))
    for table in LOG_TABLES:
        assert partitions.is_partitioned(connection, table)
        assert set(expected) <= set(partitions.attached_months(connection, table))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'tickets_transitionlog'::regclass AND contype = 'p'"
        )
        assert cursor.fetchone()[0] == "PRIMARY KEY (id, month)"


@postgres
@pytest.mark.django_db
def test_a_month_without_partition_waits_in_default_and_the_job_moves_it():
    """Nothing is lost for want of a partition: a ticket from 2024 (an import of old records)
    is logged into DEFAULT; the daily job gives March 2024 its partition and moves the rows,
    ids and all; the ticket's timeline is the same before and after."""
    ticket = ticket_arrived("2024-03-05T02:00:00")
    entry = TransitionLog.objects.of_ticket(ticket).get()
    call = AdapterCall.objects.create(
        ticket=ticket, log_entry=entry, app="nossa", operation="u", idempotency_key="old-1"
    )
    assert partition_of(TransitionLog, entry.pk) == "tickets_transitionlog_default"
    assert partition_of(AdapterCall, call.pk) == "integrations_adaptercall_default"
    before = [(item.kind, item.title) for item in selectors.timeline(ticket)]

    report = log_partitions.maintain(now=at("2026-12-15T00:00:00"))

    assert ("tickets_transitionlog", date(2024, 3, 1)) in report.created
    assert ("integrations_adaptercall", date(2024, 3, 1)) in report.created
    assert partition_of(TransitionLog, entry.pk) == "tickets_transitionlog_y2024m03"
    assert partition_of(AdapterCall, call.pk) == "integrations_adaptercall_y2024m03"
    assert partitions.months_in_default(connection, "tickets_transitionlog") == []
    assert [(item.kind, item.title) for item in selectors.timeline(ticket)] == before
    assert ("transition", "arrive") in before and ("call", "nossa.u") in before
    # and a second run finds nothing to do
    again = log_partitions.maintain(now=at("2026-12-15T00:00:00"))
    assert again.created == [] and again.detached == []


@postgres
@pytest.mark.django_db
def test_the_job_creates_the_months_ahead_of_its_day():
    report = log_partitions.maintain(now=at("2030-05-20T00:00:00"))
    for table in LOG_TABLES:
        months = partitions.attached_months(connection, table)
        for month in (date(2030, 5, 1), date(2030, 6, 1), date(2030, 7, 1), date(2030, 8, 1)):
            assert month in months
            assert (table, month) in report.created


@postgres
@pytest.mark.django_db
def test_a_tickets_history_is_read_from_its_months_partition_only():
    log_partitions.maintain(now=at("2025-06-10T00:00:00"))  # June to September 2025
    ticket = ticket_arrived("2025-07-14T05:00:00")
    entry = TransitionLog.objects.of_ticket(ticket).get()
    AdapterCall.objects.create(
        ticket=ticket, log_entry=entry, app="nossa", operation="u", idempotency_key="jul-1"
    )
    assert partition_of(TransitionLog, entry.pk) == "tickets_transitionlog_y2025m07"
    for queryset, table in (
        (TransitionLog.objects.of_ticket(ticket), "tickets_transitionlog"),
        (selectors.adapter_calls(ticket), "integrations_adaptercall"),
    ):
        plan = plan_of(queryset)
        assert f"{table}_y2025m07" in plan
        for other in ("y2025m06", "y2025m08", "y2025m09", "default"):
            assert f"{table}_{other}" not in plan, plan
    # without the month, every partition is read (what of_ticket spares)
    assert "tickets_transitionlog_y2025m06" in plan_of(TransitionLog.objects.filter(ticket=ticket))


@postgres
@pytest.mark.django_db
def test_old_months_are_detached_only_when_closed_and_anonymised(settings):
    """TIER2_LOG_ARCHIVE_MONTHS = 14 on 15 December 2026 keeps October 2025 onwards. March
    2025: its one ticket closed, its log anonymised: detached, rows kept in a standalone table.
    April 2025: a ticket still open: kept. May 2025: closed, but a note still holds text: kept."""
    settings.TIER2_LOG_ARCHIVE_MONTHS = 14
    for month in ("2025-03-10", "2025-04-10", "2025-05-10"):
        ticket = ticket_arrived(f"{month}T03:00:00")
        AdapterCall.objects.create(
            ticket=ticket, app="nossa", operation="u", idempotency_key=f"k-{month}"
        )
    log_partitions.maintain(now=at("2026-12-15T00:00:00"))  # moves them out of DEFAULT
    march, april, may = Ticket.objects.order_by("created_at")
    closed = at("2025-06-01T00:00:00")
    Ticket.objects.filter(pk__in=[march.pk, may.pk]).update(closed_at=closed, state="closed")
    TransitionLog.objects.filter(ticket=may).update(note="Pak Budi asked to call after 5")
    march_rows = TransitionLog.objects.of_ticket(march).count()
    assert march_rows == 1

    report = log_partitions.maintain(now=at("2026-12-15T00:00:00"))

    assert sorted(report.detached) == [
        "integrations_adaptercall_y2025m03_archived_20261215",
        "tickets_transitionlog_y2025m03_archived_20261215",
    ]
    assert (date(2025, 4, 1), "a ticket that arrived in it is still open") in report.kept
    assert (date(2025, 5, 1), "personal data in it is not anonymised yet") in report.kept
    assert TransitionLog.objects.filter(ticket=march).count() == 0
    assert TransitionLog.objects.of_ticket(april).count() == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tickets_transitionlog_y2025m03_archived_20261215")
        assert cursor.fetchone()[0] == march_rows
    assert date(2025, 3, 1) not in partitions.attached_months(connection, "tickets_transitionlog")


@postgres
@pytest.mark.django_db
def test_a_row_written_for_a_detached_month_is_kept_and_given_a_partition_again(settings):
    settings.TIER2_LOG_ARCHIVE_MONTHS = 14
    ticket = ticket_arrived("2025-03-10T03:00:00")
    log_partitions.maintain(now=at("2026-12-15T00:00:00"))
    Ticket.objects.filter(pk=ticket.pk).update(closed_at=at("2025-06-01T00:00:00"))
    assert log_partitions.maintain(now=at("2026-12-15T00:00:00")).detached
    late = TransitionLog.objects.create(
        ticket=ticket, transition="note", from_state="closed", to_state="closed"
    )
    assert partition_of(TransitionLog, late.pk) == "tickets_transitionlog_default"
    settings.TIER2_LOG_ARCHIVE_MONTHS = 0
    log_partitions.maintain(now=at("2026-12-15T00:00:00"))
    assert partition_of(TransitionLog, late.pk) == "tickets_transitionlog_y2025m03"


@postgres
@pytest.mark.django_db
def test_the_command_lists_and_maintains(capsys):
    ticket_arrived("2024-08-01T03:00:00")
    call_command("log_partitions", "--list")  # the migrations made this month's and 3 more
    listed = capsys.readouterr().out
    assert "waiting in tickets_transitionlog_default: 2024-08" in listed
    call_command("log_partitions")
    done = capsys.readouterr().out
    assert "created tickets_transitionlog_y2024m08" in done
    assert "waiting in" not in done


# --- Turning a plain table into a partitioned one (the migrations' step) -----------------------
@postgres
@pytest.mark.django_db
def test_a_plain_table_is_rebuilt_partitioned_with_its_rows_ids_and_indexes_and_back():
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE scratch_log (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
            " ticket_id bigint REFERENCES tickets_ticket(id) DEFERRABLE INITIALLY DEFERRED,"
            " key varchar(20) NOT NULL, month date NOT NULL, CHECK (length(key) > 0),"
            " CONSTRAINT scratch_key UNIQUE (key, month))"
        )
        cursor.execute("CREATE INDEX scratch_ticket ON scratch_log (ticket_id)")
        cursor.execute(
            "INSERT INTO scratch_log (key, month) VALUES ('a', '2024-01-01'), ('b', '2024-01-01'),"
            " ('c', '2025-06-01')"
        )
        with connection.schema_editor() as editor:
            partitions.partition_table(editor, "scratch_log", months_ahead=1)
        assert partitions.is_partitioned(connection, "scratch_log")
        months = partitions.attached_months(connection, "scratch_log")
        assert {date(2024, 1, 1), date(2025, 6, 1)} <= set(months)
        cursor.execute("SELECT id, key, tableoid::regclass::text FROM scratch_log ORDER BY id")
        assert cursor.fetchall() == [
            (1, "a", "scratch_log_y2024m01"),
            (2, "b", "scratch_log_y2024m01"),
            (3, "c", "scratch_log_y2025m06"),
        ]
        cursor.execute(
            "INSERT INTO scratch_log (key, month) VALUES ('d', '2023-02-01') RETURNING id"
        )
        assert cursor.fetchone()[0] == 4  # the identity goes on from the copied rows
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'scratch_log'")
        assert {name for (name,) in cursor.fetchall()} == {
            "scratch_log_pkey",
            "scratch_key",
            "scratch_ticket",
        }
        with pytest.raises(IntegrityError), transaction.atomic():
            cursor.execute("INSERT INTO scratch_log (key, month) VALUES ('a', '2024-01-01')")
        with pytest.raises(IntegrityError), transaction.atomic():
            cursor.execute("INSERT INTO scratch_log (key, month) VALUES ('', '2024-01-01')")

        # and back, as when the migration is undone: one plain table, the same rows and ids
        with connection.schema_editor() as editor:
            partitions.unpartition_table(editor, "scratch_log")
        assert not partitions.is_partitioned(connection, "scratch_log")
        cursor.execute("SELECT id, key, tableoid::regclass::text FROM scratch_log ORDER BY id")
        assert cursor.fetchall() == [
            (1, "a", "scratch_log"),
            (2, "b", "scratch_log"),
            (3, "c", "scratch_log"),
            (4, "d", "scratch_log"),
        ]
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'scratch_log'::regclass AND contype = 'p'"
        )
        assert cursor.fetchone()[0] == "PRIMARY KEY (id)"
        cursor.execute(
            "INSERT INTO scratch_log (key, month) VALUES ('e', '2024-01-01') RETURNING id"
        )
        assert cursor.fetchone()[0] == 5


@postgres
@pytest.mark.django_db
def test_a_table_others_hold_foreign_keys_to_is_not_partitioned():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE scratch_parent (id bigint PRIMARY KEY, month date NOT NULL)")
        cursor.execute("CREATE TABLE scratch_child (parent_id bigint REFERENCES scratch_parent)")
    with pytest.raises(RuntimeError, match="scratch_child"), connection.schema_editor() as editor:
        partitions.partition_table(editor, "scratch_parent", months_ahead=1)
    assert not partitions.is_partitioned(connection, "scratch_parent")


def test_the_daily_job_is_scheduled_before_the_nightly_anonymisation(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["log-partitions"]
    assert entry["task"] == "tickets.tasks.maintain_log_partitions"
    assert entry["schedule"].hour == {2} and entry["schedule"].minute == {0}  # 02:00 Jakarta
    retention = settings.CELERY_BEAT_SCHEDULE["apply-retention"]["schedule"]
    assert retention.hour == {2} and retention.minute == {30}
