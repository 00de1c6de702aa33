"""The queues: one per flow the agent works, "my tickets", all tickets for the floor; and the
Next ticket button.

A queue is `selectors.queue_queryset(user)` narrowed to the queue, filtered by the same
`TicketQueueFilter` the API uses, counted per state by `selectors.state_counts`, and paged by
keyset (`paging.keyset_page`). The page refreshes its results every few seconds with htmx from
its own URL, so the filter the agent set is kept.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from tier2.replica import replica_reads

from .. import roles, selectors, services
from ..filtersets import SORTS, TicketQueueFilter, sort_keys
from ..flows import FLOWS
from ..models import Priority, Site, SlaStatus
from .mixins import maps_domain_errors, redirect_to, safe_next
from .paging import keyset_page
from .presenters import flow_label, priority_class, sla_view, state_label, states_of

MINE, ALL = "mine", "all"
REFRESH_SECONDS = 20
SORT_LABELS = {
    "urgent": gettext_lazy("Most urgent first"),  # the running deadline (filtersets.SORTS)
    "resolve_by": gettext_lazy("Resolve-by deadline"),
    "priority": gettext_lazy("Priority"),
    "newest": gettext_lazy("Newest first"),
    "oldest": gettext_lazy("Oldest first"),
}
OPEN_CHOICES = (
    ("true", gettext_lazy("Open only")),
    ("false", gettext_lazy("Closed only")),
    ("all", gettext_lazy("Open and closed")),
)
# Query parameters that belong to the page position, not to the filter.
PAGE_PARAMS = ("after", "before")


def sees_the_floor(user) -> bool:
    return roles.is_supervisor(user) or roles.is_support(user) or roles.is_admin(user)


def flows_of(user) -> list[str]:
    """The flows whose tickets a user sees in the queues."""
    if sees_the_floor(user):
        return list(FLOWS)
    return selectors.agent_flows(user) if roles.is_agent(user) else []


def queues_of(user) -> list[tuple[str, str]]:
    """(slug, label) of the queues a user works: "my tickets" and their flows for agents; every
    flow and all tickets for supervisors, Support and admins."""
    tabs: list[tuple[str, str]] = []
    if roles.is_agent(user):
        tabs.append((MINE, _("My tickets")))
    if sees_the_floor(user):
        tabs.append((ALL, _("All tickets")))
    tabs += [(flow, flow_label(flow)) for flow in flows_of(user)]
    return tabs


def default_queue(user) -> str:
    return MINE if roles.is_agent(user) else ALL


def _filter_data(query) -> tuple[dict, str]:
    """The filterset's data from the page's query string, and the sort key.

    The page shows open tickets unless asked otherwise (`open=false` closed, `open=all` both).
    """
    data = query.copy()
    for key in PAGE_PARAMS:
        data.pop(key, None)
    sort = data.pop("sort", ["urgent"])[-1]
    if sort not in SORTS:
        sort = "urgent"
    scope = data.get("open", "true")
    if scope == "all":
        data.pop("open", None)
    elif scope not in ("true", "false"):
        data["open"] = "true"
    else:
        data["open"] = scope
    return data, sort


def queue_rows(tickets) -> list[dict]:
    """The page's rows as plain values: a queue page renders 50 of them every refresh, and the
    template engine is slower at looking things up than Python is at preparing them."""
    now = timezone.now()
    flows = {code: flow_label(code) for code in FLOWS}
    priorities = {code: str(label) for code, label in Priority.choices}
    sla_labels = {code: str(label) for code, label in SlaStatus.choices}  # the sweep's marks
    rows = []
    for ticket in tickets:
        sla = sla_view(ticket, now)
        rows.append(
            {
                "pk": ticket.pk,
                "url": reverse("ticket", args=[ticket.pk]),
                "number": ticket.number,
                "summary": ticket.summary,
                "flow": flows.get(ticket.flow, ticket.flow),
                "state": state_label(ticket.flow, ticket.state),
                "priority": priorities.get(ticket.priority, ticket.priority),
                "priority_class": priority_class(ticket.priority),
                "customer": ticket.service.customer.name,
                "service_number": ticket.service.service_number,
                "nossa_number": ticket.nossa_number,
                "site": ticket.site.code,
                "assignee": ticket.assignee.get_username() if ticket.assignee_id else "",
                "sla_status": ticket.sla_status,
                "sla_label": sla_labels.get(ticket.sla_status, ticket.sla_status),
                "sla": sla,  # the running deadline's countdown and badge
            }
        )
    return rows


def count_label(count: int, *, over: bool | None = None) -> str:
    """A capped count as a tab shows it: "12", or "1,000+" (grouped as the language writes
    numbers) once past `selectors.COUNT_CAP`; `over` says a sum holds a capped count."""
    if over is None:
        over = count > selectors.COUNT_CAP
        count = min(count, selectors.COUNT_CAP)
    return number_format(count, force_grouping=True) + ("+" if over else "")


def queue_context(request, slug: str) -> dict:
    user = request.user
    tabs = queues_of(user)
    if slug not in dict(tabs):
        if slug in FLOWS or slug in (MINE, ALL):
            raise PermissionDenied(_("This queue is not one you work."))
        raise Http404(_("No such queue."))

    base = selectors.queue_queryset(user)
    if slug == MINE:
        base = base.filter(assignee=user)
    elif slug in FLOWS:
        base = base.filter(flow=slug)

    data, sort = _filter_data(request.GET)
    filterset = TicketQueueFilter(data, queryset=base, request=request)
    open_scope = {"true": True, "false": False}.get(data.get("open"))  # None: both
    tickets = filterset.qs
    if data.get("state") and not selectors.state_in_scope(data["state"], open_scope):
        # "closed" among open tickets (or an open state among closed ones) holds nothing: said
        # without asking, where the database would walk every open ticket to find none
        tickets = tickets.none()
    page = keyset_page(
        tickets,
        sort_keys(sort, closed_only=open_scope is False),
        after=request.GET.get("after"),
        before=request.GET.get("before"),
    )

    user_flows = flows_of(user)
    flow = slug if slug in FLOWS else (data.get("flow") if data.get("flow") in FLOWS else None)
    if flow is None and len(user_flows) == 1:
        flow = user_flows[0]
    state_choices = states_of(flow) if flow else states_of(None, among=user_flows)
    state_labels = dict(states_of(None)) | dict(state_choices)
    chosen_state = data.get("state", "")
    without_state = data.copy()
    without_state.pop("state", None)
    asked = [code for code, _label in state_choices] + ([chosen_state] if chosen_state else [])
    counts = selectors.queue_state_counts(
        TicketQueueFilter(without_state, queryset=base, request=request).qs,
        asked,
        open_scope=open_scope,
    )
    state_tabs = [
        {
            "code": code,
            "label": state_labels.get(code, code),
            "count": count_label(counts[code]),
            "active": code == chosen_state,
        }
        for code, _label in state_choices
        if counts.get(code)
    ]
    counted = [counts.get(chosen_state, 0)] if chosen_state else list(counts.values())
    cap = selectors.COUNT_CAP
    floor = sees_the_floor(user)
    base_query = request.GET.copy()
    for key in (*PAGE_PARAMS, "state"):
        base_query.pop(key, None)
    position = request.GET.copy()
    for key in PAGE_PARAMS:
        position.pop(key, None)
    return {
        "queue": slug,
        "queue_label": dict(tabs)[slug],
        "tabs": tabs,
        "filterset": filterset,
        "values": {
            "q": data.get("q", ""),
            "state": chosen_state,
            "priority": data.get("priority", ""),
            "sla_status": data.get("sla_status", ""),
            "site": data.get("site", ""),
            "assignee": data.get("assignee", ""),
            "flow": data.get("flow", ""),
            "open": request.GET.get("open", "true"),
            "sort": sort,
        },
        "page": page,
        "rows": queue_rows(page.rows),
        "total": count_label(sum(min(n, cap) for n in counted), over=max(counted, default=0) > cap),
        "state_tabs": state_tabs,
        "state_choices": state_choices,
        "priorities": Priority.choices,
        "sla_statuses": SlaStatus.choices,
        "sorts": [(key, SORT_LABELS[key]) for key in SORTS],
        "open_choices": OPEN_CHOICES,
        "flows": [(code, flow_label(code)) for code in user_flows]
        if slug in (MINE, ALL) and len(user_flows) > 1
        else [],
        "sites": list(Site.objects.values_list("code", "name")) if floor else [],
        "show_assignee_filter": slug != MINE,
        "query_without_state": base_query.urlencode(),
        "query_here": position.urlencode(),
        "refresh_seconds": REFRESH_SECONDS,
    }


@login_required
def queue(request, slug: str | None = None):
    """A queue page; an htmx request (the filter form, the auto-refresh) gets the results only.
    A search (the `q` filter: customer, service, NOSSA or ticket number) reads from the replica."""
    if request.GET.get("q", "").strip():
        return _search(request, slug)
    return _queue(request, slug)


@replica_reads
def _search(request, slug: str | None):
    return _queue(request, slug)


def _queue(request, slug: str | None):
    context = queue_context(request, slug or default_queue(request.user))
    if request.htmx and request.htmx.target == "queue-results":
        return render(request, "tickets/_queue_results.html", context)
    return render(request, "tickets/queue.html", context)


def back_to_queue(request, **kwargs) -> str:
    return safe_next(request, reverse("queue"))


@login_required
@require_POST
@maps_domain_errors(back_to_queue)
def next_ticket(request):
    """Take the most urgent waiting ticket of the agent's queues and open it."""
    ticket = services.claim_next_ticket(agent=request.user)
    messages.success(
        request,
        _("You took %(number)s (%(flow)s).")
        % {"number": ticket.number, "flow": flow_label(ticket.flow)},
    )
    return redirect_to(request, reverse("ticket", args=[ticket.pk]))
