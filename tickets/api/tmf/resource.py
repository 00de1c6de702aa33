"""The troubleTicket resource (placeholder: being written)."""

from rest_framework import viewsets

from .base import TmfView


class TroubleTicketViewSet(TmfView, viewsets.GenericViewSet):
    pass
