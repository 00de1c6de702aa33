"""Two partial indexes of the open tickets, for the queues at ten million tickets.

- `ticket_open_by_state` (state, flow, site, with priority, SLA status and assignee): a
  queue's count per state (`selectors.queue_state_counts`) asks "open tickets in state S" for
  each state, of every flow on the all-tickets queue; with the state first, each is one range
  of the index, where `ticket_open_states` (flow, site, state) made every state read all the
  open entries, and every other filter of the queue is in the index too, so the count never
  reads the table (an index-only scan once the table is vacuumed).
- `ticket_open_created` (created_at, id): the "oldest" and "newest" sorts of open tickets walk
  it in order; `ticket_created_at` covers every ticket, so the oldest open ones came after
  nearly a year of closed ones.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("tickets", "0026_customer_name_trigram")]

    operations = [
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                fields=["state", "flow", "site"],
                include=["priority", "sla_status", "assignee"],
                condition=models.Q(closed_at__isnull=True),
                name="ticket_open_by_state",
            ),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                fields=["created_at", "id"],
                condition=models.Q(closed_at__isnull=True),
                name="ticket_open_created",
            ),
        ),
    ]
