from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import hub
from .models import AdapterCall, EventSubscription, OutboxProbe, PullCursor


@admin.register(AdapterCall)
class AdapterCallAdmin(admin.ModelAdmin):
    list_display = (
        "created_at", "app", "operation", "status", "attempts", "send_count", "duration_ms",
        "ticket",
    )  # fmt: skip
    list_filter = ("app", "status")
    search_fields = ("idempotency_key",)
    raw_id_fields = ("ticket", "incident", "log_entry", "subscription")
    readonly_fields = (
        "request", "response", "error", "attempts", "duration_ms", "dispatched_at",
        "last_sent_at", "due_at", "send_count", "lease_until", "finished_at",
    )  # fmt: skip
    show_full_result_count = False
    actions = ["send_events_again"]

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        # A subscription's delivery log links here (EventSubscriptionAdmin.delivery_log).
        if lookup in ("subscription__id__exact", "subscription"):
            return True
        return super().lookup_allowed(lookup, value, request)

    @admin.action(description=_("Send the selected failed event deliveries again"))
    def send_events_again(self, request, queryset):
        sent = hub.send_again(queryset.values_list("pk", flat=True))
        self.message_user(
            request,
            ngettext(
                "%(count)d failed event delivery queued again (same event, same eventId).",
                "%(count)d failed event deliveries queued again (same events, same eventIds).",
                sent,
            )
            % {"count": sent},
            messages.SUCCESS if sent else messages.WARNING,
        )


@admin.register(OutboxProbe)
class OutboxProbeAdmin(admin.ModelAdmin):
    list_display = ("queue", "sent_at", "passed_until", "passed_at")
    readonly_fields = ("queue", "sent_at", "passed_until", "passed_at")

    def has_add_permission(self, request) -> bool:
        return False  # the outbox sweep keeps these rows


@admin.register(PullCursor)
class PullCursorAdmin(admin.ModelAdmin):
    list_display = ("source", "pulled_until")


@admin.register(EventSubscription)
class EventSubscriptionAdmin(admin.ModelAdmin):
    """TMF621 event subscriptions (made through `/hub`): a suspended one, its failures and its
    delivery log; reactivating it. The signing secret is never shown."""

    list_display = (
        "id", "owner", "callback", "status", "consecutive_failures", "last_failure_at",
        "last_success_at", "created_at",
    )  # fmt: skip
    list_filter = ("status",)
    search_fields = ("callback", "owner__username")
    list_select_related = ("owner",)
    fields = (
        "owner", "callback", "query", "status", "consecutive_failures", "last_error",
        "last_failure_at", "last_success_at", "suspended_at", "created_at", "delivery_log",
    )  # fmt: skip
    readonly_fields = fields
    actions = ["reactivate"]
    LOG_SHOWN = 20

    def has_add_permission(self, request) -> bool:
        return False  # made by the clients through POST /hub, with their secret

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # view-only; reactivating is an action

    @admin.display(description=_("delivery log"))
    def delivery_log(self, subscription) -> str:
        rows = subscription.deliveries.order_by("-created_at", "-pk")[: self.LOG_SHOWN]
        link = reverse("admin:integrations_adaptercall_changelist")
        table = format_html_join(
            "",
            "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td></tr>",
            (
                (
                    reverse("admin:integrations_adaptercall_change", args=[row.pk]),
                    row.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    row.operation,
                    (row.request or {}).get("event", {}).get("troubleTicket", {}).get("id", ""),
                    row.status,
                    row.attempts,
                    row.error[:120],
                )
                for row in rows
            ),
        )
        return format_html(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>"
            "{}</table><p><a href='{}?subscription__id__exact={}'>{}</a> · "
            "<a href='{}?subscription__id__exact={}&amp;status__exact=failed'>{}</a></p>",
            _("created"), _("event"), _("ticket"), _("status"), _("attempts"), _("error"),
            table,
            link, subscription.pk, _("All its deliveries"),
            link, subscription.pk, _("Its failed deliveries (select them to send them again)"),
        )  # fmt: skip

    @admin.action(description=_("Reactivate the selected suspended subscriptions"))
    def reactivate(self, request, queryset):
        count = hub.reactivate(queryset.values_list("pk", flat=True))
        self.message_user(
            request,
            ngettext(
                "%(count)d subscription reactivated: new events are queued for it again.",
                "%(count)d subscriptions reactivated: new events are queued for them again.",
                count,
            )
            % {"count": count},
            messages.SUCCESS if count else messages.WARNING,
        )
