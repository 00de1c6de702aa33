from django.contrib import admin

from .models import AdapterCall, PullCursor


@admin.register(AdapterCall)
class AdapterCallAdmin(admin.ModelAdmin):
    list_display = ("created_at", "app", "operation", "status", "attempts", "duration_ms", "ticket")
    list_filter = ("app", "status")
    search_fields = ("idempotency_key",)
    raw_id_fields = ("ticket", "incident", "log_entry")
    readonly_fields = ("request", "response", "error", "attempts", "duration_ms")
    show_full_result_count = False


@admin.register(PullCursor)
class PullCursorAdmin(admin.ModelAdmin):
    list_display = ("source", "pulled_until")
