from django.contrib import admin

from .models import AdapterCall, OutboxProbe, PullCursor


@admin.register(AdapterCall)
class AdapterCallAdmin(admin.ModelAdmin):
    list_display = (
        "created_at", "app", "operation", "status", "attempts", "send_count", "duration_ms",
        "ticket",
    )  # fmt: skip
    list_filter = ("app", "status")
    search_fields = ("idempotency_key",)
    raw_id_fields = ("ticket", "incident", "log_entry")
    readonly_fields = (
        "request", "response", "error", "attempts", "duration_ms", "dispatched_at",
        "last_sent_at", "due_at", "send_count", "lease_until", "finished_at",
    )  # fmt: skip
    show_full_result_count = False


@admin.register(OutboxProbe)
class OutboxProbeAdmin(admin.ModelAdmin):
    list_display = ("queue", "sent_at", "passed_until", "passed_at")
    readonly_fields = ("queue", "sent_at", "passed_until", "passed_at")

    def has_add_permission(self, request) -> bool:
        return False  # the outbox sweep keeps these rows


@admin.register(PullCursor)
class PullCursorAdmin(admin.ModelAdmin):
    list_display = ("source", "pulled_until")
