"""Django admin for configuration and inspection.

Tickets, gamas incidents, escalations and the transition log are view-only here: every write to
them goes through the services (`tickets.services`), which keep the rules, the log row, the queue
flag and the SLA marks together. An admin who needs to change a ticket uses the console
(reassign, release, priority, the flow's actions), where those rules apply."""

from django.contrib import admin

from .forms_supervisor import SlaPolicyForm
from .models import (
    AgentProfile,
    Campaign,
    ContactAttempt,
    Customer,
    Escalation,
    GamasIncident,
    Note,
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
    list_display = ("code", "name")


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "site", "flows", "agent_code")
    list_filter = ("site",)
    search_fields = ("user__username", "agent_code")
    autocomplete_fields = ("user",)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("name", "phone", "email")
    search_fields = ("name", "phone")


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


class SlaPolicyAdminForm(SlaPolicyForm):
    """The console's policy rules (a calendar with working time, targets that fit it) in the
    admin too, so no policy that breaks deadline arithmetic can be saved from either."""

    class Meta(SlaPolicyForm.Meta):
        fields = ["flow", "priority", *SlaPolicyForm.Meta.fields]


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    form = SlaPolicyAdminForm
    list_display = (
        "flow", "priority", "claim_minutes", "resolve_minutes", "escalation_answer_minutes",
        "business_hours_only",
    )  # fmt: skip
    list_filter = ("flow", "business_hours_only")
