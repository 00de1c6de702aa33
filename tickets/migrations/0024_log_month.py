"""The transition log's partition key, `month` (tier2/partitions.py), filled for existing rows:
the ticket's arrival month, else the incident's opening month, else the entry's own month, in
the console's time zone. Customer messages drop their database foreign key to the adapter
calls, which are partitioned next (integrations 0007). The transition log itself is partitioned
in 0025, once the adapter calls have dropped their foreign key to it (integrations 0007)."""

from django.conf import settings
from django.db import migrations, models

import tier2.partitions


def fill_months(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        local = "date_trunc('month', {} AT TIME ZONE %s)::date"
        zone = [settings.TIME_ZONE]
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE tickets_transitionlog l SET month = {local.format('t.created_at')}"
                " FROM tickets_ticket t WHERE l.ticket_id = t.id",
                zone,
            )
            cursor.execute(
                f"UPDATE tickets_transitionlog l SET month = {local.format('g.opened_at')}"
                " FROM tickets_gamasincident g WHERE l.month IS NULL AND l.incident_id = g.id",
                zone,
            )
            cursor.execute(
                f"UPDATE tickets_transitionlog SET month = {local.format('at')}"
                " WHERE month IS NULL",
                zone,
            )
        return
    TransitionLog = apps.get_model("tickets", "TransitionLog")
    rows = list(TransitionLog.objects.select_related("ticket", "incident"))
    for row in rows:
        moment = (
            row.ticket.created_at if row.ticket_id
            else row.incident.opened_at if row.incident_id
            else row.at
        )  # fmt: skip
        row.month = tier2.partitions.month_start(moment)
    TransitionLog.objects.bulk_update(rows, ["month"], batch_size=500)


class Migration(migrations.Migration):

    dependencies = [
        ("tickets", "0023_ticket_open_load"),
        ("integrations", "0006_verbose_names"),
    ]

    operations = [
        migrations.AlterField(
            model_name="customermessage",
            name="call",
            field=models.OneToOneField(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=models.deletion.SET_NULL,
                related_name="customer_message",
                to="integrations.adaptercall",
                verbose_name="outbox call",
            ),
        ),
        migrations.AddField(
            model_name="transitionlog",
            name="month",
            field=tier2.partitions.PartitionMonthField(
                editable=False, null=True, verbose_name="partition month"
            ),
        ),
        migrations.RunPython(fill_months, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="transitionlog",
            name="month",
            field=tier2.partitions.PartitionMonthField(
                editable=False, verbose_name="partition month"
            ),
        ),
    ]
