"""Two partial indexes of the open tickets, for the queues at ten million tickets.

- `ticket_open_by_state` (state, flow, site): a queue's count per state
  (`selectors.queue_state_counts`) asks "open tickets in state S" for each state, of every flow
  on the all-tickets queue; with the state first, each is one range of the index, where
  `ticket_open_states` (flow, site, state) made every state read all the open entries.
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
