from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = _("Tickets")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from integrations.signals import answer_received, call_finished

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
        self.connect_calendar_versions()
        answer_received.connect(receivers.record_call_answer, dispatch_uid="tickets-call-answer")
        call_finished.connect(receivers.record_call_finished, dispatch_uid="tickets-call-finished")
        self.connect_security_log(receivers)
        self.connect_dispatch_roles(receivers)

    def connect_calendar_versions(self) -> None:
        """A calendar day saved or deleted (one by one, in the admin's inline, or a queryset
        delete) gives its calendar a new version, so compiled copies are built again."""
        from django.db.models import signals

        from .models import CalendarDay, calendar_day_changed

        for name, signal in (("saved", signals.post_save), ("deleted", signals.post_delete)):
            signal.connect(
                calendar_day_changed, sender=CalendarDay, dispatch_uid=f"calendar-day-{name}"
            )

    def connect_dispatch_roles(self, receivers) -> None:
        """Only agents are available to dispatch: a user who stops being one (a group or a
        role's permission removed, deactivated) goes offline (tickets.receivers)."""
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.db.models import signals

        user = get_user_model()
        for through in (user.groups.through, Group.permissions.through):
            signals.m2m_changed.connect(
                receivers.roles_changed,
                sender=through,
                dispatch_uid=f"dispatch-roles:{through._meta.label}",
            )
        signals.post_save.connect(
            receivers.user_saved_for_dispatch, sender=user, dispatch_uid="dispatch-roles:user"
        )

    def connect_security_log(self, receivers) -> None:
        """The security log's receivers (tickets.receivers); those for django-axes and
        django-otp only when those apps are installed, so either may be added or removed."""
        from django.apps import apps
        from django.contrib.auth import get_user_model
        from django.contrib.auth import signals as auth
        from django.db.models import signals

        user = get_user_model()
        connect = [
            (auth.user_logged_in, receivers.logged_in, None),
            (auth.user_logged_out, receivers.logged_out, None),
            (auth.user_login_failed, receivers.login_failed, None),
            (signals.m2m_changed, receivers.groups_changed, user.groups.through),
            (signals.pre_save, receivers.user_saving, user),
            (signals.post_save, receivers.user_saved, user),
        ]
        if apps.is_installed("axes"):
            from axes.signals import user_locked_out

            connect.append((user_locked_out, receivers.locked_out, None))
        if apps.is_installed("django_otp"):
            from django_otp.forms import otp_verification_failed
            from django_otp.models import Device

            connect.append((otp_verification_failed, receivers.otp_failed, None))
            for model in apps.get_models():
                if issubclass(model, Device):
                    connect.append((signals.post_init, receivers.otp_device_loaded, model))
                    connect.append((signals.post_save, receivers.otp_device_saved, model))
                    connect.append((signals.post_delete, receivers.otp_device_deleted, model))
        if apps.is_installed("django_otp.plugins.otp_static"):
            from django_otp.plugins.otp_static.models import StaticToken

            connect.append((signals.post_delete, receivers.otp_static_token_deleted, StaticToken))
        for signal, receiver, sender in connect:
            label = sender._meta.label if sender is not None else "any"
            signal.connect(
                receiver, sender=sender, dispatch_uid=f"security-log:{receiver.__name__}:{label}"
            )
