"""A trigram index on customers' names (PostgreSQL), for the queues' search by name.

The search is a substring match (`name__icontains`), which Django writes as
`UPPER(name::text) LIKE UPPER('%…%')`; a GIN index of that same expression's trigrams answers it
without reading every customer. pg_trgm is a trusted extension (PostgreSQL 13+): a database
owner may create it. Nothing is done on SQLite, where the search reads the table.
"""

from django.db import migrations

INDEX = "customer_name_trgm"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON tickets_customer "
        "USING gin (UPPER(name::text) gin_trgm_ops)"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("tickets", "0025_partition_log")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
