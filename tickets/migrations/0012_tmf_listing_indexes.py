"""Indexes for the TMF621 listing (docs/tmf621.md, "Paging and counts").

Measured on the 1M-ticket benchmark database before them: `externalIdentifier.id=<ref>` 60 ms
(the unique (source_system, source_ref) index scanned whole, its leading column unknown),
`sort=lastUpdate` 410 ms and `lastUpdate.gt=<an hour ago>` with it 140 ms (parallel scan and
sort of the table), `sort=priority&offset=9900` 850 ms (an external sort on disk).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0011_system_role"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                condition=models.Q(("source_ref", ""), _negated=True),
                fields=["source_ref"],
                name="ticket_source_ref",
            ),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(fields=["updated_at", "id"], name="ticket_updated_at"),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(fields=["priority", "id"], name="ticket_priority"),
        ),
    ]
