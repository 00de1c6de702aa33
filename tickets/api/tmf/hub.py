"""Event subscriptions: `POST /hub`, `GET /hub/{id}`, `DELETE /hub/{id}`, and `GET /hub` (the
client's own subscriptions; an extension of the spec, which lists none).

A subscription is the spec's `Hub`: `callback` (where the events are POSTed) and `query` (which
events, `integrations.hub.parse_query`). `POST` answers 201 with the Hub and, once only, the
`secret` the events are signed with (HMAC-SHA256 of the body, `X-Tmf-Signature`). The rules
(who may subscribe, what a callback and a query may be, how many) are the services'
(`services.create_subscription`); docs/tmf621.md describes the events.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from integrations.models import EventSubscription

from ... import roles, services
from ...exceptions import InvalidInput
from .base import TMF_PREFIX, TmfView


def hub_json(subscription, *, secret: str | None = None) -> dict:
    """The spec's `Hub`, with our `status` (active, or suspended after failing deliveries) and,
    when it was just made, its `secret`."""
    body = {
        "id": str(subscription.pk),
        "href": f"{TMF_PREFIX}hub/{subscription.pk}",
        "@type": "Hub",
        "callback": subscription.callback,
        "query": subscription.query,
        "status": subscription.status,
    }
    if secret is not None:
        body["secret"] = secret
    return body


class HubViewSet(TmfView, viewsets.GenericViewSet):
    """TMF621 event subscriptions (`Hub`)."""

    schema = None  # described by the vendored TMF621 document, not the console API's schema

    def get_queryset(self):
        subscriptions = EventSubscription.objects.order_by("pk")
        user = self.request.user
        return subscriptions if roles.is_admin(user) else subscriptions.filter(owner=user)

    def get_object(self):
        """A subscription the client may see (its own; any, for an administrator), or 404."""
        pk = str(self.kwargs.get("pk", ""))
        subscription = self.get_queryset().filter(pk=int(pk)).first() if pk.isdigit() else None
        if subscription is None:
            raise NotFound()
        return subscription

    def create(self, request):
        data = request.data
        if not isinstance(data, dict):
            raise InvalidInput({"non_field_errors": [_("Send the Hub as a JSON object.")]})
        kind = data.get("@type")
        if kind is not None and not isinstance(kind, str):
            raise InvalidInput({"@type": [_("Enter text.")]})
        subscription, secret = services.create_subscription(
            owner=request.user, callback=data.get("callback"), query=data.get("query")
        )
        body = hub_json(subscription, secret=secret)
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["href"]})

    def list(self, request):
        return Response([hub_json(subscription) for subscription in self.get_queryset()])

    def retrieve(self, request, pk=None):
        return Response(hub_json(self.get_object()))

    def destroy(self, request, pk=None):
        services.delete_subscription(subscription_id=self.get_object().pk, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
