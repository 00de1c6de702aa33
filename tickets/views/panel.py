"""The workspace's side panels, loaded with htmx after the page: the customer panel (I-SISKA,
Ibooster, usage, E-payment) and the My Kiss articles.

The customer panel shows what the adapter tasks recorded in `ticket.facts`, each answer with the
time it came (`services.records` records which check said what and when, and keeps a closed
ticket's facts as it was closed on), the answers the flow depends on (Starclick order, NOSSA
numbers) as facts, and, per source, the state of its latest call: checking (queued or
running), failed (with the error), or not checked yet. While anything is being checked the
panel polls itself every two seconds. "Refresh" queues
fresh read-only checks through `services.refresh_customer_checks` and shows the panel again;
with Celery in eager mode the answers are already in by then.

My Kiss is a cheap look-up: it is asked in the request (cached for a few minutes), never from
the workspace page itself, so a slow knowledge base slows only its own panel.
"""

from __future__ import annotations

import hashlib

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from integrations.adapters import AdapterError, get_adapter, to_jsonable
from integrations.adapters.labels import line_status_label, wifi_status_label
from integrations.models import AdapterCall, CallStatus

from .. import selectors, services
from ..flows.nossa import REMOTE_FIX_ACTIONS
from ..models import Flow
from .mixins import maps_domain_errors, redirect_to
from .presenters import fact_checked, result_facts, sla_view
from .workspace import ticket_url

# Panel sections: (facts key, app, operation, title).
SECTIONS = (
    ("isiska", "isiska", "profile", gettext_lazy("Customer and package (I-SISKA)")),
    ("ibooster", "ibooster", "connection_status", gettext_lazy("Connection (Ibooster)")),
    ("usage", "ibooster", "usage_history", gettext_lazy("Usage, last 30 days (Ibooster)")),
    ("bills", "epayment", "bills", gettext_lazy("Bills (E-payment)")),
)
# Other checks some flows make; shown when their answers are in.
EXTRA_FACTS = ("acs", "epayment", "webcare", "remote_fix", "mycx", "nossa_escalation")
POLL_SECONDS = 2
UNFINISHED = (CallStatus.PENDING, CallStatus.RUNNING)

# My Kiss categories for the ticket's NOSSA category, else for its flow.
KISS_BY_CATEGORY = {
    "INTERNET": "gangguan-internet",
    "IPTV": "gangguan-iptv",
    "VOICE": "gangguan-telepon",
    "BILLING": "tagihan",
}
KISS_BY_FLOW = {Flow.IDEAS: "produk", Flow.GAMAS: "gangguan-internet"}
KISS_LIMIT = 5
KISS_CACHE_SECONDS = 300


def _latest_calls(ticket) -> dict[tuple[str, str], dict]:
    """The newest call of each panel operation on this ticket."""
    apps = {app for _key, app, _op, _title in SECTIONS}
    latest: dict[tuple[str, str], dict] = {}
    rows = (
        AdapterCall.objects.of_ticket(ticket)
        .filter(app__in=apps)
        .order_by("-created_at", "-pk")
        .values("app", "operation", "status", "error", "finished_at")
    )
    for row in rows:
        latest.setdefault((row["app"], row["operation"]), row)
    return latest


def panel_sections(ticket) -> list[dict]:
    facts = ticket.facts or {}
    latest = _latest_calls(ticket)
    sections = []
    for key, app, operation, title in SECTIONS:
        call = latest.get((app, operation))
        if call and call["status"] in UNFINISHED:
            status = "checking"
        elif call and call["status"] == CallStatus.FAILED:
            status = "failed"
        elif facts.get(key) is not None:
            status = "ok"
        else:
            status = "unchecked"
        source = fact_checked(ticket, key)
        sections.append(
            {
                "key": key,
                "app": app,
                "operation": operation,
                "title": title,
                "status": status,
                "fact": facts.get(key),
                "error": (call or {}).get("error", ""),
                # When the fact shown was answered (not the latest call: a check that answered
                # after the ticket was closed does not replace what it was closed on).
                "checked_at": source["at"] or (call or {}).get("finished_at"),
                "checked_in": source["state"],
                "later_at": source["later_at"],
                "later_reason": source["later_reason"],
            }
        )
    return sections


def fact_labels(facts: dict) -> dict:
    """The words for the codes in the answers: line status, WiFi, remote actions."""
    actions = dict(REMOTE_FIX_ACTIONS)
    ibooster = facts.get("ibooster") or {}
    acs = facts.get("acs") or {}
    remote_fix = facts.get("remote_fix") or {}
    return {
        "line_status": line_status_label(ibooster.get("status", "")),
        "wifi": wifi_status_label(acs.get("wifi_status", "")),
        "suggested_action": str(actions.get(acs.get("suggested_action"), "")),
        "remote_action": str(actions.get(remote_fix.get("action") or remote_fix.get("change"), ""))
        if isinstance(remote_fix, dict)
        else "",
    }


def panel_context(ticket) -> dict:
    sections = panel_sections(ticket)
    facts = ticket.facts or {}
    statuses = {section["status"] for section in sections}
    return {
        "ticket": ticket,
        "results": result_facts(ticket),
        "sla": sla_view(ticket),
        "sections": {section["key"]: section for section in sections},
        "extra": {key: facts[key] for key in EXTRA_FACTS if facts.get(key)},
        "labels": fact_labels(facts),
        "checking": "checking" in statuses,
        "auto_check": "unchecked" in statuses and not ticket.is_closed,
        "poll_seconds": POLL_SECONDS,
    }


@login_required
@maps_domain_errors(ticket_url)
def customer_panel(request, pk: int):
    ticket = selectors.ticket_for(request.user, pk)
    return render(request, "tickets/_panel.html", panel_context(ticket))


@login_required
@require_POST
@maps_domain_errors(ticket_url)
def refresh_customer_panel(request, pk: int):
    selectors.ticket_for(request.user, pk)  # may this user open it at all?
    services.refresh_customer_checks(ticket_id=pk, actor=request.user)
    if not request.htmx:
        return redirect_to(request, reverse("ticket", args=[pk]))
    ticket = selectors.ticket_for(request.user, pk)  # the answers eager tasks already wrote
    return render(request, "tickets/_panel.html", panel_context(ticket))


# --- My Kiss --------------------------------------------------------------------------------
def kiss_category(ticket) -> str | None:
    return KISS_BY_CATEGORY.get((ticket.category or "").upper()) or KISS_BY_FLOW.get(ticket.flow)


def search_kiss(*, query: str, category: str | None) -> list[dict]:
    """My Kiss articles for the words, within the category; cached a few minutes."""
    words = hashlib.sha256(query.strip().lower().encode()).hexdigest()[:24]
    key = f"kiss:{category or '-'}:{words}"
    found = cache.get(key)
    if found is None:
        found = to_jsonable(
            get_adapter("mykiss").search_articles(query=query, category=category, limit=KISS_LIMIT)
        )
        cache.set(key, found, KISS_CACHE_SECONDS)
    return found


@login_required
@maps_domain_errors(ticket_url)
def articles(request, pk: int):
    """Articles for the ticket's category: matching its summary first, else the category's."""
    ticket = selectors.ticket_for(request.user, pk)
    category = kiss_category(ticket)
    query = request.GET.get("q", "").strip()[:100]
    error = ""
    found: list[dict] = []
    try:
        if query:
            found = search_kiss(query=query, category=None)
        else:
            found = search_kiss(query=ticket.summary, category=category)
            if not found:
                found = search_kiss(query="", category=category)
    except AdapterError as problem:
        error = _("My Kiss is not answering: %(error)s") % {"error": problem}
    return render(
        request,
        "tickets/_articles.html",
        {
            "ticket": ticket,
            "articles": found,
            "query": query,
            "category": category,
            "error": error,
        },
    )
