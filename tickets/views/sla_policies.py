"""SLA policies for admins: the targets of every flow and priority, and an editor for one.

Where no policy row exists the console uses the built-in default (`tickets.sla.default_policy`,
what `sla.policy_for` falls back to); the list shows those as defaults. Saving the form writes
the row; "use the default again" deletes it. A policy counts for tickets that arrive (or change
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
from ..models import Flow, Priority, SlaPolicy
from .access import admin_required
from .mixins import redirect_to
from .workspace import INVALID


def _flow_and_priority(flow: str, priority: int) -> tuple[str, int]:
    if flow not in Flow.values or priority not in Priority.values:
        raise Http404(_("No such flow or priority."))
    return flow, priority


def calendar_text(policy: SlaPolicy) -> str:
    if not (policy.business_hours_only and policy.day_starts and policy.day_ends):
        return _("24x7")
    names = dict(WEEKDAYS)
    days = ", ".join(str(names[day])[:3] for day in sorted(policy.business_weekdays or range(5)))
    return f"{days} {policy.day_starts:%H:%M}–{policy.day_ends:%H:%M}"


def policy_table() -> list[dict]:
    """One block per flow, one row per priority: the saved policy or the default (one query)."""
    saved = {(row.flow, row.priority): row for row in SlaPolicy.objects.all()}
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
    saved = SlaPolicy.objects.filter(flow=flow, priority=priority).first()
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
