"""Django admin for configuration and inspection. Ticket state is read-only here: states change
only through the flow services, so the admin never bypasses a rule or the transition log."""

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
    list_display = ("code", "name", "flow", "offer_code", "active", "starts_on", "ends_on")
    list_filter = ("flow", "active")
    search_fields = ("code", "name")


@admin.register(GamasIncident)
class GamasIncidentAdmin(admin.ModelAdmin):
    list_display = ("number", "title", "area_level", "area_code", "state", "opened_at")
    list_filter = ("state", "area_level")
    search_fields = ("title", "area_code")
    readonly_fields = ("state", "recovered_at", "closed_at", "closing_code")


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = (
        "number", "flow", "state", "priority", "site", "service", "assignee", "sla_status",
        "resolve_by", "created_at",
    )  # fmt: skip
    list_filter = ("flow", "state", "site", "priority", "sla_status")
    search_fields = ("=id", "service__service_number", "nossa_number", "source_ref")
    list_select_related = ("site", "service", "assignee")
    raw_id_fields = ("service", "previous_ticket", "gamas_incident", "campaign", "assignee")
    readonly_fields = ("state", "awaiting_agent", "closed_at", "closing_code", "escalated_from")
    show_full_result_count = False  # no COUNT(*) over a million rows on every page
    inlines = (TransitionInline, ContactInline, NoteInline)


@admin.register(TransitionLog)
class TransitionLogAdmin(admin.ModelAdmin):
    list_display = ("at", "ticket", "incident", "actor", "transition", "from_state", "to_state")
    list_filter = ("transition",)
    raw_id_fields = ("ticket", "incident", "actor")
    show_full_result_count = False

    def has_change_permission(self, request, obj=None):
        return False  # append-only

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Escalation)
class EscalationAdmin(admin.ModelAdmin):
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
