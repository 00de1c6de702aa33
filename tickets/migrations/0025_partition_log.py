"""The transition log partitioned by month (tier2/partitions.py), on PostgreSQL: a partition
for every month its rows hold, this month and TIER2_LOG_PARTITIONS_AHEAD more, and a DEFAULT."""

from django.conf import settings
from django.db import migrations

import tier2.partitions


def partition(apps, schema_editor):
    tier2.partitions.partition_table(
        schema_editor,
        "tickets_transitionlog",
        months_ahead=settings.TIER2_LOG_PARTITIONS_AHEAD,
    )


def unpartition(apps, schema_editor):
    tier2.partitions.unpartition_table(schema_editor, "tickets_transitionlog")


class Migration(migrations.Migration):

    dependencies = [
        ("tickets", "0024_log_month"),
        ("integrations", "0007_call_month"),
    ]

    operations = [
        migrations.RunPython(partition, unpartition),
    ]
