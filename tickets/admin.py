"""Django admin for configuration and inspection.

Tickets, gamas incidents, escalations and the transition log are view-only here: every write to
them goes through the services (`tickets.services`), which keep the rules, the log row, the queue
flag and the SLA marks together. An admin who needs to change a ticket uses the console
(reassign, release, priority, the flow's actions), where those rules apply."""

import json

import holidays
from django.contrib import admin, messages
from django.http import StreamingHttpResponse
from django.template import engines
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from . import roles
from .forms_supervisor import BusinessCalendarForm, SiteForm, SlaPolicyForm
from .models import (
    AgentProfile,
    Broadcast,
    BusinessCalendar,
    CalendarDay,
    Campaign,
    ContactAttempt,
    Customer,
    CustomerMessage,
    Escalation,
    GamasIncident,
    MessageTemplate,
    Note,
    SecurityEvent,
    Service,
    Site,
    SlaPolicy,
    Ticket,
    TransitionLog,
)


class ViewOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the services: listed and shown, never added, changed or deleted."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TransitionInline(ReadOnlyInline):
    model = TransitionLog
    fields = ("at", "actor", "transition", "from_state", "to_state", "note")


class ContactInline(ReadOnlyInline):
    model = ContactAttempt
    fields = ("at", "agent", "outcome", "phone", "note")


class NoteInline(ReadOnlyInline):
    model = Note
    fields = ("created_at", "author", "text")


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    form = SiteForm
    list_display = ("code", "name", "calendar", "dispatch_mode", "offer_seconds")
    list_select_related = ("calendar",)


# --- Business calendars (docs/calendars.md) ---------------------------------------------------
class CalendarDayInline(admin.TabularInline):
    """The calendar's own dates; a date once per calendar (the formset and the database
    constraint `calendar_day_once` refuse a second)."""

    model = CalendarDay
    fields = ("date", "name", "kind")
    extra = 1
    ordering = ("-date",)


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    """Calendars with their days inline, and the national closed days the calendar takes from
    the holidays library shown beside them (read-only), for this year and the next."""

    form = BusinessCalendarForm
    list_display = (
        "name", "time_zone", "day_starts", "day_ends", "weekday_names", "national_holidays",
        "collective_leave",
    )  # fmt: skip
    search_fields = ("name",)
    inlines = (CalendarDayInline,)
    readonly_fields = ("national_days",)

    @admin.display(description=gettext_lazy("Working weekdays"))
    def weekday_names(self, calendar):
        from .forms_supervisor import WEEKDAYS

        names = dict(WEEKDAYS)
        return ", ".join(str(names[day]) for day in sorted(calendar.weekdays or ()))

    @admin.display(description=gettext_lazy("National closed days (holidays library)"))
    def national_days(self, calendar):
        if calendar.pk is None:
            return "—"
        year = timezone.localdate().year
        categories = [
            category
            for category, wanted in (
                (holidays.PUBLIC, calendar.national_holidays),
                (holidays.GOVERNMENT, calendar.collective_leave),
            )
            if wanted
        ]
        if not categories:
            return _("None: this calendar works on national holidays and collective leave days.")
        language = "id" if (get_language() or "").startswith("id") else "en_US"
        found = holidays.country_holidays(
            "ID", years=[year, year + 1], categories=categories, language=language
        )
        rows = ((day.isoformat(), name) for day, name in sorted(found.items()))
        return format_html_join(mark_safe("<br>"), "{} {}", rows)


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ("date", "name", "kind", "calendar")
    list_filter = ("calendar", "kind")
    search_fields = ("name",)
    date_hierarchy = "date"
    list_select_related = ("calendar",)


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "site", "flows", "agent_code", "availability", "capacity")
    list_filter = ("site", "availability")
    search_fields = ("user__username", "agent_code")
    autocomplete_fields = ("user",)
    # Availability and capacity change through the dispatch service (the supervisors' agents
    # page, the API), which withdraws offers and checks the values: shown here, not edited.
    readonly_fields = (
        "availability", "availability_since", "capacity", "flow_capacity", "last_assigned_at",
        "last_seen_at",
    )  # fmt: skip


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("name", "phone", "email")
    search_fields = ("name", "phone")
    actions = ["erase_personal_data"]  # defined below, with the security log
    # The customer's message wishes are set in the console or the API, where their rules apply.
    readonly_fields = (
        "messages_opt_out", "message_channel", "message_language", "quiet_from", "quiet_until",
    )  # fmt: skip

    def has_erase_permission(self, request) -> bool:
        return roles.is_admin(request.user)


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ("service_number", "customer", "package", "sto", "olt", "odp")
    search_fields = ("service_number", "customer__name")
    list_select_related = ("customer",)
    raw_id_fields = ("customer",)


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    """Deleting goes through `delete_campaign`: a campaign that tickets or imports use is
    refused at once on the confirmation page (counted, not collected: Django's collector would
    load and list every one of its tickets)."""

    list_display = ("code", "name", "flow", "offer_code", "active", "starts_on", "ends_on")
    list_filter = ("flow", "active")
    search_fields = ("code", "name")

    def get_deleted_objects(self, objs, request):
        from .services.campaigns import campaign_usage, refusal

        objs = list(objs)
        usage = campaign_usage(obj.pk for obj in objs)
        if usage:
            # Shown as the "protected" objects: the page refuses and the POST deletes nothing.
            protected = [
                f"{obj}: {refusal(usage[obj.pk]).message}" for obj in objs if obj.pk in usage
            ]
            return [], {}, set(), protected
        return super().get_deleted_objects(objs, request)

    def delete_model(self, request, obj):
        from .services.campaigns import delete_campaign

        delete_campaign(campaign_id=obj.pk, actor=request.user)

    def delete_queryset(self, request, queryset):
        from .services.campaigns import delete_campaign

        for campaign_id in queryset.values_list("pk", flat=True):
            delete_campaign(campaign_id=campaign_id, actor=request.user)


@admin.register(GamasIncident)
class GamasIncidentAdmin(ViewOnlyAdmin):
    list_display = ("number", "title", "area_level", "area_code", "state", "opened_at")
    list_filter = ("state", "area_level")
    search_fields = ("title", "area_code")


@admin.register(Ticket)
class TicketAdmin(ViewOnlyAdmin):
    list_display = (
        "number", "flow", "state", "priority", "site", "service", "assignee", "sla_status",
        "resolve_by", "created_at",
    )  # fmt: skip
    list_filter = ("flow", "state", "site", "priority", "sla_status")
    search_fields = ("=id", "service__service_number", "nossa_number", "source_ref")
    list_select_related = ("site", "service", "assignee")
    show_full_result_count = False  # no COUNT(*) over a million rows on every page
    inlines = (TransitionInline, ContactInline, NoteInline)


@admin.register(TransitionLog)
class TransitionLogAdmin(ViewOnlyAdmin):
    list_display = ("at", "ticket", "incident", "actor", "transition", "from_state", "to_state")
    list_filter = ("transition",)
    raw_id_fields = ("ticket", "incident", "actor")
    show_full_result_count = False


@admin.register(Escalation)
class EscalationAdmin(ViewOnlyAdmin):
    list_display = ("ticket", "status", "raised_by", "raised_at", "due_at", "answered_by")
    list_filter = ("status",)
    raw_id_fields = ("ticket", "raised_by", "support_assignee", "answered_by")


# --- Customer messages: written by the services; templates are edited in the console ---------
@admin.register(MessageTemplate)
class MessageTemplateAdmin(ViewOnlyAdmin):
    list_display = ("event", "flow", "channel", "whatsapp_name", "whatsapp_status", "active")
    list_filter = ("event", "channel", "active")


@admin.register(CustomerMessage)
class CustomerMessageAdmin(ViewOnlyAdmin):
    list_display = ("created_at", "event", "channel", "status", "customer", "ticket")
    list_filter = ("status", "event", "channel")
    raw_id_fields = ("customer", "ticket", "incident", "call", "template")


@admin.register(Broadcast)
class BroadcastAdmin(ViewOnlyAdmin):
    list_display = ("incident", "event", "done", "total", "started_at", "finished_at")


class SlaPolicyAdminForm(SlaPolicyForm):
    """The console's policy rules (a named calendar when one is chosen, targets that fit the
    calendars it counts on) in the admin too, so no policy that breaks deadline arithmetic can
    be saved from either."""

    class Meta(SlaPolicyForm.Meta):
        fields = ["flow", "priority", *SlaPolicyForm.Meta.fields]


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    form = SlaPolicyAdminForm
    list_display = (
        "flow", "priority", "claim_minutes", "resolve_minutes", "escalation_answer_minutes",
        "hours", "calendar",
    )  # fmt: skip
    list_filter = ("flow", "hours", "calendar")
    list_select_related = ("calendar",)


# --- Security log and personal data protection (docs/data-protection.md) ----------------------
def _security_log_rows(queryset):
    yield [
        _("At"), _("Kind"), _("Actor"), _("Target user"), _("IP address"), _("User agent"),
        _("Detail"),
    ]  # fmt: skip
    for event in queryset.order_by("at", "pk").iterator(chunk_size=2000):
        yield [
            timezone.localtime(event.at).strftime("%Y-%m-%d %H:%M:%S"), event.kind,
            event.actor_username, event.target_username, event.ip_address or "",
            event.user_agent, json.dumps(event.detail, ensure_ascii=False, sort_keys=True),
        ]  # fmt: skip


@admin.register(SecurityEvent)
class SecurityEventAdmin(ViewOnlyAdmin):
    """The security log, for admins only: view-only, filtered by kind, user and date, and
    exported as CSV by an action that is itself logged."""

    list_display = ("at", "kind", "actor_username", "target_username", "ip_address", "detail")
    list_filter = (
        "kind",
        ("at", admin.DateFieldListFilter),
        ("actor", admin.RelatedOnlyFieldListFilter),
        ("target_user", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("actor_username", "target_username", "=ip_address")
    date_hierarchy = "at"
    show_full_result_count = False
    actions = ["export_csv"]

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff and roles.is_admin(request.user)

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    @admin.action(description=gettext_lazy("Export the selected events as CSV"))
    def export_csv(self, request, queryset):
        from .services import security
        from .views.exports import csv_lines

        rows = security.logged_export(
            _security_log_rows(queryset), actor=request.user, what="security_log", request=request
        )
        response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
        stamp = timezone.localdate().isoformat()
        response["Content-Disposition"] = f'attachment; filename="tier2-security-log_{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        return response


ERASE_CONFIRMATION = """{% extends "admin/base_site.html" %}{% load i18n %}
{% block content %}<form method="post">{% csrf_token %}
<p>{{ question }}</p><ul>{% for customer in customers %}<li>#{{ customer.pk }}</li>{% endfor %}</ul>
{% for customer in customers %}
<input type="hidden" name="_selected_action" value="{{ customer.pk }}">{% endfor %}
<input type="hidden" name="action" value="erase_personal_data">
<input type="hidden" name="confirm_erasure" value="yes">
<input type="submit" value="{{ button }}">
<a href="" class="button cancel-link">{% translate "No, take me back" %}</a>
</form>{% endblock %}"""


@admin.action(
    description=gettext_lazy("Erase personal data (erasure request, cannot be undone)"),
    permissions=["erase"],
)
def erase_personal_data(modeladmin, request, queryset):
    """UU PDP erasure request: each selected customer's personal data is anonymised now,
    unless they have an open ticket; every erasure and refusal goes to the security log."""
    from django.template.response import TemplateResponse

    from .services import privacy

    if request.POST.get("confirm_erasure") != "yes":
        context = {
            **modeladmin.admin_site.each_context(request),
            "customers": list(queryset.order_by("pk")),
            "question": _(
                "Erase the personal data of these customers? Names, phones, emails, addresses, "
                "call records and notes are anonymised for good; tickets and statistics stay."
            ),
            "button": _("Yes, erase"),
            "title": _("Erase personal data"),
        }
        template = engines["django"].from_string(ERASE_CONFIRMATION)
        return TemplateResponse(request, template, context)
    for customer_id in queryset.order_by("pk").values_list("pk", flat=True):
        try:
            privacy.erase_customer(customer_id=customer_id, actor=request.user, request=request)
        except privacy.ErasureRefused as refusal:
            modeladmin.message_user(request, str(refusal.message), messages.ERROR)
        else:
            modeladmin.message_user(
                request, _("Customer #%(id)d: personal data erased.") % {"id": customer_id}
            )
    return None


CustomerAdmin.erase_personal_data = erase_personal_data
