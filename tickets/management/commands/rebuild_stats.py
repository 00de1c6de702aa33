"""Recompute the dashboard roll-ups from the ticket table (after a bulk load or a repair)."""

from django.core.management.base import BaseCommand

from tickets import stats


class Command(BaseCommand):
    help = "Recompute the daily roll-ups behind the supervisor dashboard from the tickets."

    def handle(self, *args, **options):
        flow_rows, agent_rows = stats.rebuild()
        self.stdout.write(f"rebuilt {flow_rows} flow/day rows and {agent_rows} agent/day rows")
