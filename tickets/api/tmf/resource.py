"""The troubleTicket resource: `GET /troubleTicket`, `GET /troubleTicket/{id}` (this module) and
the writes (`writes.TroubleTicketWrites`: POST, PATCH, DELETE).

Reads go through `selectors.visible_tickets`, so a client sees exactly the tickets its role sees
in the console (an agent: their flows at their site; a system client: its profile's site and
flows, else all); any other id answers 404, as an unknown one. The JSON is `tickets.tmf`'s.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.db.models import QuerySet
from rest_framework import viewsets
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from ... import selectors, tmf
from ...models import Ticket
from . import filters
from .base import TmfView
from .writes import TroubleTicketWrites

# Counts under this are exact on every request (cheap); at or above it, reused for a while.
BIG_COUNT = 10_000


def count_of(queryset: QuerySet) -> int:
    """X-Total-Count: exact, but a big one is kept `TIER2_TMF_COUNT_CACHE_SECONDS` in the
    cache under its query's SQL (which holds the viewer's scope), so a client paging through a
    million tickets pays for one count, not one per page."""
    if queryset.query.is_empty():  # .none(): a filter nothing matches, an agent with no site
        return 0
    seconds = settings.TIER2_TMF_COUNT_CACHE_SECONDS
    if seconds <= 0:
        return queryset.count()
    sql, params = queryset.order_by().query.sql_with_params()
    database = connections[queryset.db].settings_dict["NAME"]
    key = "tmf-count:" + hashlib.sha256(f"{database}|{sql}|{params!r}".encode()).hexdigest()
    total = cache.get(key)
    if total is None:
        total = queryset.count()
        if total >= BIG_COUNT:
            cache.set(key, total, seconds)
    return total


class TroubleTicketViewSet(TroubleTicketWrites, TmfView, viewsets.GenericViewSet):
    """TMF621 `TroubleTicket`: the console's tickets in the standard's shape."""

    def get_queryset(self):
        return selectors.visible_tickets(self.request.user).defer("facts")

    def visible_ticket(self, pk, fields=None) -> Ticket:
        """The ticket `pk` if the client may see it; 404 otherwise, malformed ids included."""
        text = str(pk)
        if not filters.NUMBER.fullmatch(text):
            raise NotFound()
        queryset = tmf.prefetch_for(self.get_queryset(), fields)
        ticket = queryset.filter(pk=int(text)).first()
        if ticket is None:
            raise NotFound()
        return ticket

    def list(self, request):
        query = filters.parse(request.query_params)
        queryset = query.apply(self.get_queryset())
        page = []
        if query.limit:
            loaded = tmf.prefetch_for(queryset, query.fields)
            page = list(loaded[query.offset : query.offset + query.limit])
        # The last page (or no ticket at all) tells the total without counting.
        short = 0 < len(page) < query.limit or (not page and query.offset == 0 and query.limit)
        total = query.offset + len(page) if short else count_of(queryset)
        body = [
            tmf.ticket_resource(ticket, viewer=request.user, fields=query.fields) for ticket in page
        ]
        return Response(
            body, headers={"X-Total-Count": str(total), "X-Result-Count": str(len(body))}
        )

    def retrieve(self, request, pk=None):
        fields = filters.parse_fields(request.query_params)
        ticket = self.visible_ticket(pk, fields)
        return Response(tmf.ticket_resource(ticket, viewer=request.user, fields=fields))
