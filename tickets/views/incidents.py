"""Gamas incidents (mass outages): the list, one incident with its child tickets, the incident's
own actions (recover, close) and bulk actions on its children.

Recovering an incident moves every waiting child to verifying in the background
(`services.transition_incident` → `tasks.fan_out_gamas_recovery`). The bulk actions are the
per-ticket services run for each ticked child; each refusal is reported, none stops the rest.

Every page is for supervisors, Support and admins (`access.incidents_required`); agents get the
403 page.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from .. import roles, selectors, services
from ..exceptions import ConcurrentChange, TicketError
from ..flows import GamasIncidentMachine
from ..flows.gamas import incident_managers
from ..forms import BULK_ACTIONS, BulkChildrenForm, IncidentForm, TransitionForm
from ..models import GamasIncident, Role, Ticket
from .access import incidents_required
from .customer_messages import broadcast_context
from .mixins import form_errors, incident_state_now, maps_domain_errors, message_for, redirect_to
from .paging import keyset_page
from .presenters import sop_step, state_label, states_of, transition_label

INVALID = 422
LIST_LIMIT = 100
BULK_LIMIT = 200
REPORTED_FAILURES = 5


def incident_url(request, pk, **kwargs) -> str:
    return reverse("incident", args=[pk])


def _incidents_url(request, **kwargs) -> str:
    return reverse("incidents")


def _incident_list():
    """Open and recovered incidents, newest first, with how many of their tickets are open."""
    return (
        GamasIncident.objects.exclude(state="closed")
        .annotate(open_children=Count("children", filter=Q(children__closed_at__isnull=True)))
        .order_by("-opened_at")[:LIST_LIMIT]
    )


def render_incidents(request, *, form=None, status=200):
    may_open = incident_managers(None, request.user)
    return render(
        request,
        "tickets/incidents.html",
        {
            "incidents": [
                {"incident": row, "state_label": state_label(None, row.state)}
                for row in _incident_list()
            ],
            "form": form or (IncidentForm() if may_open else None),
        },
        status=status,
    )


@incidents_required
def incidents(request):
    return render_incidents(request)


@incidents_required
@require_POST
@maps_domain_errors(_incidents_url)
def open_incident(request):
    form = IncidentForm(request.POST)
    if form.is_valid():
        with form_errors(form):
            incident = services.open_incident(actor=request.user, **form.cleaned_data)
            messages.success(request, _("%(number)s is open.") % {"number": incident.number})
            return redirect_to(request, reverse("incident", args=[incident.pk]))
    messages.error(request, _("Check the highlighted fields."))
    return render_incidents(request, form=form, status=INVALID)


def _bulk_actions_for(user) -> list[tuple[str, str]]:
    """Which bulk actions to offer: agents take, supervisors assign and release."""
    wanted = set()
    if roles.is_agent(user):
        wanted.add("take")
    if roles.is_supervisor(user):
        wanted |= {"assign", "release"}
    return [(code, label) for code, label in BULK_ACTIONS if code in wanted]


def _agent_choices(user) -> list[tuple[str, str]]:
    if not roles.is_supervisor(user):
        return []
    agents = (
        get_user_model()
        .objects.filter(groups__name=Role.AGENT, is_active=True)
        .order_by("username")
        .values_list("pk", "username")[:500]
    )
    return [(str(pk), username) for pk, username in agents]


def incident_context(request, incident, *, bound=None, bulk_form=None) -> dict:
    user = request.user
    actions = []
    for option in services.available_transitions(incident, user):
        form = bound if isinstance(bound, TransitionForm) and bound.prefix == option.name else None
        actions.append(
            {
                "option": option,
                "form": form or TransitionForm(machine=incident, option=option),
                "open": form is not None,
            }
        )
    children = selectors.queue_queryset(user).filter(gamas_incident=incident)
    progress = selectors.recovery_progress(user, incident)
    counts = progress.counts
    labels = dict(states_of(None))
    page = keyset_page(
        children, ("id",), after=request.GET.get("after"), before=request.GET.get("before")
    )
    bulk_actions = _bulk_actions_for(user)
    agent_choices = _agent_choices(user)
    if bulk_form is None and bulk_actions:
        bulk_form = BulkChildrenForm(agent_choices=agent_choices)
    if bulk_form is not None:
        bulk_form.fields["action"].choices = [("", "—"), *bulk_actions]
    history = [
        {
            "at": row.at,
            "title": transition_label(None, row.transition),
            "actor": row.actor.get_username() if row.actor else _("system"),
            "note": row.note,
        }
        for row in incident.transitions.select_related("actor").order_by("at", "pk")
    ]
    return {
        "incident": incident,
        "state_label": state_label(None, incident.state),
        "sop_step": sop_step(None, incident.state),
        "actions": actions,
        "counts": [
            {"code": code, "label": labels.get(code, code), "count": total}
            for code, total in sorted(counts.items())
        ],
        "children_total": progress.total,
        "progress": progress,
        "page": page,
        "bulk_form": bulk_form,
        "history": history,
        # Inform customers and the broadcasts' progress (live, with the recovery progress).
        **broadcast_context(user, incident),
    }


def render_incident(request, incident, *, status=200, **forms):
    context = incident_context(request, incident, **forms)
    return render(request, "tickets/incident.html", context, status=status)


@incidents_required
def incident(request, pk: int):
    return render_incident(request, get_object_or_404(GamasIncidentMachine, pk=pk))


@incidents_required
@require_POST
@maps_domain_errors(incident_url, state_of=incident_state_now)
def incident_action(request, pk: int, name: str):
    """Recover or close the incident."""
    incident = get_object_or_404(GamasIncidentMachine, pk=pk)
    option = next(
        (item for item in services.available_transitions(incident, request.user)
         if item.name == name),
        None,
    )  # fmt: skip
    shown_state = request.POST.get(f"{name}-expected_state", "")
    if shown_state != incident.state:
        # transition_incident takes no expected state: a stale page is caught here.
        raise ConcurrentChange(current_state=incident.state)
    if option is None:
        services.transition_incident(incident_id=pk, name=name, actor=request.user, inputs={})
        return redirect_to(request, incident_url(request, pk))
    form = TransitionForm(request.POST, machine=incident, option=option)
    if form.is_valid():
        with form_errors(form):
            changed = services.transition_incident(
                incident_id=pk, name=name, actor=request.user, inputs=form.inputs()
            )
            messages.success(
                request,
                _("%(label)s: the incident is now “%(state)s”.")
                % {"label": option.label, "state": state_label(None, changed.state)},
            )
            return redirect_to(request, incident_url(request, pk))
    messages.error(request, _("Check the highlighted fields."))
    return render_incident(request, incident, bound=form, status=INVALID)


def _bulk_agent(action: str, agent_id: str):
    if action != "assign":
        return None
    return get_user_model().objects.filter(pk=agent_id, is_active=True).first()


def _bulk_done_message(action: str, count: int, agent) -> str:
    """What the bulk action did, in words: how many tickets, and where they went."""
    if action == "take":
        return ngettext("You took %(count)d ticket.", "You took %(count)d tickets.", count) % {
            "count": count
        }
    if action == "assign":
        return ngettext(
            "%(count)d ticket assigned to %(agent)s.",
            "%(count)d tickets assigned to %(agent)s.",
            count,
        ) % {"count": count, "agent": agent.get_username() if agent else "—"}
    return ngettext(
        "%(count)d ticket released to the queue.",
        "%(count)d tickets released to the queue.",
        count,
    ) % {"count": count}


def _run_bulk(request, action: str, ticket_ids: list[int], agent) -> tuple[int, list]:
    user = request.user
    done, failures = 0, []
    for ticket_id in ticket_ids:
        try:
            if action == "take":
                services.claim_ticket(ticket_id=ticket_id, agent=user)
            elif action == "assign":
                services.reassign_ticket(ticket_id=ticket_id, supervisor=user, agent=agent)
            else:
                services.release_ticket(ticket_id=ticket_id, supervisor=user)
        except TicketError as error:
            failures.append((ticket_id, message_for(error)))
        else:
            done += 1
    return done, failures


@incidents_required
@require_POST
@maps_domain_errors(incident_url, state_of=incident_state_now)
def incident_bulk(request, pk: int):
    """One action on the ticked child tickets, ticket by ticket through the services."""
    incident = get_object_or_404(GamasIncidentMachine, pk=pk)
    form = BulkChildrenForm(request.POST, agent_choices=_agent_choices(request.user))
    form.fields["action"].choices = [("", "—"), *_bulk_actions_for(request.user)]
    if not form.is_valid():
        messages.error(request, _("Check the highlighted fields."))
        return render_incident(request, incident, bulk_form=form, status=INVALID)
    wanted = form.cleaned_data["tickets"][:BULK_LIMIT]
    ticket_ids = list(
        selectors.queue_queryset(request.user)
        .filter(gamas_incident=incident, pk__in=wanted)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    action = form.cleaned_data["action"]
    agent = _bulk_agent(action, form.cleaned_data.get("agent", ""))
    done, failures = _run_bulk(request, action, ticket_ids, agent)
    if done:
        messages.success(request, _bulk_done_message(action, done, agent))
    for ticket_id, reason in failures[:REPORTED_FAILURES]:
        messages.error(request, f"{Ticket.number_of(ticket_id)}: {reason}")
    more = len(failures) - REPORTED_FAILURES
    if more > 0:
        messages.error(
            request,
            ngettext(
                "%(count)d more ticket was refused.", "%(count)d more tickets were refused.", more
            )
            % {"count": more},
        )
    missing = len(wanted) - len(ticket_ids)
    if missing:
        messages.warning(
            request,
            ngettext(
                "%(count)d of the selected tickets is not a ticket of this incident you can see.",
                "%(count)d of the selected tickets are not tickets of this incident you can see.",
                missing,
            )
            % {"count": missing},
        )
    return redirect_to(request, incident_url(request, pk))
