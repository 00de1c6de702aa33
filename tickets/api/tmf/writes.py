"""The troubleTicket resource's writes: `POST`, `PATCH` and `DELETE` (mixed into the viewset).

The views parse the request and call `services.create_trouble_ticket` /
`services.patch_trouble_ticket`, where the rules are (docs/tmf621.md describes them for
clients); errors are the services' domain errors, answered in the spec's `Error` shape by
`base.TmfView`.

- `POST /troubleTicket` answers 201 with the ticket and its `Location`, also when the same
  external identifier was sent before and the ticket it made is answered again (an idempotent
  replay answers what the first request did; the spec lists 201 and 202 for this operation,
  not 200).
- `PATCH /troubleTicket/{id}` takes `application/merge-patch+json` and `application/json`
  (the same merge semantics); JSON Patch (`application/json-patch+json`) is answered 415.
- `DELETE /troubleTicket/{id}`: tickets are never deleted (they are the SOP's and the SLA's
  record); 405 with `Allow`, saying how to end a ticket instead.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.response import Response

from ... import services, tmf
from ...models import Ticket
from . import filters


class TroubleTicketWrites:
    """`create`, `partial_update` and `destroy` of `resource.TroubleTicketViewSet`."""

    def _answer(self, ticket_id: int, fields, **response):
        ticket = tmf.prefetch_for(Ticket.objects.filter(pk=ticket_id), fields).get()
        body = tmf.ticket_resource(ticket, viewer=self.request.user, fields=fields)
        return Response(body, **response)

    def create(self, request, *args, **kwargs):
        fields = filters.parse_fields(request.query_params)
        ticket, _created = services.create_trouble_ticket(actor=request.user, data=request.data)
        location = request.build_absolute_uri(tmf.href_of(ticket.pk))
        return self._answer(
            ticket.pk, fields, status=status.HTTP_201_CREATED, headers={"Location": location}
        )

    def partial_update(self, request, pk=None, *args, **kwargs):
        fields = filters.parse_fields(request.query_params)
        ticket = self.visible_ticket(pk, ())
        services.patch_trouble_ticket(actor=request.user, ticket_id=ticket.pk, patch=request.data)
        return self._answer(ticket.pk, fields)

    @property
    def allowed_methods(self):
        """What `Allow` lists (405s and OPTIONS): DELETE is routed, only to say it is not."""
        return [method for method in super().allowed_methods if method != "DELETE"]

    def destroy(self, request, pk=None, *args, **kwargs):
        raise MethodNotAllowed(
            request.method,
            detail=_(
                "Trouble tickets are never deleted. To end one, PATCH its status to closed, "
                "rejected or cancelled, as its SOP flow allows."
            ),
        )
