"""Customer messages in the console (docs/notifications.md, docs/console.md "Customer messages"):

- the administrators' message templates: the list with WhatsApp's approval, a form to add one
  and to change one, each text beside the placeholders its event offers;
- the customer's wishes (no messages, channel, language, quiet hours) in the workspace's
  customer card, with the form for those who may record them;
- an incident's *Inform customers* and its broadcasts' progress, in the part of the incident
  page that follows the incident live;
- a message on the ticket's timeline, in words: its status, its times, why it waits or was not
  sent.

Every write is a service of `tickets.services.messages`; these views read forms and show the
outcome, as the other rooms do.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from .. import roles, selectors, services
from ..exceptions import TransitionForbidden
from ..flows.gamas import incident_managers
from ..forms import MessageWishesForm
from ..forms_supervisor import MessageTemplateForm
from ..models import (
    Broadcast,
    Flow,
    MessageChannel,
    MessageEvent,
    MessageLanguage,
    MessageStatus,
    MessageTemplate,
    zone_short_name,
)
from ..services.messages import BROADCAST_EVENTS, PLACEHOLDERS, has_template
from .access import incidents_required, role_required
from .mixins import form_errors, incident_state_now, maps_domain_errors, redirect_to

# The workspace and the incident page show what this module words (`message_row`,
# `wishes_context`, `broadcast_context`): they import it, so it imports them only when needed.
INVALID = 422  # a form came back with field errors


def ticket_url(request, pk, **kwargs) -> str:
    return reverse("ticket", args=[pk])


def incident_url(request, pk, **kwargs) -> str:
    return reverse("incident", args=[pk])


templates_required = role_required(
    roles.is_admin, gettext_lazy("Only admins edit the message templates.")
)

# WhatsApp's verdict on a template (MessageTemplate.whatsapp_status), in words.
APPROVAL_WORDS = {
    "approved": gettext_lazy("Approved"),
    "pending": gettext_lazy("Waiting for WhatsApp's approval"),
    "rejected": gettext_lazy("Rejected by WhatsApp"),
    "unknown": gettext_lazy("Not known: WhatsApp did not answer"),
}


# --- Message templates (administrators) ---------------------------------------------------------
def approval_text(template: MessageTemplate) -> str:
    if template.channel != MessageChannel.WHATSAPP:
        return _("not needed (SMS)")
    return str(APPROVAL_WORDS.get(template.whatsapp_status, template.whatsapp_status or "—"))


def template_rows() -> list[dict]:
    """Every template, in the order of the events (a ticket's, then an incident's), then flow
    (every flow first) and channel."""
    order = {code: index for index, code in enumerate(MessageEvent.values)}
    found = MessageTemplate.objects.select_related("updated_by").order_by("flow", "channel", "pk")
    return [
        {
            "template": template,
            "event": template.get_event_display(),
            "flow": template.get_flow_display() if template.flow else _("Every flow"),
            "channel": template.get_channel_display(),
            "approval": approval_text(template),
            "approval_code": template.whatsapp_status
            if template.channel == MessageChannel.WHATSAPP
            else "",
            "edit_url": reverse("message_template_edit", args=[template.pk]),
        }
        for template in sorted(found, key=lambda row: order.get(row.event, len(order)))
    ]


def placeholder_lists() -> list[dict]:
    """Each event with the placeholders its texts may use, in the events' order."""
    return [
        {"event": code, "label": label, "names": [f"{{{name}}}" for name in PLACEHOLDERS[code]]}
        for code, label in MessageEvent.choices
    ]


@templates_required
def templates(request):
    return render(
        request,
        "supervisor/message_templates.html",
        {"rows": template_rows(), "events": placeholder_lists()},
    )


def _render_form(request, form, template=None, *, status=200):
    return render(
        request,
        "supervisor/message_template_form.html",
        {
            "form": form,
            "template": template,
            "approval": approval_text(template) if template is not None else "",
            "events": placeholder_lists(),
            "chosen_event": form["event"].value() or "",
        },
        status=status,
    )


def _save(request, template: MessageTemplate | None):
    if request.method != "POST":
        if template is None:
            initial = {"channel": MessageChannel.SMS, "active": True}
        else:
            initial = {name: getattr(template, name) for name in MessageTemplateForm.base_fields}
        return _render_form(request, MessageTemplateForm(initial=initial), template)
    form = MessageTemplateForm(request.POST)
    if form.is_valid():
        with form_errors(form):  # the service's refusals land beside their fields; nothing saved
            saved = services.save_template(
                actor=request.user,
                template_id=template.pk if template is not None else None,
                **form.cleaned_data,
            )
            messages.success(request, _("Message template saved: %(name)s.") % {"name": saved})
            return redirect_to(request, reverse("message_templates"))
    messages.error(request, _("Check the highlighted fields. Nothing was saved."))
    return _render_form(request, form, template, status=INVALID)


@templates_required
@maps_domain_errors("message_templates")
def template_new(request):
    return _save(request, None)


@templates_required
@maps_domain_errors("message_templates")
def template_edit(request, pk: int):
    return _save(request, get_object_or_404(MessageTemplate, pk=pk))


# --- The customer's wishes (the workspace's customer card) -------------------------------------
def may_record_wishes(user, ticket) -> bool:
    """Who is offered the form: those who may work the ticket, and supervisors, Support and
    admins. The service decides (`set_message_preferences`); this only hides a form it would
    refuse."""
    return roles.may_work_ticket(user, ticket) or roles.sees_every_ticket(user)


def _clock(value) -> str:
    return value.strftime("%H:%M") if value else ""


def default_quiet_hours() -> str:
    """The console's quiet hours ("21:00–07:00"), or "" when there are none."""
    start, _dash, end = settings.TIER2_MESSAGE_QUIET_HOURS.partition("-")
    return f"{start.strip()}–{end.strip()}" if end else ""


def wishes_context(user, ticket, *, form=None, saved: bool = False) -> dict:
    customer = ticket.service.customer
    may_change = may_record_wishes(user, ticket)
    if form is None and may_change:
        form = MessageWishesForm(
            initial={
                "messages_opt_out": customer.messages_opt_out,
                "message_channel": customer.message_channel,
                "message_language": customer.message_language,
                "quiet_from": customer.quiet_from,
                "quiet_until": customer.quiet_until,
            }
        )
    own_quiet = customer.quiet_from and customer.quiet_until
    return {
        "ticket": ticket,
        "customer": customer,
        "channel": MessageChannel(customer.message_channel).label
        if customer.message_channel in MessageChannel.values
        else customer.message_channel,
        "language": MessageLanguage(customer.message_language).label
        if customer.message_language in MessageLanguage.values
        else customer.message_language,
        "quiet": f"{_clock(customer.quiet_from)}–{_clock(customer.quiet_until)}"
        if own_quiet
        else default_quiet_hours(),
        "quiet_is_default": not own_quiet,
        "default_quiet": default_quiet_hours(),
        "form": form if may_change else None,
        "saved": saved,
    }


@login_required
@require_POST
@maps_domain_errors(ticket_url)
def message_wishes(request, pk: int):
    """Record the customer's wishes from the customer card. A user the service refuses gets the
    403 page; bad input comes back beside its fields (htmx: the card's part alone)."""
    try:
        ticket = selectors.ticket_for(request.user, pk)
        form = MessageWishesForm(request.POST)
        saved = False
        if form.is_valid():
            with form_errors(form):
                services.set_message_preferences(
                    customer_id=ticket.service.customer_id, actor=request.user, **form.cleaned_data
                )
                saved = True
    except TransitionForbidden as refused:
        raise PermissionDenied(str(refused.message)) from refused
    if request.htmx:
        ticket.service.customer.refresh_from_db()
        context = wishes_context(request.user, ticket, form=None if saved else form, saved=saved)
        return render(request, "tickets/_message_wishes_answer.html", {"wishes": context})
    if saved:
        messages.success(request, _("The customer's wishes for messages are saved."))
        return redirect_to(request, ticket_url(request, pk))
    from .workspace import render_workspace

    messages.error(request, _("Check the highlighted fields."))
    return render_workspace(request, ticket, bound=form, status=INVALID)


# --- A message on the ticket's timeline ---------------------------------------------------------
def _zone_of(ticket) -> ZoneInfo:
    """The time zone of the ticket's site (its calendar's), where quiet hours are counted."""
    site = ticket.site if ticket is not None else None
    calendar = site.calendar if site is not None and site.calendar_id else None
    return ZoneInfo(calendar.time_zone if calendar else settings.TIME_ZONE)


def held_until_text(until: datetime, since: datetime, zone: ZoneInfo) -> str:
    """ "07:00 WIB" on the day the message was written, else "2 Dec 07:00 WIB"."""
    local = until.astimezone(zone)
    same_day = local.date() == since.astimezone(zone).date()
    shown = date_format(local, "H:i" if same_day else "j M H:i")
    return f"{shown} {zone_short_name(zone.key, zone.key)}"


def message_reason(entry, ticket) -> str:
    """Why a message waits, was not sent or failed, in words ("" when it went its way)."""
    status, reason = entry.status, entry.reason
    if status == MessageStatus.SKIPPED:
        if reason == "opted_out":
            return _("Not sent: the customer asked for no messages.")
        if reason == "no_mobile_number":
            return _("Not sent: the customer has no mobile number to send to.")
        return _("Not sent: %(reason)s") % {"reason": reason} if reason else _("Not sent.")
    if status == MessageStatus.HELD:
        if entry.until is None:
            return _("Held: it is sent as soon as it may be.")
        until = held_until_text(entry.until, entry.at, _zone_of(ticket))
        if reason == "quiet_hours":
            return _("Held until %(time)s (quiet hours).") % {"time": until}
        if reason == "rate_limit":
            return _(
                "Held until %(time)s (the customer has had as many messages as they may get "
                "for now)."
            ) % {"time": until}
        return _("Held until %(time)s.") % {"time": until}
    if status == MessageStatus.FAILED:
        return _("Failed: %(reason)s") % {"reason": reason} if reason else _("Failed.")
    return ""


def message_row(entry, ticket) -> dict:
    """The timeline's words for a message entry (`selectors.message_entry`)."""
    return {
        "title": entry.title,
        "status": str(MessageStatus(entry.status).label)
        if entry.status in MessageStatus.values
        else entry.status,
        "status_code": entry.status,
        "reason": message_reason(entry, ticket),
        "language": entry.language,
        "times": [
            {"label": MessageStatus(name).label, "at": at, "code": name} for name, at in entry.times
        ],
    }


# --- Gamas broadcasts on the incident page ------------------------------------------------------
def broadcast_rows(incident) -> list[dict]:
    rows = []
    for broadcast in Broadcast.objects.filter(incident=incident).order_by("started_at", "pk"):
        total, done = broadcast.total, broadcast.done
        rows.append(
            {
                "broadcast": broadcast,
                "event": broadcast.event,
                "label": broadcast.get_event_display(),
                "done": done,
                "total": total,
                "percent": round(100 * done / total) if total else 100,
                "finished": broadcast.finished_at is not None,
            }
        )
    return rows


def broadcast_context(user, incident) -> dict:
    """The incident's broadcasts with their progress, and what *Inform customers* would do now
    (None when there is nothing left to start: a closed incident, or its event already sent)."""
    rows = broadcast_rows(incident)
    event = BROADCAST_EVENTS.get(incident.state)
    inform = None
    if event and incident_managers(None, user) and event not in {row["event"] for row in rows}:
        inform = {
            "event": event,
            "label": MessageEvent(event).label,
            # With no usable template the service refuses the broadcast: the button waits.
            "has_template": has_template(event, Flow.GAMAS),
            "templates_url": reverse("message_templates") if roles.is_admin(user) else "",
        }
    return {"broadcasts": rows, "inform": inform}


@incidents_required
@require_POST
@maps_domain_errors(incident_url, state_of=incident_state_now)
def inform_customers(request, pk: int):
    """Start the broadcast of the incident's opening (open) or recovery (recovered)."""
    broadcast, _created = services.start_broadcast(incident_id=pk, actor=request.user)
    messages.success(
        request,
        ngettext(
            "%(event)s: the %(count)d customer of this incident is being informed.",
            "%(event)s: the %(count)d customers of this incident are being informed.",
            broadcast.total,
        )
        % {"event": broadcast.get_event_display(), "count": broadcast.total},
    )
    return redirect_to(request, incident_url(request, pk))
