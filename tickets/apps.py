from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = _("Tickets")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from integrations.signals import answer_received

        from . import receivers
        from .roles import ensure_reference_data

        post_migrate.connect(ensure_reference_data, sender=self)
        answer_received.connect(receivers.record_call_answer, dispatch_uid="tickets-call-answer")
