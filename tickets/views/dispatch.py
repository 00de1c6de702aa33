"""Dispatch in the console (docs/dispatch.md): an agent's availability in the top bar, the offers
waiting for their answer, the supervisors' agents page, and pinning a ticket to an agent.

Every change goes through `tickets.services.dispatch`; these views only read forms and show the
outcome.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from .. import roles, selectors, services
from ..models import (
    AgentProfile,
    Availability,
    DispatchMode,
    Flow,
    Offer,
    OfferStatus,
    Site,
)
from .access import supervisor_required
from .dashboard import _back_to_dashboard
from .mixins import form_errors, maps_domain_errors, redirect_to, safe_next
from .queues import back_to_queue


def _back(request, **kwargs) -> str:
    return safe_next(request, reverse("home"))


# --- The agent: availability and offers ---------------------------------------------------------
@require_POST
@login_required
@maps_domain_errors(_back)
def availability(request):
    """The agent sets their own availability (the top bar's menu)."""
    chosen = request.POST.get("availability", "")
    services.set_availability(user=request.user, availability=chosen)
    messages.success(
        request,
        _("You are now: %(availability)s.")
        % {"availability": Availability(chosen).label if chosen in Availability.values else ""},
    )
    return redirect_to(request, _back(request))


@require_POST
@login_required
@maps_domain_errors(_back)
def accept(request, pk: int):
    ticket = services.accept_offer(offer_id=pk, agent=request.user)
    messages.success(request, _("%(number)s is yours now.") % {"number": ticket.number})
    return redirect_to(request, reverse("ticket", args=[ticket.pk]))


@require_POST
@login_required
@maps_domain_errors(back_to_queue)
def decline(request, pk: int):
    reason = request.POST.get("reason", "")[:255]
    offer = services.decline_offer(offer_id=pk, agent=request.user, reason=reason)
    messages.success(
        request,
        _("%(number)s goes to another agent.") % {"number": offer.ticket.number},
    )
    return redirect_to(request, back_to_queue(request))


def pending_offers_of(user) -> list[Offer]:
    """The offers waiting for this agent's answer, soonest to run out first."""
    if not getattr(user, "is_authenticated", False) or not roles.is_agent(user):
        return []
    return list(
        Offer.objects.filter(agent=user, status=OfferStatus.PENDING)
        .select_related("ticket")
        .order_by("expires_at", "pk")
    )


# --- Supervisors: agents, capacity, availability ------------------------------------------------
class AgentForm(forms.Form):
    availability = forms.ChoiceField(label=gettext_lazy("Availability"), choices=Availability)
    capacity = forms.IntegerField(label=gettext_lazy("Capacity"), min_value=1, max_value=50)
    flow_limits = forms.CharField(
        label=gettext_lazy("Limits per flow"),
        required=False,
        max_length=200,
        help_text=gettext_lazy("e.g. nossa=2, callback=1 (empty: the capacity alone)"),
    )

    def clean_flow_limits(self) -> dict:
        """`nossa=2, callback=1` as a dict; which flows and numbers are allowed is the dispatch
        service's rule (`set_capacity`), which refuses the rest with field messages."""
        limits: dict = {}
        text = self.cleaned_data["flow_limits"].strip()
        for part in filter(None, (item.strip() for item in text.split(","))):
            flow, _sep, number = (item.strip() for item in part.partition("="))
            limits[flow] = int(number) if number.isdigit() else number
        return limits


def flow_limits_text(limits: dict) -> str:
    return ", ".join(f"{flow}={number}" for flow, number in sorted((limits or {}).items()))


def agent_rows(site_code: str = "") -> list[dict]:
    profiles = selectors.agents_with_load()
    if site_code:
        profiles = profiles.filter(site__code=site_code)
    return [
        {
            "profile": profile,
            "form": AgentForm(
                initial={
                    "availability": profile.availability,
                    "capacity": profile.capacity,
                    "flow_limits": flow_limits_text(profile.flow_capacity),
                },
                prefix=f"agent-{profile.user_id}",
            ),
            "flows": [Flow(flow).label for flow in profile.flows if flow in Flow.values],
            "full": profile.held + profile.offers_waiting >= profile.capacity,
        }
        for profile in profiles
    ]


@supervisor_required
def agents(request):
    """Every agent's availability, load and capacity; a supervisor changes them here."""
    site_code = request.GET.get("site", "")
    sites = list(Site.objects.order_by("code"))
    if site_code not in {site.code for site in sites}:
        site_code = ""
    rows = agent_rows(site_code)
    counts = roles.agent_profiles().aggregate(
        available=Count("pk", filter=Q(availability=Availability.AVAILABLE), distinct=True),
        total=Count("pk", distinct=True),
    )
    return render(
        request,
        "supervisor/agents.html",
        {
            "rows": rows,
            "sites": sites,
            "site_code": site_code,
            "counts": counts,
            "modes": dict(DispatchMode.choices),
            "recent_offers": Offer.objects.select_related("ticket", "agent")
            .exclude(status=OfferStatus.PENDING)
            .order_by("-decided_at", "-pk")[:20],
        },
    )


@require_POST
@supervisor_required
@maps_domain_errors(lambda request, **kwargs: safe_next(request, reverse("agents")))
def agent_update(request, user_id: int):
    """Save one agent's row of the agents page."""
    profile = get_object_or_404(AgentProfile.objects.select_related("user"), user_id=user_id)
    form = AgentForm(request.POST, prefix=f"agent-{user_id}")
    back = safe_next(request, reverse("agents"))
    if form.is_valid():
        with form_errors(form):  # the service's refusals land on the form, nothing saved
            services.update_agent(
                agent=profile.user,
                supervisor=request.user,
                capacity=form.cleaned_data["capacity"],
                flow_capacity=form.cleaned_data["flow_limits"],
                availability=form.cleaned_data["availability"],
            )
    if form.errors:
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else ""
            for error in errors:
                messages.error(
                    request,
                    f"{profile.user.get_username()}: {label}: {error}" if label else error,
                )
        return redirect_to(request, back)
    messages.success(request, _("%(agent)s saved.") % {"agent": profile.user.get_username()})
    return redirect_to(request, back)


@require_POST
@supervisor_required
@maps_domain_errors(_back_to_dashboard)
def pin(request, pk: int):
    """Pin a waiting ticket to the chosen agent (an empty choice removes the pin)."""
    chosen = request.POST.get("agent", "")
    agent = None
    if chosen:
        agent = get_object_or_404(get_user_model(), pk=chosen) if chosen.isdigit() else None
        if agent is None:
            messages.error(request, _("Choose an agent."))
            return redirect_to(request, _back_to_dashboard(request))
    ticket = services.pin_ticket(ticket_id=pk, agent=agent, supervisor=request.user)
    if agent is None:
        messages.success(request, _("%(number)s is no longer pinned.") % {"number": ticket.number})
    else:
        messages.success(
            request,
            _("%(number)s is pinned to %(agent)s: it is offered to them only.")
            % {"number": ticket.number, "agent": agent.get_username()},
        )
    return redirect_to(request, _back_to_dashboard(request))
