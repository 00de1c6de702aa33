"""SLA policies for admins: the targets of every flow and priority, and an editor for one.

Where no policy row exists the console uses the built-in default (`tickets.sla.default_policy`,
what `sla.policy_for` falls back to, 24x7); the list shows those as defaults. Saving the form
writes the row, with the hours its minutes count: 24x7, a business calendar, or the calendar of
each ticket's site (the calendars themselves are kept in the admin, docs/calendars.md); "use
the default again" deletes it. A policy counts for tickets that arrive (or change
priority) after it is saved: the deadlines already on open tickets stay as they were computed.
"""

from __future__ import annotations

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .. import sla
from ..forms_supervisor import WEEKDAYS, SlaPolicyForm
from ..models import BusinessCalendar, Flow, Priority, SlaHours, SlaPolicy
from .access import admin_required
from .mixins import redirect_to
from .workspace import INVALID


def _flow_and_priority(flow: str, priority: int) -> tuple[str, int]:
    if flow not in Flow.values or priority not in Priority.values:
        raise Http404(_("No such flow or priority."))
    return flow, priority


def calendar_summary(calendar: BusinessCalendar) -> str:
    """Its hours in a line: "Mon, Tue, Wed, Thu, Fri 08:00–17:00 WIB"."""
    names = dict(WEEKDAYS)
    days = ", ".join(str(names[day])[:3] for day in sorted(calendar.weekdays or ()))
    return f"{days} {calendar.day_starts:%H:%M}–{calendar.day_ends:%H:%M} {calendar.zone_name}"


def calendar_text(policy: SlaPolicy) -> str:
    """The hours a policy counts, as the list shows them."""
    if policy.hours == SlaHours.SITE:
        return _("The site's calendar")
    if policy.hours == SlaHours.CALENDAR and policy.calendar is not None:
        return f"{policy.calendar.name} · {calendar_summary(policy.calendar)}"
    return _("24x7")


def policy_table() -> list[dict]:
    """One block per flow, one row per priority: the saved policy or the default (one query)."""
    saved = {(row.flow, row.priority): row for row in SlaPolicy.objects.select_related("calendar")}
    table = []
    for flow, flow_name in Flow.choices:
        rows = []
        for priority, priority_name in Priority.choices:
            policy = saved.get((flow, priority)) or sla.default_policy(flow, priority)
            rows.append(
                {
                    "policy": policy,
                    "priority_name": priority_name,
                    "is_default": (flow, priority) not in saved,
                    "calendar": calendar_text(policy),
                    "edit_url": reverse("sla_policy_edit", args=[flow, priority]),
                }
            )
        table.append({"flow": flow, "name": flow_name, "rows": rows})
    return table


@admin_required
def policies(request):
    return render(request, "supervisor/sla_policies.html", {"flows": policy_table()})


def _render_edit(request, flow, priority, form, *, is_default, status=200):
    return render(
        request,
        "supervisor/sla_policy_form.html",
        {
            "form": form,
            "flow": flow,
            "flow_name": Flow(flow).label,
            "priority": priority,
            "priority_name": Priority(priority).label,
            "is_default": is_default,
            "default": sla.default_policy(flow, priority),
        },
        status=status,
    )


@admin_required
def edit(request, flow: str, priority: int):
    flow, priority = _flow_and_priority(flow, priority)
    policies = SlaPolicy.objects.select_related("calendar")
    saved = policies.filter(flow=flow, priority=priority).first()
    policy = saved or sla.default_policy(flow, priority)
    if request.method != "POST":
        form = SlaPolicyForm(instance=policy)
        return _render_edit(request, flow, priority, form, is_default=saved is None)
    form = SlaPolicyForm(request.POST, instance=policy)
    if form.is_valid():
        try:
            with transaction.atomic():
                form.save()
        except IntegrityError:
            # Another admin created this policy since the page was loaded.
            form.add_error(None, _("Someone else saved this policy meanwhile. Reload the page."))
        else:
            messages.success(
                request,
                _("SLA policy saved: %(flow)s, %(priority)s.")
                % {"flow": Flow(flow).label, "priority": Priority(priority).label},
            )
            return redirect_to(request, reverse("sla_policies"))
    messages.error(request, _("Check the highlighted fields. Nothing was saved."))
    return _render_edit(request, flow, priority, form, is_default=saved is None, status=INVALID)


@require_POST
@admin_required
def reset(request, flow: str, priority: int):
    """Delete the policy row: the built-in default counts again."""
    flow, priority = _flow_and_priority(flow, priority)
    deleted, _rows = SlaPolicy.objects.filter(flow=flow, priority=priority).delete()
    if deleted:
        messages.success(
            request,
            _("%(flow)s, %(priority)s uses the default targets again.")
            % {"flow": Flow(flow).label, "priority": Priority(priority).label},
        )
    return redirect_to(request, reverse("sla_policies"))
