"""The supervisor dashboard and the SLG compensation list.

The numbers come from `tickets.dashboards` (live tiles and ageing from open tickets, agent table
and trends from the daily roll-ups). This room adds the table of tickets at risk or breached,
from which a supervisor releases a ticket to the queue or hands it to another agent through
`services.release_ticket` / `services.reassign_ticket`; a refusal shows as a message
(`mixins.maps_domain_errors`).

Filters (date range, site, flow) travel in the query string, so a filtered page can be
bookmarked, refreshed live (the tiles poll with htmx) and exported as CSV with the same filter.
Date ranges apply to the numbers over days (within-SLA %, agent table, trends, SLG list); the
live numbers (backlog, at risk, breached, oldest, ageing) are about open tickets now.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from tier2.replica import replica_reads

from .. import dashboards, roles, services
from ..dashboards import AT_RISK_LIMIT, DashboardFilter, tickets_at_risk
from ..forms_supervisor import DashboardFilterForm, ReassignForm, ReleaseForm, trailing
from ..models import Flow, Site, Ticket
from .access import supervisor_required
from .mixins import maps_domain_errors, redirect_to, safe_next
from .presenters import deadline_of, flow_label, state_label

SLG_PAGE_SIZE = 100
TREND_DAYS = (7, 30)
LIVE_REFRESH_SECONDS = 30
AGEING_LABELS = {
    "lt_1h": gettext_lazy("< 1 hour"),
    "1h_4h": gettext_lazy("1–4 hours"),
    "4h_24h": gettext_lazy("4–24 hours"),
    "1d_3d": gettext_lazy("1–3 days"),
    "gt_3d": gettext_lazy("> 3 days"),
}


def active_agents() -> list:
    """Active users with a site and the agents' permission, ready for `roles.may_work_ticket`.

    Their permission sets are read in two queries for all of them and put where Django's
    ModelBackend keeps them per user object, so checking each agent costs no query.
    """
    user_model = get_user_model()
    via_group = user_model.groups.through.objects.filter(
        group__permissions__codename="work_ticket"
    ).values("user_id")
    via_user = user_model.user_permissions.through.objects.filter(
        permission__codename="work_ticket"
    ).values("user_id")
    # Subqueries, not joins with DISTINCT: joined, PostgreSQL misjudged the row count by
    # millions and spent most of a second JIT-compiling a plan for 50 users.
    agents = list(
        user_model.objects.filter(is_active=True, profile__site__isnull=False)
        .filter(Q(pk__in=via_group) | Q(pk__in=via_user) | Q(is_superuser=True))
        .select_related("profile__site")
        .order_by("username")
    )
    ids = [agent.pk for agent in agents]
    held: dict[int, set[str]] = defaultdict(set)
    for lookup in ("group__user", "user"):
        rows = Permission.objects.filter(**{f"{lookup}__in": ids}).values_list(
            lookup, "content_type__app_label", "codename"
        )
        for user_id, app_label, codename in rows:
            held[user_id].add(f"{app_label}.{codename}")
    for agent in agents:
        agent._perm_cache = held[agent.pk]
    return agents


def agents_by_queue(tickets, agents=None) -> dict[tuple[str, int], list[tuple[str, str]]]:
    """For each (flow, site) of `tickets`: (id, username) of the agents who may work it."""
    agents = active_agents() if agents is None else agents
    choices: dict[tuple[str, int], list[tuple[str, str]]] = {}
    for ticket in tickets:
        key = (ticket.flow, ticket.site_id)
        if key not in choices:
            choices[key] = [
                (str(agent.pk), agent.get_username())
                for agent in agents
                if roles.may_work_ticket(agent, ticket)
            ]
    return choices


# --- Page ------------------------------------------------------------------------------------
def site_choices() -> list[tuple[str, str]]:
    return list(Site.objects.order_by("code").values_list("code", "name"))


def filter_form(request, sites=None) -> DashboardFilterForm:
    return DashboardFilterForm(request.GET, sites=site_choices() if sites is None else sites)


def chart_data(trend: dashboards.Trend) -> dict:
    points = trend.points
    return {
        "labels": [point.day.strftime("%d/%m") for point in points],
        "series": [
            {"name": _("Arrived"), "key": "created", "values": [p.created for p in points]},
            {"name": _("Closed"), "key": "closed", "values": [p.closed for p in points]},
            {"name": _("Breached"), "key": "breached", "values": [p.breached for p in points]},
        ],
    }


def within_sla_chart(trend: dashboards.Trend) -> dict:
    points = trend.points
    return {
        "labels": [point.day.strftime("%d/%m") for point in points],
        "max": 100,
        "unit": "%",
        "series": [
            {
                "name": _("Closed within SLA (%)"),
                "key": "within",
                "values": [p.within_sla_percent for p in points],
            }
        ],
    }


def tile_totals(tiles: list[dashboards.Tile]) -> dashboards.Tile:
    total = dashboards.Tile(flow="", site="")
    for tile in tiles:
        total.backlog += tile.backlog
        total.at_risk += tile.at_risk
        total.breached += tile.breached
        total.closed += tile.closed
        total.closed_within_sla += tile.closed_within_sla
        if tile.oldest and (total.oldest is None or tile.oldest < total.oldest):
            total.oldest = tile.oldest
    return total


def live_context(filters: DashboardFilter, now, sites) -> dict:
    """The parts of the page that poll: tiles and ageing."""
    tiles = dashboards.flow_tiles(filters)
    site_names = dict(sites)
    buckets = dashboards.ageing(filters, now=now)
    ageing_rows = [
        (AGEING_LABELS[key], buckets[key] or 0) for key, _upper in dashboards.AGEING_BUCKETS
    ]
    return {
        "tiles": tiles,
        "site_names": site_names,
        "totals": tile_totals(tiles),
        "ageing": ageing_rows,
        "ageing_chart": {
            "labels": [str(label) for label, _count in ageing_rows],
            "series": [
                {"name": _("Open tickets"), "key": "open", "values": [c for _l, c in ageing_rows]}
            ],
        },
        "now": now,
        "refresh_seconds": LIVE_REFRESH_SECONDS,
    }


def at_risk_rows(filters: DashboardFilter) -> list[dict]:
    tickets = list(tickets_at_risk(filters))
    choices = agents_by_queue(tickets) if tickets else {}
    return [
        {
            "ticket": ticket,
            "flow_label": flow_label(ticket.flow),
            "state_label": state_label(ticket.flow, ticket.state),
            "deadline": deadline_of(ticket),
            "agents": [
                (pk, name)
                for pk, name in choices[(ticket.flow, ticket.site_id)]
                if pk != str(ticket.assignee_id)
            ],
        }
        for ticket in tickets
    ]


@supervisor_required
@replica_reads
def dashboard(request):
    sites = site_choices()
    form = filter_form(request, sites)
    filters = form.filters()
    now = timezone.now()
    query = form.query()
    trends = []
    for days in TREND_DAYS:
        trend = dashboards.trend(trailing(filters, days))
        trends.append(
            {
                "days": days,
                "chart_id": f"chart-trend-{days}",
                "within_id": f"chart-within-{days}",
                "export": f"trend-{days}",
                "trend": trend,
                "chart": chart_data(trend),
                "within_chart": within_sla_chart(trend),
            }
        )
    context = {
        "form": form,
        "filters": filters,
        "query": urlencode(query),
        "next_url": request.get_full_path(),
        "agents": dashboards.agent_table(filters),
        "trends": trends,
        "at_risk": at_risk_rows(filters),
        "at_risk_limit": AT_RISK_LIMIT,
        "flow_choices": Flow.choices,
        **live_context(filters, now, sites),
    }
    return render(request, "supervisor/dashboard.html", context)


@supervisor_required
@replica_reads
def dashboard_live(request):
    """The tiles and ageing alone, for the page's periodic refresh (htmx)."""
    sites = site_choices()
    form = filter_form(request, sites)
    filters = form.filters()
    context = {"query": urlencode(form.query()), **live_context(filters, timezone.now(), sites)}
    return render(request, "supervisor/_live.html", context)


def _back_to_dashboard(request, **kwargs) -> str:
    return safe_next(request, reverse("dashboard"))


@require_POST
@supervisor_required
@maps_domain_errors(_back_to_dashboard)
def release(request, pk: int):
    """Take the ticket away from its agent; it waits in the queue again."""
    form = ReleaseForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    ticket = services.release_ticket(ticket_id=pk, supervisor=request.user, note=note)
    messages.success(request, _("%(number)s is back in the queue.") % {"number": ticket.number})
    return redirect_to(request, _back_to_dashboard(request))


@require_POST
@supervisor_required
@maps_domain_errors(_back_to_dashboard)
def reassign(request, pk: int):
    """Hand the ticket to another agent who works its flow at its site."""
    ticket = get_object_or_404(Ticket.objects.select_related("site"), pk=pk)
    choices = agents_by_queue([ticket])[(ticket.flow, ticket.site_id)]
    form = ReassignForm(request.POST, agent_choices=choices)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"{ticket.number}: {error}")
        return redirect_to(request, _back_to_dashboard(request))
    agent = get_user_model().objects.get(pk=form.cleaned_data["agent"])
    services.reassign_ticket(
        ticket_id=pk, supervisor=request.user, agent=agent, note=form.cleaned_data["note"]
    )
    messages.success(
        request,
        _("%(number)s is with %(agent)s now.")
        % {"number": ticket.number, "agent": agent.get_username()},
    )
    return redirect_to(request, _back_to_dashboard(request))


# --- SLG ---------------------------------------------------------------------------------------
def slg_row(ticket: Ticket, now) -> dict:
    """One line of the compensation list: when the fault was first reported, when restoration
    was due, when it came (or that it has not yet), and by how long the guarantee was missed."""
    restored = ticket.closed_at
    late_by = (restored or now) - ticket.slg_due
    return {
        "ticket": ticket,
        "first_report": ticket.slg_due - timedelta(hours=settings.TIER2_SLG_HOURS),
        "restored": restored,
        "late_hours": round(late_by.total_seconds() / 3600, 1),
        "flow_label": flow_label(ticket.flow),
        "state_label": state_label(ticket.flow, ticket.state),
    }


@supervisor_required
@replica_reads
def slg_breaches(request):
    form = filter_form(request)
    filters = form.filters()
    now = timezone.now()
    paginator = Paginator(dashboards.slg_breaches(filters, now=now), SLG_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    query = form.query()
    return render(
        request,
        "supervisor/slg.html",
        {
            "form": form,
            "filters": filters,
            "query": urlencode(query),
            "page": page,
            "rows": [slg_row(ticket, now) for ticket in page.object_list],
            "slg_hours": settings.TIER2_SLG_HOURS,
        },
    )
