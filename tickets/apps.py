from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = _("Tickets")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from integrations.signals import answer_received

        # `flows`: the flow machines are proxy models of Ticket, one layer above the models;
        # importing them here registers them with Django without the models importing the flows.
        # `tasks`: the services start background jobs by task name (they sit below the tasks),
        # so the tasks are registered in every process, not only in workers that autodiscover.
        from . import (
            flows,  # noqa: F401
            receivers,
            tasks,  # noqa: F401
        )
        from .roles import ensure_reference_data

        post_migrate.connect(ensure_reference_data, sender=self)
        answer_received.connect(receivers.record_call_answer, dispatch_uid="tickets-call-answer")
