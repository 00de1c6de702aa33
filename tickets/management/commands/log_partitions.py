"""The logs' monthly partitions (PostgreSQL; docs/partitions.md).

    manage.py log_partitions           # what the daily job does, now; prints what it did
    manage.py log_partitions --list    # each table's months, and rows waiting in DEFAULT

The daily job (`maintain_log_partitions`, Celery beat) runs the same code.
"""

from django.core.management.base import BaseCommand
from django.db import connections

from tickets.services import log_partitions
from tier2 import partitions
from tier2.replica import PRIMARY


class Command(BaseCommand):
    help = "Create the logs' monthly partitions due and detach old months due (as the daily job)."

    def add_arguments(self, parser):
        parser.add_argument("--list", action="store_true", help="only list the partitions")

    def handle(self, *args, list: bool, **options):
        connection = connections[PRIMARY]
        tables = log_partitions.partitioned_tables(connection)
        if not tables:
            self.stdout.write("No partitioned tables here (they exist on PostgreSQL only).")
            return
        if not list:
            report = log_partitions.maintain()
            for table, month in report.created:
                self.stdout.write(f"created {partitions.partition_name(table, month)}")
            for name in report.detached:
                self.stdout.write(
                    f"detached {name} (a standalone table now: dump it, then drop it)"
                )
            for month, why in report.kept:
                self.stdout.write(f"kept {month:%Y-%m}: {why}")
            if not (report.created or report.detached or report.kept):
                self.stdout.write("Nothing to do: every partition due exists.")
        for table in tables:
            months = partitions.attached_months(connection, table)
            waiting = partitions.months_in_default(connection, table)
            span = f"{months[0]:%Y-%m} to {months[-1]:%Y-%m}" if months else "none"
            self.stdout.write(f"{table}: {len(months)} monthly partitions ({span})")
            if waiting:
                listed = ", ".join(f"{month:%Y-%m}" for month in waiting)
                self.stdout.write(f"  waiting in {partitions.default_name(table)}: {listed}")
