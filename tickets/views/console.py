"""Console pages. Views translate HTTP to service and selector calls and back, nothing more.

This room holds the landing page and the public flow diagrams; the queues, the workspace, the
customer panel and the gamas incidents have rooms of their own beside it.
"""

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from .. import roles, selectors
from ..diagrams import graph_of, table_rows
from ..flows import FLOWS, GamasIncidentMachine
from ..models import Flow
from .queues import queues_of


def _url_or_none(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def _desk_url() -> str:
    """Support's escalation desk, or the queue of escalated tickets where there is none."""
    try:
        return reverse("escalation_desk")
    except NoReverseMatch:
        return f"{reverse('queue', args=['all'])}?state=escalated"


@login_required
def home(request):
    """Where a user lands: their queues with what waits in them, and their role's links."""
    user = request.user
    waiting = {}
    mine = 0
    if roles.is_agent(user):
        visible = selectors.visible_tickets(user)
        waiting = dict(
            visible.filter(awaiting_agent=True)
            .order_by()
            .values_list("flow")
            .annotate(total=Count("id"))
        )
        mine = visible.filter(assignee=user, closed_at__isnull=True).count()
    queues = [
        {"slug": slug, "label": label, "waiting": waiting.get(slug)}
        for slug, label in queues_of(user)
    ]
    return render(
        request,
        "home.html",
        {
            "queues": queues,
            "mine": mine,
            "is_agent": roles.is_agent(user),
            "is_support": roles.is_support(user),
            "is_supervisor": roles.is_supervisor(user),
            "open_escalations": selectors.open_escalations().count()
            if roles.is_support(user)
            else None,
            "desk_url": _desk_url(),
            "dashboard_url": _url_or_none("dashboard") if roles.is_supervisor(user) else None,
        },
    )


def flow_diagrams(request):
    """SOP section 8, restored: every flow drawn from its machine (public: it is the SOP).

    Each flow goes to the page as a graph (`diagrams.graph_of`) that the browser lays out and
    draws, and as the table that says the same in words.
    """
    machines = [
        (code, f"8.{index}", machine, Flow(code).label)
        for index, (code, machine) in enumerate(FLOWS.items(), start=1)
    ]
    incident = _("IVR Gamas: the incident (parent)")
    machines.insert(3, ("gamas_incident", "8.3", GamasIncidentMachine, incident))
    diagrams = []
    for code, number, machine, title in machines:
        graph = graph_of(machine, code=code, title=str(title))
        diagrams.append(
            {
                "code": code,
                "number": number,
                "graph": graph,
                "graph_id": f"graph-{code}",
                "table": table_rows(graph, machine),
            }
        )
    return render(request, "tickets/flows.html", {"diagrams": diagrams})
