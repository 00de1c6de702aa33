"""The live console's first paint: who is on the tickets a page shows, before any message.

Presence changes reach an open page over its websocket (`static/js/live.js`); a page loaded or
refreshed in between reads the people already there from the presence store here, so a queue
row or a workspace shows them at once.
"""

from __future__ import annotations

import json

from django import template

from .. import presence

register = template.Library()


@register.simple_tag
def people_on(tickets) -> dict[int, str]:
    """`{% people_on rows as present %}`: for each ticket (rows with "pk", tickets, ids, or one
    id) that someone is on, the people as JSON for the page's `data-people` attribute."""
    if isinstance(tickets, int):
        tickets = [tickets]
    ids = [item["pk"] if isinstance(item, dict) else getattr(item, "pk", item) for item in tickets]
    return {pk: json.dumps(people) for pk, people in presence.people_on(ids).items()}
