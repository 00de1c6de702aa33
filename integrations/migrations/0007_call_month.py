"""Adapter calls partitioned by month (tier2/partitions.py): the partition key `month`, filled
for existing rows (the month of the log entry that caused the call, else the ticket's arrival,
else the incident's opening, else the call's own creation); the idempotency key unique with it;
no database foreign key to the transition log, which is partitioned next (tickets 0025)."""

from django.conf import settings
from django.db import migrations, models

import tier2.partitions


def fill_months(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        local = "date_trunc('month', {} AT TIME ZONE %s)::date"
        zone = [settings.TIME_ZONE]
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "UPDATE integrations_adaptercall c SET month = l.month"
                " FROM tickets_transitionlog l WHERE c.log_entry_id = l.id"
            )
            cursor.execute(
                f"UPDATE integrations_adaptercall c SET month = {local.format('t.created_at')}"
                " FROM tickets_ticket t WHERE c.month IS NULL AND c.ticket_id = t.id",
                zone,
            )
            cursor.execute(
                f"UPDATE integrations_adaptercall c SET month = {local.format('g.opened_at')}"
                " FROM tickets_gamasincident g WHERE c.month IS NULL AND c.incident_id = g.id",
                zone,
            )
            cursor.execute(
                f"UPDATE integrations_adaptercall SET month = {local.format('created_at')}"
                " WHERE month IS NULL",
                zone,
            )
        return
    AdapterCall = apps.get_model("integrations", "AdapterCall")
    rows = list(AdapterCall.objects.select_related("log_entry", "ticket", "incident"))
    for row in rows:
        if row.log_entry_id:
            row.month = row.log_entry.month
            continue
        moment = (
            row.ticket.created_at if row.ticket_id
            else row.incident.opened_at if row.incident_id
            else row.created_at
        )  # fmt: skip
        row.month = tier2.partitions.month_start(moment)
    AdapterCall.objects.bulk_update(rows, ["month"], batch_size=500)


def partition(apps, schema_editor):
    tier2.partitions.partition_table(
        schema_editor,
        "integrations_adaptercall",
        months_ahead=settings.TIER2_LOG_PARTITIONS_AHEAD,
    )


def unpartition(apps, schema_editor):
    tier2.partitions.unpartition_table(schema_editor, "integrations_adaptercall")


class Migration(migrations.Migration):

    dependencies = [
        ("integrations", "0006_verbose_names"),
        ("tickets", "0024_log_month"),
    ]

    operations = [
        migrations.AddField(
            model_name="adaptercall",
            name="month",
            field=tier2.partitions.PartitionMonthField(
                editable=False, null=True, verbose_name="partition month"
            ),
        ),
        migrations.RunPython(fill_months, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="adaptercall",
            name="month",
            field=tier2.partitions.PartitionMonthField(
                editable=False, verbose_name="partition month"
            ),
        ),
        migrations.AlterField(
            model_name="adaptercall",
            name="log_entry",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                help_text="The transition that caused the call (its note is the call's reason).",
                null=True,
                on_delete=models.deletion.SET_NULL,
                related_name="calls",
                to="tickets.transitionlog",
                verbose_name="log entry",
            ),
        ),
        migrations.AlterField(
            model_name="adaptercall",
            name="idempotency_key",
            field=models.CharField(max_length=64, verbose_name="idempotency key"),
        ),
        migrations.AddConstraint(
            model_name="adaptercall",
            constraint=models.UniqueConstraint(
                fields=("idempotency_key", "month"), name="call_key_unique"
            ),
        ),
        migrations.RunPython(partition, unpartition),
    ]
