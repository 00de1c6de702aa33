"""The Support escalation desk: what waits for Support, by its answer deadline, with the evidence.

Support takes an escalation (or hands it to a colleague), reads the evidence (what the agent
wrote, the external systems' answers, the calls to the customer, the notes) and ends it: answer
and return to the agent, or resolve it themselves (`tickets.services.escalations`). Supervisors
read the desk and may hand escalations over; only Support answers and resolves.

Support's own SLA is the escalation answer target of each flow and priority's policy
(`Escalation.due_at`): the list counts down to it and the head shows how Support kept it.
"""

from __future__ import annotations

import json
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from integrations.adapters import DISPLAY_NAMES
from integrations.adapters.labels import operation_label

from .. import roles, selectors, services
from ..forms_supervisor import AnswerForm, HandOverForm
from ..models import ContactAttempt, Escalation, EscalationStatus, Note
from .access import desk_required
from .mixins import form_errors, maps_domain_errors, redirect_to
from .presenters import flow_label, state_label
from .workspace import INVALID, timeline_rows

DESK_LIMIT = 100
SLA_WINDOW_DAYS = 7
SHOW = {
    "all": gettext_lazy("All waiting"),
    "mine": gettext_lazy("Mine"),
    "unassigned": gettext_lazy("Nobody's yet"),
    "overdue": gettext_lazy("Past their target"),
}


def support_people() -> list:
    """Active Support users, for the hand-over list (one query)."""
    user_model = get_user_model()
    via_group = user_model.groups.through.objects.filter(
        group__permissions__codename="answer_escalation"
    ).values("user_id")
    via_user = user_model.user_permissions.through.objects.filter(
        permission__codename="answer_escalation"
    ).values("user_id")
    return list(
        user_model.objects.filter(is_active=True)
        .filter(Q(pk__in=via_group) | Q(pk__in=via_user) | Q(is_superuser=True))
        .order_by("username")
    )


def desk_summary(user, now) -> dict:
    """How many wait, how many are past their target, and how Support kept its SLA lately."""
    waiting = Escalation.objects.filter(status=EscalationStatus.OPEN).aggregate(
        waiting=Count("id"),
        overdue=Count("id", filter=Q(due_at__lt=now)),
        mine=Count("id", filter=Q(support_assignee=user)),
        unassigned=Count("id", filter=Q(support_assignee__isnull=True)),
    )
    since = now - timedelta(days=SLA_WINDOW_DAYS)
    kept = Escalation.objects.filter(due_at__gte=since, due_at__lt=now).aggregate(
        due=Count("id"),
        in_time=Count(
            "id", filter=Q(status=EscalationStatus.ANSWERED, answered_at__lte=F("due_at"))
        ),
    )
    kept["percent"] = round(100 * kept["in_time"] / kept["due"], 1) if kept["due"] else None
    return {**waiting, "kept": kept, "window_days": SLA_WINDOW_DAYS}


def desk_rows(user, show: str, now) -> list[dict]:
    queryset = selectors.open_escalations().select_related("ticket__site")
    if show == "mine":
        queryset = queryset.filter(support_assignee=user)
    elif show == "unassigned":
        queryset = queryset.filter(support_assignee__isnull=True)
    elif show == "overdue":
        queryset = queryset.filter(due_at__lt=now)
    return [
        {
            "escalation": escalation,
            "ticket": escalation.ticket,
            "flow_label": flow_label(escalation.ticket.flow),
            "waiting_since": escalation.raised_at,
            "overdue": escalation.due_at is not None and escalation.due_at < now,
            "mine": escalation.support_assignee_id == user.pk,
        }
        for escalation in queryset[:DESK_LIMIT]
    ]


@desk_required
def desk(request):
    show = request.GET.get("show", "all")
    if show not in SHOW:
        show = "all"
    now = timezone.now()
    return render(
        request,
        "supervisor/desk.html",
        {
            "rows": desk_rows(request.user, show, now),
            "summary": desk_summary(request.user, now),
            "show": show,
            "tabs": list(SHOW.items()),
            "limit": DESK_LIMIT,
            "works_desk": roles.is_support(request.user),
        },
    )


# --- One escalation ---------------------------------------------------------------------------
def evidence_calls(ticket) -> list[dict]:
    """The external systems' answers on this ticket, newest first."""
    rows = []
    for call in selectors.adapter_calls(ticket).order_by("-created_at", "-pk"):
        response = call.response
        rows.append(
            {
                "app": DISPLAY_NAMES.get(call.app, call.app),
                "operation": operation_label(call.app, call.operation),
                "status": call.status,
                "status_label": call.get_status_display(),
                "at": call.finished_at or call.created_at,
                "error": call.error,
                "response": json.dumps(response, ensure_ascii=False, indent=1)[:3000]
                if response is not None
                else "",
            }
        )
    return rows


def escalation_context(request, escalation, **forms) -> dict:
    user = request.user
    ticket = escalation.ticket
    is_open = escalation.status == EscalationStatus.OPEN
    works = roles.is_support(user) and is_open
    may_hand_over = is_open and (roles.is_support(user) or roles.is_supervisor(user))
    people = support_people() if may_hand_over else []
    choices = [
        (str(p.pk), p.get_username()) for p in people if p.pk != escalation.support_assignee_id
    ]
    earlier = (
        Escalation.objects.filter(ticket=ticket)
        .exclude(pk=escalation.pk)
        .select_related("raised_by", "answered_by")
        .order_by("-raised_at")
    )
    return {
        "escalation": escalation,
        "ticket": ticket,
        "is_open": is_open,
        "works": works,
        "may_hand_over": may_hand_over,
        "flow_label": flow_label(ticket.flow),
        "state_label": state_label(ticket.flow, ticket.state),
        "back_to_label": state_label(ticket.flow, escalation.from_state),
        "answer_form": forms.get("answer_form") or AnswerForm(),
        "resolve_form": forms.get("resolve_form") or AnswerForm(resolving=True),
        "handover_form": forms.get("handover_form") or HandOverForm(support_choices=choices),
        "open_form": forms.get("open_form", ""),
        "calls": evidence_calls(ticket),
        "attempts": ContactAttempt.objects.filter(ticket=ticket).select_related("agent"),
        "notes": Note.objects.filter(ticket=ticket).select_related("author"),
        "earlier": earlier,
        "resolved": (not is_open) and services.resolved_by_support(escalation),
        "timeline": timeline_rows(ticket),
        "now": timezone.now(),
    }


def _escalation(pk) -> Escalation:
    return get_object_or_404(
        Escalation.objects.select_related(
            "ticket__service__customer",
            "ticket__site",
            "ticket__assignee",
            "raised_by",
            "answered_by",
            "support_assignee",
        ),
        pk=pk,
    )


def render_escalation(request, escalation, *, status: int = 200, **forms):
    context = escalation_context(request, escalation, **forms)
    return render(request, "supervisor/escalation.html", context, status=status)


@desk_required
def escalation(request, pk: int):
    return render_escalation(request, _escalation(pk))


def escalation_url(request, pk, **kwargs) -> str:
    return reverse("escalation", args=[pk])


def escalation_ticket_state(pk) -> str:
    row = Escalation.objects.filter(pk=pk).values("ticket__flow", "ticket__state").first() or {}
    return state_label(row.get("ticket__flow"), row.get("ticket__state", "")) if row else ""


def _desk_url() -> str:
    return reverse("escalation_desk")


def _finish(request, pk: int, *, resolving: bool):
    escalation = _escalation(pk)
    form = AnswerForm(request.POST, resolving=resolving)
    if form.is_valid():
        act = services.resolve_escalation if resolving else services.answer_escalation
        with form_errors(form):
            act(escalation_id=pk, actor=request.user, answer=form.cleaned_data["answer"])
            ticket = escalation.ticket
            agent = ticket.assignee.get_username() if ticket.assignee else _("the queue")
            text = (
                _("%(number)s resolved by Support; back with %(agent)s to confirm and close.")
                if resolving
                else _("%(number)s answered; back with %(agent)s.")
            )
            messages.success(request, text % {"number": ticket.number, "agent": agent})
            return redirect_to(request, _desk_url())
    messages.error(request, _("Check the highlighted fields."))
    key = "resolve_form" if resolving else "answer_form"
    return render_escalation(request, escalation, status=INVALID, open_form=key, **{key: form})


@require_POST
@desk_required
@maps_domain_errors(escalation_url, state_of=escalation_ticket_state)
def answer(request, pk: int):
    """Answer the agent; the ticket goes back to them in the state it came from."""
    return _finish(request, pk, resolving=False)


@require_POST
@desk_required
@maps_domain_errors(escalation_url, state_of=escalation_ticket_state)
def resolve(request, pk: int):
    """Support fixed it: answer, note that Support resolved it, back to the agent to close."""
    return _finish(request, pk, resolving=True)


@require_POST
@desk_required
@maps_domain_errors(escalation_url, state_of=escalation_ticket_state)
def take(request, pk: int):
    """A Support user takes the escalation for themselves."""
    services.assign_escalation(escalation_id=pk, support_user=request.user, actor=request.user)
    messages.success(request, _("The escalation is yours now."))
    return redirect_to(request, escalation_url(request, pk))


@require_POST
@desk_required
@maps_domain_errors(escalation_url, state_of=escalation_ticket_state)
def hand_over(request, pk: int):
    """Hand the escalation to another Support user."""
    escalation = _escalation(pk)
    people = {str(person.pk): person for person in support_people()}
    form = HandOverForm(
        request.POST, support_choices=[(k, p.get_username()) for k, p in people.items()]
    )
    if form.is_valid():
        person = people[form.cleaned_data["support_user"]]
        with form_errors(form):
            services.assign_escalation(escalation_id=pk, support_user=person, actor=request.user)
            messages.success(
                request,
                _("Handed to %(who)s.") % {"who": person.get_username()},
            )
            return redirect_to(request, escalation_url(request, pk))
    messages.error(request, _("Check the highlighted fields."))
    return render_escalation(
        request, escalation, status=INVALID, open_form="handover_form", handover_form=form
    )
