"""Event subscriptions, /hub (placeholder: being written)."""

from rest_framework import viewsets

from .base import TmfView


class HubViewSet(TmfView, viewsets.GenericViewSet):
    pass
