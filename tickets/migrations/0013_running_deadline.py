"""The running deadline: the queues, "next ticket" and the dashboard sort on the deadline that
runs now (`models.running_deadline`: claim-by while a ticket waits for its first agent,
resolve-by once taken, none while paused with Support or closed). The indexes that held claim-by
hold that expression instead, and one more serves the floor's queues across flows and sites."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0012_tmf_listing_indexes"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="ticket",
            name="ticket_next_in_queue",
        ),
        migrations.RemoveIndex(
            model_name="ticket",
            name="ticket_open_queue",
        ),
        migrations.RemoveIndex(
            model_name="ticket",
            name="ticket_open_late_deadline",
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                models.F("site"),
                models.Case(
                    models.When(closed_at__isnull=False, then=models.Value(None)),
                    models.When(sla_paused_at__isnull=False, then=models.Value(None)),
                    models.When(
                        models.Q(("awaiting_agent", True), ("state", "new")),
                        then=models.F("claim_by"),
                    ),
                    default=models.F("resolve_by"),
                    output_field=models.DateTimeField(),
                ),
                models.F("priority"),
                models.F("created_at"),
                models.F("id"),
                condition=models.Q(("awaiting_agent", True)),
                name="ticket_next_in_queue",
            ),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                models.F("flow"),
                models.F("site"),
                models.Case(
                    models.When(closed_at__isnull=False, then=models.Value(None)),
                    models.When(sla_paused_at__isnull=False, then=models.Value(None)),
                    models.When(
                        models.Q(("awaiting_agent", True), ("state", "new")),
                        then=models.F("claim_by"),
                    ),
                    default=models.F("resolve_by"),
                    output_field=models.DateTimeField(),
                ),
                models.F("priority"),
                models.F("id"),
                condition=models.Q(("closed_at__isnull", True)),
                name="ticket_open_queue",
            ),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                models.Case(
                    models.When(closed_at__isnull=False, then=models.Value(None)),
                    models.When(sla_paused_at__isnull=False, then=models.Value(None)),
                    models.When(
                        models.Q(("awaiting_agent", True), ("state", "new")),
                        then=models.F("claim_by"),
                    ),
                    default=models.F("resolve_by"),
                    output_field=models.DateTimeField(),
                ),
                models.F("priority"),
                models.F("id"),
                condition=models.Q(("closed_at__isnull", True)),
                name="ticket_open_running",
            ),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                models.Case(
                    models.When(closed_at__isnull=False, then=models.Value(None)),
                    models.When(sla_paused_at__isnull=False, then=models.Value(None)),
                    models.When(
                        models.Q(("awaiting_agent", True), ("state", "new")),
                        then=models.F("claim_by"),
                    ),
                    default=models.F("resolve_by"),
                    output_field=models.DateTimeField(),
                ),
                models.F("id"),
                condition=models.Q(
                    ("closed_at__isnull", True), ("sla_status__in", ["at_risk", "breached"])
                ),
                include=("site", "flow"),
                name="ticket_open_late_deadline",
            ),
        ),
    ]
