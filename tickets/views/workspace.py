"""The ticket workspace: one ticket, its SOP step, the actions open to this user now, the
customer, the knowledge base and everything that happened to it.

The action buttons are `services.available_transitions(ticket, user)`; each button's form asks
only for the inputs its transition declares. Every write goes to a service with the state the
page showed, so an action from a stale page is refused (`ConcurrentChange`) and answered with a
message and the ticket as it is now (`mixins.maps_domain_errors`).
"""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from integrations.adapters import DISPLAY_NAMES
from integrations.adapters.labels import operation_label
from integrations.models import AdapterCall, CallStatus

from .. import roles, selectors, services
from ..forms import ContactAttemptForm, MessageWishesForm, NoteForm, TransitionForm
from ..models import ContactOutcome
from .customer_messages import message_row, wishes_context
from .mixins import form_errors, maps_domain_errors, redirect_to
from .presenters import (
    flow_label,
    sop_step,
    state_label,
    transition_label,
)

INVALID = 422  # a form came back with field errors
CALL_STATUSES = dict(CallStatus.choices)
SYSTEM_ACTOR = "sistem"  # how selectors.timeline names rows with no user (background jobs)


def ticket_url(request, pk, **kwargs) -> str:
    return reverse("ticket", args=[pk])


def _state_change(flow: str, status: str) -> str:
    source, _arrow, target = status.partition(" → ")
    before = "—" if source in ("", "∅") else state_label(flow, source)
    after = state_label(flow, target)
    return after if before == after else f"{before} → {after}"


def timeline_rows(ticket) -> list[dict]:
    """The selector's timeline, worded for the page (labels instead of codes)."""
    responses = dict(selectors.adapter_calls(ticket).values_list("pk", "response"))
    outcome_labels = dict(ContactOutcome.choices)
    rows = []
    for entry in selectors.timeline(ticket):
        actor = _("system") if entry.actor == SYSTEM_ACTOR else entry.actor
        row = {"at": entry.at, "kind": entry.kind, "actor": actor, "detail": entry.detail}
        if entry.kind == "transition":
            row["title"] = transition_label(ticket.flow, entry.title)
            row["status"] = _state_change(ticket.flow, entry.status)
        elif entry.kind == "note":
            row["title"] = _("Note")
        elif entry.kind == "contact":
            row["title"] = _("Call to the customer")
            row["status"] = str(outcome_labels.get(entry.status, entry.title))
            row["failed"] = entry.status != ContactOutcome.ANSWERED
        elif entry.kind == "escalation":
            row["title"] = _("Escalated to Support")
            row["status"] = _("waiting") if entry.status == "open" else _("answered")
        elif entry.kind == "answer":
            row["title"] = _("Support answered")
        elif entry.kind == "message":  # to the customer: status, times, why it waits
            row.update(message_row(entry, ticket))
        else:  # an external call: the evidence
            app, _dot, operation = entry.title.partition(".")
            row["title"] = f"{DISPLAY_NAMES.get(app, app)} · {operation_label(app, operation)}"
            row["status"] = str(CALL_STATUSES.get(entry.status, entry.status))
            row["status_code"] = entry.status
            row["call_id"] = entry.call_id
            row["actor"] = DISPLAY_NAMES.get(app, app)
            response = responses.get(entry.call_id)
            if response is not None:
                row["response"] = json.dumps(response, ensure_ascii=False, indent=1)[:3000]
        rows.append(row)
    return rows


def open_escalation(rows: list[dict]):
    waiting = [row for row in rows if row["kind"] == "escalation"]
    return waiting[-1] if waiting and waiting[-1]["status"] == _("waiting") else None


def workspace_context(request, ticket, *, bound=None) -> dict:
    """Everything the workspace shows; `bound` is a form that came back with errors."""
    user = request.user
    options = services.available_transitions(ticket, user)
    claim_open = any(option.name == "claim" for option in options)
    actions = []
    for option in options:
        if option.name == "claim":
            continue  # shown as the Take button
        form = bound if isinstance(bound, TransitionForm) and bound.prefix == option.name else None
        actions.append(
            {
                "option": option,
                "form": form or TransitionForm(machine=ticket, option=option),
                "open": form is not None,
            }
        )
    holds_ticket = ticket.assignee_id == user.pk
    can_take = claim_open or (
        ticket.assignee_id is None and ticket.awaiting_agent and roles.may_work_ticket(user, ticket)
    )
    rows = timeline_rows(ticket)
    return {
        "ticket": ticket,
        "flow_label": flow_label(ticket.flow),
        "state_label": state_label(ticket.flow, ticket.state),
        "sop_step": sop_step(ticket.flow, ticket.state),
        "actions": actions,
        "can_take": can_take,
        "holds_ticket": holds_ticket,
        "held_by_other": ticket.assignee_id is not None and not holds_ticket,
        "contact_form": bound if isinstance(bound, ContactAttemptForm) else (
            ContactAttemptForm(machine=ticket) if holds_ticket and not ticket.is_closed else None
        ),
        "note_form": bound if isinstance(bound, NoteForm) else NoteForm(),
        "can_note": holds_ticket or roles.is_support(user) or roles.is_supervisor(user),
        "timeline": rows,
        "open_escalation": open_escalation(rows),
        "wishes": wishes_context(
            user, ticket, form=bound if isinstance(bound, MessageWishesForm) else None
        ),
        "max_attempts": settings.TIER2_MAX_CONTACT_ATTEMPTS,
    }  # fmt: skip


def render_workspace(request, ticket, *, bound=None, status: int = 200):
    context = workspace_context(request, ticket, bound=bound)
    return render(request, "tickets/workspace.html", context, status=status)


def _queue_url(request, **kwargs) -> str:
    return reverse("queue")


@login_required
@maps_domain_errors(_queue_url)
def workspace(request, pk: int):
    ticket = selectors.ticket_for(request.user, pk)
    return render_workspace(request, ticket)


@login_required
@require_POST
@maps_domain_errors(ticket_url)
def take(request, pk: int):
    """Take this ticket (one agent only: a second gets told who has it)."""
    ticket = services.claim_ticket(ticket_id=pk, agent=request.user)
    messages.success(request, _("%(number)s is yours now.") % {"number": ticket.number})
    return redirect_to(request, ticket_url(request, pk))


@login_required
@require_POST
@maps_domain_errors(ticket_url)
def action(request, pk: int, name: str):
    """Take one transition with the inputs its form asked for."""
    ticket = selectors.ticket_for(request.user, pk)
    options = services.available_transitions(ticket, request.user)
    option = next((item for item in options if item.name == name), None)
    shown_state = request.POST.get(f"{name}-expected_state", "")
    if option is None or shown_state != ticket.state:
        # Not on offer now (the page is stale, or the action was never open to this user): the
        # service says which, with the state the page showed.
        services.transition_ticket(
            ticket_id=pk, name=name, actor=request.user, inputs={}, expected_state=shown_state
        )
        return redirect_to(request, ticket_url(request, pk))
    form = TransitionForm(request.POST, machine=ticket, option=option)
    if form.is_valid():
        with form_errors(form):
            changed = services.transition_ticket(
                ticket_id=pk,
                name=name,
                actor=request.user,
                inputs=form.inputs(),
                expected_state=form.cleaned_data["expected_state"],
            )
            messages.success(
                request,
                _("%(label)s: the ticket is now “%(state)s”.")
                % {"label": option.label, "state": state_label(changed.flow, changed.state)},
            )
            return redirect_to(request, ticket_url(request, pk))
    messages.error(request, _("Check the highlighted fields."))
    return render_workspace(request, ticket, bound=form, status=INVALID)


@login_required
@require_POST
@maps_domain_errors(ticket_url)
def contact(request, pk: int):
    """Record one call to the customer and its outcome."""
    ticket = selectors.ticket_for(request.user, pk)
    form = ContactAttemptForm(request.POST, machine=ticket)
    if form.is_valid():
        with form_errors(form):
            attempt = services.record_contact_attempt(
                ticket_id=pk,
                agent=request.user,
                outcome=form.cleaned_data["outcome"],
                note=form.cleaned_data["note"],
                expected_state=form.cleaned_data["expected_state"],
            )
            outcome = attempt.get_outcome_display()
            messages.success(request, _("Call recorded: %(outcome)s.") % {"outcome": outcome})
            return redirect_to(request, ticket_url(request, pk))
    messages.error(request, _("Check the highlighted fields."))
    return render_workspace(request, ticket, bound=form, status=INVALID)


@login_required
@require_POST
@maps_domain_errors(ticket_url)
def note(request, pk: int):
    """Add a note to the ticket's timeline."""
    ticket = selectors.ticket_for(request.user, pk)
    form = NoteForm(request.POST)
    if form.is_valid():
        with form_errors(form):
            services.add_note(ticket_id=pk, author=request.user, text=form.cleaned_data["text"])
            messages.success(request, _("Note added."))
            return redirect_to(request, ticket_url(request, pk))
    messages.error(request, _("Check the highlighted fields."))
    return render_workspace(request, ticket, bound=form, status=INVALID)


@login_required
@require_POST
@maps_domain_errors(ticket_url)
def retry_call(request, pk: int, call_id: int):
    """Send a failed external call again (the evidence row keeps its idempotency key)."""
    selectors.ticket_for(request.user, pk)
    if not AdapterCall.objects.filter(pk=call_id, ticket_id=pk).exists():
        raise Http404
    services.retry_call(call_id=call_id, actor=request.user)
    messages.success(request, _("The call was sent again."))
    return redirect_to(request, ticket_url(request, pk))
