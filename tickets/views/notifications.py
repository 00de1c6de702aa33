"""A user's notifications: the list (mark read) and the toast one of them shows when it arrives.

The live console (`static/js/live.js`) is told only a notification's id over the WebSocket; it
fetches the toast from here, so its text is read through the same selector as the list: a
user's own notifications, nobody else's.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods

from .. import selectors, services
from ..services.dispatch import OFFERED
from .dispatch import pending_offers_of
from .mixins import redirect_to
from .paging import keyset_page

KIND_LABELS = {
    "sla_at_risk": gettext_lazy("SLA at risk"),
    "sla_breached": gettext_lazy("SLA breached"),
    "escalation_assigned": gettext_lazy("Escalation for you"),
    "escalation_answered": gettext_lazy("Support answered"),
    "escalation_resolved": gettext_lazy("Support resolved"),
    "escalation_overdue": gettext_lazy("Escalation overdue"),
    "ticket_reassigned": gettext_lazy("Ticket given to you"),
    "ticket_offered": gettext_lazy("Ticket offered to you"),
}


def kind_label(kind: str) -> str:
    return str(KIND_LABELS.get(kind, kind.replace("_", " ")))


def notification_row(notification) -> dict:
    return {
        "pk": notification.pk,
        "kind": notification.kind,
        "kind_label": kind_label(notification.kind),
        "message": notification.message,
        "created_at": notification.created_at,
        "unread": notification.read_at is None,
        "ticket_url": reverse("ticket", args=[notification.ticket_id])
        if notification.ticket_id
        else "",
        "ticket_number": notification.ticket.number if notification.ticket_id else "",
    }


def _ids(values) -> list[int]:
    return [int(value) for value in values if str(value).isdigit()]


@login_required
@require_http_methods(["GET", "POST"])
def notifications(request):
    """The user's notifications, newest first; POST marks them read (`id`s, or all)."""
    if request.method == "POST":
        ids = None if request.POST.get("all") else _ids(request.POST.getlist("id"))
        marked = services.mark_notifications_read(user=request.user, ids=ids)
        if marked:
            messages.success(
                request,
                ngettext(
                    "%(count)d notification marked read.",
                    "%(count)d notifications marked read.",
                    marked,
                )
                % {"count": marked},
            )
        return redirect_to(request, reverse("notifications"))
    rows = selectors.notifications_of(request.user)
    page = keyset_page(
        rows,
        ("-created_at", "-id"),
        after=request.GET.get("after"),
        before=request.GET.get("before"),
    )
    return render(
        request,
        "tickets/notifications.html",
        {
            "rows": [notification_row(item) for item in page.rows],
            "page": page,
            "unread": selectors.unread_notification_count(request.user),
        },
    )


@login_required
@require_GET
def notification_toast(request, pk: int):
    """One notification as a toast (an HTML fragment), for the user it belongs to only."""
    notification = get_object_or_404(selectors.notifications_of(request.user), pk=pk)
    offer = None
    if notification.kind == OFFERED and notification.ticket_id:
        # An offer still waiting for this agent's answer: the toast carries its buttons.
        offer = next(
            (
                item
                for item in pending_offers_of(request.user)
                if item.ticket_id == notification.ticket_id
            ),
            None,
        )
    return render(
        request, "tickets/_toast.html", {"n": notification_row(notification), "offer": offer}
    )
