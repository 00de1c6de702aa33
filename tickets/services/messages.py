"""Messages to customers (SMS, WhatsApp), sent by the workflow itself (docs/notifications.md).

- **Templates** (`MessageTemplate`): one text per event, flow (or every flow) and channel, in
  Indonesian with English optional. `save_template` checks the placeholders against the event's
  list (`PLACEHOLDERS`) before anything is written.
- **When**: a ticket's arrival (report received; the Fresh Lapul apology instead for a repeat
  report), a technician sent (`escalate_to_field`), a fix done, a close, for the flows whose
  customer reported the fault (`REPORT_FLOWS`); a gamas incident's opening and recovery, by a
  broadcast an incident manager starts (`start_broadcast`), written in batches in the
  background with its progress on the incident.
- **Once**: each message has a unique `once` key: per ticket and event, or per incident, event
  and customer for a broadcast. A replayed change or a redelivered batch writes nothing new.
- **Never lost, never twice**: a message is written in the transaction of the change it tells
  about and goes out through the outbox (`AdapterCall`, idempotency key `t2-msg-<id>`), so the
  exactly-once guarantees of every external call hold for it.
- **The customer's wishes**: opted out, nothing is sent (the row says why); inside quiet hours
  or past the rate limit the message is held and released by the sweep (`release_held`).
- **Receipts**: the gateways push them (`record_receipts`, their signed webhooks) and
  `poll_receipts` asks for those still missing; both apply each one with `apply_receipt`,
  which only moves a status forward. The ticket's timeline shows every message with its
  status, updated on open pages as it changes (`live.ticket_page_changed`).
- **SMS length**: a template must fit in the gateway's parts with every placeholder at its
  longest (`longest_values`); a value that still makes a message too long (a name outside the
  SMS alphabet) is cut with "..." (`fit_sms`).
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, Min, OuterRef, Q
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import override
from kombu.exceptions import OperationalError

from integrations import outbox
from integrations.adapters import AdapterError, get_adapter
from integrations.adapters.base import MOBILE_NUMBER_RE
from integrations.adapters.receipts import DeliveryReceipt
from integrations.adapters.sms import GSM7_BASIC, GSM7_EXTENSION, MAX_SEGMENTS, sms_segments

from .. import roles
from ..exceptions import InvalidInput, TransitionForbidden
from ..flows.gamas import incident_managers
from ..models import (
    AreaLevel,
    Broadcast,
    Customer,
    CustomerMessage,
    Flow,
    GamasIncident,
    MessageChannel,
    MessageEvent,
    MessageLanguage,
    MessageStatus,
    MessageTemplate,
    Service,
    Ticket,
    TimeZone,
    zone_short_name,
)
from . import live
from .engine import after_transition

log = logging.getLogger(__name__)
Event = MessageEvent
BROADCAST_TASK = "tickets.tasks.run_broadcast"  # named, not imported: the tasks sit above

# --- Which moments speak to the customer ------------------------------------------------------
# The flows whose customer reported the fault; the call-list flows (Callback, C4 Caring, Force
# Close, Ideas) reach the customer by phone instead.
REPORT_FLOWS = frozenset({Flow.NOSSA, Flow.GAMAS, Flow.FRESH_LAPUL})
# Transitions that tell the customer something, per flow; any transition into `closed` of a
# report flow is the CLOSED event.
TRANSITION_EVENTS: dict[tuple[str, str], str] = {
    (Flow.NOSSA, "escalate_to_field"): Event.TECHNICIAN_DISPATCHED,
    (Flow.NOSSA, "remote_fix_done"): Event.RESTORED,
    (Flow.NOSSA, "field_done"): Event.RESTORED,
}
CLOSING_TRANSITIONS = ("close", "close_unreachable", "close_recovered")
BROADCAST_EVENTS = {"open": Event.GAMAS_OPENED, "recovered": Event.GAMAS_RECOVERED}

# --- Placeholders -----------------------------------------------------------------------------
_TICKET = ("customer_name", "ticket_number", "service_number")
_INCIDENT = ("customer_name", "service_number", "incident_number", "incident_title", "area")
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    Event.REPORT_RECEIVED: (*_TICKET, "expected_time"),
    Event.TECHNICIAN_DISPATCHED: (*_TICKET, "expected_time"),
    Event.RESTORED: _TICKET,
    Event.CLOSED: _TICKET,
    Event.LAPUL_APOLOGY: (*_TICKET, "expected_time", "previous_ticket_number"),
    Event.GAMAS_OPENED: _INCIDENT,
    Event.GAMAS_RECOVERED: _INCIDENT,
}


def placeholders_in(text: str) -> list[str]:
    """The `{name}` placeholders of a text, in order of appearance (repeats kept).

    Raises ValueError for what is not a plain named placeholder: an unmatched brace, `{}` or
    `{0}`, an attribute or index (`{a.b}`, `{a[0]}`), a conversion or a format spec.
    """
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as unbalanced:  # Python's words ("Single '}' encountered..."), not ours
        raise ValueError(
            _("A brace is not closed or not opened: write {name}, or {{ and }} for a brace.")
        ) from unbalanced
    names = []
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if not re.fullmatch(r"[a-z_]+", field) or spec or conversion:
            shown = "{" + field + ("!" + conversion if conversion else "") + (
                ":" + spec if spec else ""
            ) + "}"  # fmt: skip
            raise ValueError(_("%(field)s is not a placeholder; write {name}.") % {"field": shown})
        names.append(field)
    return names


def _text_errors(event: str, text: str, channel: str) -> list[str]:
    allowed = PLACEHOLDERS.get(event, ())
    try:
        names = placeholders_in(text)
    except ValueError as problem:
        return [str(problem)]
    errors = []
    unknown = sorted({name for name in names if name not in allowed})
    if unknown:
        errors.append(
            _("Unknown placeholder %(names)s. This event offers: %(allowed)s.")
            % {
                "names": ", ".join("{" + name + "}" for name in unknown),
                "allowed": ", ".join("{" + name + "}" for name in allowed),
            }
        )
    if channel == MessageChannel.SMS and not unknown:
        errors += _sms_length_errors(text, names)
    return errors


def _sms_length_errors(text: str, names: list[str]) -> list[str]:
    """The text filled in with every placeholder at its longest possible value must fit in the
    gateway's parts: a long customer name cannot push a saved template over the limit."""
    count = sms_segments(text.format_map(longest_values()))
    if count <= MAX_SEGMENTS:
        return []
    if names:
        problem = _(
            "The gateway sends at most %(max)d SMS parts; with its placeholders at their longest "
            "(%(names)s: as long as their fields allow), this text needs %(count)d."
        ) % {
            "max": MAX_SEGMENTS,
            "count": count,
            "names": ", ".join("{" + name + "}" for name in dict.fromkeys(names)),
        }
    else:
        problem = _("The gateway sends at most %(max)d SMS parts; this text needs %(count)d.") % {
            "max": MAX_SEGMENTS,
            "count": count,
        }
    outside = next(
        (char for char in text if char not in GSM7_BASIC and char not in GSM7_EXTENSION), None
    )
    if outside is not None:
        problem += " " + _(
            "It has characters outside the SMS alphabet (GSM-7), such as %(char)s, so each part "
            "holds 67 characters instead of 153."
        ) % {"char": repr(outside)}
    return [problem]


TEMPLATE_FIELDS = ("event", "flow", "channel", "text_id", "text_en", "whatsapp_name", "active")


def save_template(*, actor, template_id: int | None = None, **fields) -> MessageTemplate:
    """Create (`template_id` None) or change a message template; administrators only.

    Every error is collected and raised together as InvalidInput (field -> messages); nothing is
    written unless all of it is valid. A WhatsApp template's approval is asked of WhatsApp.
    """
    if not roles.is_admin(actor):
        raise TransitionForbidden()
    unknown = set(fields) - set(TEMPLATE_FIELDS)
    if unknown:
        raise InvalidInput({name: [_("Unknown field.")] for name in sorted(unknown)})
    # WhatsApp is asked before any row is locked: a slow answer holds no lock.
    asked = _approval_before_save(template_id, fields)
    with transaction.atomic():
        if template_id is None:
            template = MessageTemplate()
        else:
            try:
                template = MessageTemplate.objects.select_for_update().get(pk=template_id)
            except (MessageTemplate.DoesNotExist, ValueError, TypeError) as missing:
                raise InvalidInput({"template": [_("No such template.")]}) from missing
        for name, value in fields.items():
            setattr(template, name, value.strip() if isinstance(value, str) else value)
        errors = _template_errors(template)
        if errors:
            raise InvalidInput(errors)
        if template.channel == MessageChannel.WHATSAPP:
            known = asked.get(template.whatsapp_name)
            template.whatsapp_status = known or whatsapp_approval(template.whatsapp_name)
        else:
            template.whatsapp_name, template.whatsapp_status = "", ""
        template.updated_at, template.updated_by = timezone.now(), actor
        try:
            with transaction.atomic():
                template.save()
        except IntegrityError as clash:
            raise InvalidInput(
                {"event": [_("There is already a template for this event, flow and channel.")]}
            ) from clash
        return template


def _template_errors(template: MessageTemplate) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if template.event not in Event.values:
        errors["event"] = [_("Choose an event.")]
    if template.flow and template.flow not in Flow.values:
        errors["flow"] = [_("Choose a flow, or none for every flow.")]
    if template.channel not in MessageChannel.values:
        errors["channel"] = [_("Choose SMS or WhatsApp.")]
    if not isinstance(template.active, bool):
        errors["active"] = [_("Must be true or false.")]
    texts = {"text_id": template.text_id, "text_en": template.text_en}
    for name, text in texts.items():
        if not isinstance(text, str):
            errors[name] = [_("Must be text.")]
    if "text_id" not in errors and not template.text_id:
        errors["text_id"] = [_("The Indonesian text is required.")]
    if "event" not in errors and "channel" not in errors:
        for name, text in texts.items():
            if name not in errors and text:
                found = _text_errors(template.event, text, template.channel)
                if found:
                    errors[name] = found
        if template.channel == MessageChannel.WHATSAPP:
            name = template.whatsapp_name
            if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,64}", name or ""):
                errors["whatsapp_name"] = [
                    _("WhatsApp needs the approved template's name: lower-case letters, digits, _.")
                ]
            elif (
                template.text_en
                and "text_id" not in errors
                and "text_en" not in errors
                and placeholders_in(template.text_en) != placeholders_in(template.text_id)
            ):
                errors["text_en"] = [
                    _("WhatsApp sends the same parameters in both languages: use the "
                      "Indonesian text's placeholders, in the same order.")
                ]  # fmt: skip
    return errors


def _approval_before_save(template_id, fields: dict) -> dict[str, str]:
    """{name: WhatsApp's verdict} for the WhatsApp template a save will leave, when it is one."""
    current = (
        MessageTemplate.objects.filter(pk=template_id).values("channel", "whatsapp_name").first()
        if template_id is not None and str(template_id).isdigit()
        else None
    ) or {"channel": "", "whatsapp_name": ""}
    channel = fields.get("channel", current["channel"])
    name = fields.get("whatsapp_name", current["whatsapp_name"])
    name = name.strip() if isinstance(name, str) else ""
    if channel != MessageChannel.WHATSAPP or not re.fullmatch(r"[a-z0-9_]{1,64}", name):
        return {}
    return {name: whatsapp_approval(name)}


def whatsapp_approval(name: str) -> str:
    """WhatsApp's verdict on a template in Indonesian ("unknown" when it cannot be asked)."""
    try:
        answer = get_adapter("whatsapp").template_status(
            name=name, language=MessageLanguage.INDONESIAN
        )
    except AdapterError as problem:
        log.warning("WhatsApp template %s: approval not known (%s)", name, problem)
        return "unknown"
    return answer.status


# --- Writing a message ------------------------------------------------------------------------
def msisdn(phone: str) -> str:
    """An Indonesian mobile number as the gateways want it (628...), or "" if it is not one."""
    digits = re.sub(r"\D", "", phone or "")
    if digits.startswith("0"):
        digits = "62" + digits[1:]
    return digits if MOBILE_NUMBER_RE.fullmatch(digits) else ""


def _template_for(event: str, flow: str, channel: str) -> MessageTemplate | None:
    rows = MessageTemplate.objects.filter(event=event, channel=channel, active=True).filter(
        Q(flow=flow) | Q(flow="")
    )
    if channel == MessageChannel.WHATSAPP:
        rows = rows.filter(whatsapp_status="approved")
    return min(rows, key=lambda row: row.flow != flow, default=None)  # the flow's own first


def has_template(event: str, flow: str) -> bool:
    """Whether some customer could be sent the event (an active template in either channel)."""
    return any(_template_for(event, flow, channel) for channel in MessageChannel.values)


def _pick(customer: Customer, event: str, flow: str) -> MessageTemplate | None:
    """The customer's channel first, the other one when that channel has no usable template."""
    preferred = customer.message_channel
    other = MessageChannel.SMS if preferred == MessageChannel.WHATSAPP else MessageChannel.WHATSAPP
    return _template_for(event, flow, preferred) or _template_for(event, flow, other)


def _local_time_zone(ticket: Ticket | None) -> ZoneInfo:
    site = ticket.site if ticket is not None else None
    calendar = site.calendar if site is not None and site.calendar_id else None
    return ZoneInfo(calendar.time_zone if calendar else settings.TIME_ZONE)


def _quiet_window(customer: Customer) -> tuple[time, time] | None:
    if customer.quiet_from and customer.quiet_until:
        return customer.quiet_from, customer.quiet_until
    default = settings.TIER2_MESSAGE_QUIET_HOURS
    if not default:
        return None
    start, _dash, end = default.partition("-")
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())


def quiet_until(customer: Customer, at: datetime, zone: ZoneInfo) -> datetime | None:
    """When the customer's quiet hours containing `at` end, or None outside them."""
    window = _quiet_window(customer)
    if window is None or window[0] == window[1]:
        return None
    start, end = window
    local = at.astimezone(zone)
    now = local.time()
    inside = start <= now < end if start < end else (now >= start or now < end)
    if not inside:
        return None
    day = local.date() if now < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone)


def _rate() -> tuple[int, timedelta]:
    count, _slash, period = settings.TIER2_MESSAGE_RATE.partition("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]
    return int(count), timedelta(seconds=seconds)


def rate_allows_at(customer_id: int, at: datetime) -> datetime | None:
    """None when one more message may go to the customer at `at`; else when it may."""
    limit, period = _rate()
    recent = list(
        CustomerMessage.objects.filter(customer_id=customer_id, queued_at__gt=at - period)
        .order_by("-queued_at")
        .values_list("queued_at", flat=True)[:limit]
    )
    if len(recent) < limit:
        return None
    return recent[-1] + period  # when the oldest of the last `limit` leaves the window


def _values(event: str, ticket: Ticket | None, incident: GamasIncident | None, customer, zone):
    service = ticket.service if ticket is not None else None
    values = {
        "customer_name": customer.name,
        "service_number": service.service_number if service else "",
        "ticket_number": ticket.number if ticket is not None else "",
    }
    if ticket is not None:
        expected = ticket.slg_due or ticket.resolve_by
        values["expected_time"] = (
            formats.date_format(expected.astimezone(zone), "j M Y H:i")
            + " "
            + zone_short_name(zone.key, zone.key)
            if expected
            else ""
        )
        previous = ticket.previous_ticket
        values["previous_ticket_number"] = previous.number if previous is not None else ""
    if incident is not None:
        values.update(
            incident_number=incident.number,
            incident_title=incident.title,
            area=f"{incident.area_level.upper()} {incident.area_code}",
        )
    return values


@dataclass(frozen=True)
class Rendered:
    text: str
    parameters: list[str]


def render(template: MessageTemplate, language: str, values: dict) -> Rendered:
    text = template.text_en if language == MessageLanguage.ENGLISH and template.text_en else (
        template.text_id
    )  # fmt: skip
    names = placeholders_in(text)
    filled = {name: str(values.get(name, "")) for name in names}
    if template.channel == MessageChannel.SMS:
        filled = fit_sms(text, filled)
    return Rendered(
        text=text.format_map(filled),
        # WhatsApp refuses an empty parameter: a value the ticket lacks is sent as "-".
        parameters=[filled[name] or "-" for name in names],
    )


# --- SMS length after filling in --------------------------------------------------------------
# Values written by people, which may be cut to make an SMS fit; every other value (numbers,
# times, the area's code) is an identifier the customer needs whole, and is never cut.
FREE_TEXT = ("customer_name", "incident_title")
# Where a value was cut. Three dots, not "…": that character is outside GSM-7, and one of them
# would turn the whole SMS into UCS-2, 67 characters a part instead of 153.
SHORTENED = "..."
_LARGEST_ID = 2**63 - 1  # a BigAutoField's: the longest ticket and incident numbers


@lru_cache(maxsize=1)
def longest_values() -> dict[str, str]:
    """The longest value each placeholder can take: the model field it is filled from at its
    max_length, or its longest written form (numbers of the largest id, the longest date in
    either language). Written in GSM-7's letters, one place each, so a text is counted in the
    alphabet its own characters need."""

    def longest(model, field: str, char: str = "x") -> str:
        return char * model._meta.get_field(field).max_length

    number = Ticket(pk=_LARGEST_ID).number
    return {
        "customer_name": longest(Customer, "name"),
        "service_number": longest(Service, "service_number", "0"),
        "ticket_number": number,
        "previous_ticket_number": number,
        "expected_time": _longest_expected_time(),
        "incident_number": GamasIncident(pk=_LARGEST_ID).number,
        "incident_title": longest(GamasIncident, "title"),
        "area": "X" * max(map(len, AreaLevel.values)) + " " + longest(GamasIncident, "area_code"),
    }


def _longest_expected_time() -> str:
    """`expected_time` as `_values` writes it, at its longest over the months, the languages
    and the time zones (`28 Agu 2026 23:59 WITA`)."""
    written = []
    for language, _name in settings.LANGUAGES:
        with override(language):
            written += [
                formats.date_format(datetime(2026, month, 28, 23, 59), "j M Y H:i")
                for month in range(1, 13)
            ]
    zone = max((zone_short_name(key) for key in TimeZone.values), key=len)
    return max(written, key=len) + " " + zone


def fit_sms(text: str, values: dict[str, str]) -> dict[str, str]:
    """`values` with the free-text ones (`FREE_TEXT`) cut, the longest first, each ending in
    "...", as little as makes `text` filled with them fit in the gateway's parts: each keeps
    its first `keep` characters, the largest `keep` that fits.

    A saved template fits with every value at its longest in GSM-7, so this cuts only when a
    value turns the SMS into UCS-2 (a name with a character outside GSM-7, an emoji) or takes
    two places a character. Unchanged when it fits already, or when even cut to "..." it would
    not: the gateway then refuses it and the message ends failed, with the gateway's reason.
    """

    def fits(candidate: dict[str, str]) -> bool:
        return sms_segments(text.format_map(candidate)) <= MAX_SEGMENTS

    free = [name for name in FREE_TEXT if len(values.get(name, "")) > len(SHORTENED)]
    if not free or fits(values):
        return values

    def cut(keep: int) -> dict[str, str]:
        return {**values, **{name: _shorten(values[name], keep) for name in free}}

    if not fits(cut(0)):
        return values
    low, high = 0, max(len(values[name]) for name in free) - 1
    while low < high:  # `low` always fits
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(cut(middle)) else (low, middle - 1)
    return cut(low)


def _shorten(value: str, keep: int) -> str:
    return value if len(value) <= keep else value[:keep].rstrip() + SHORTENED


def write_message(
    *,
    event: str,
    customer: Customer,
    ticket: Ticket | None = None,
    incident: GamasIncident | None = None,
    once: str,
) -> CustomerMessage | None:
    """Write one message (in the caller's transaction) and queue it or hold it; None when the
    event has no template, or this `once` key was written already."""
    if CustomerMessage.objects.filter(once=once).exists():
        return None
    # An incident's messages are the IVR Gamas flow's, whatever flow the linked report is in.
    flow = Flow.GAMAS if incident is not None or ticket is None else ticket.flow
    template = _pick(customer, event, flow)
    if template is None:
        return None
    language = customer.message_language
    if language == MessageLanguage.ENGLISH and not template.text_en:
        language = MessageLanguage.INDONESIAN
    zone = _local_time_zone(ticket)
    with override(language):
        rendered = render(template, language, _values(event, ticket, incident, customer, zone))
    message = CustomerMessage(
        customer=customer, ticket=ticket, incident=incident, event=event,
        channel=template.channel, language=language, template=template,
        to_number=msisdn(customer.phone), text=rendered.text, parameters=rendered.parameters,
        once=once, status=MessageStatus.HELD,
    )  # fmt: skip
    if customer.messages_opt_out:
        message.status, message.reason = MessageStatus.SKIPPED, "opted_out"
    elif not message.to_number:
        message.status, message.reason = MessageStatus.SKIPPED, "no_mobile_number"
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError:  # a concurrent change wrote this `once` first
        return None
    if message.status == MessageStatus.HELD:
        _queue_or_hold(message, zone)
    _shown(message)
    return message


def _queue_or_hold(message: CustomerMessage, zone: ZoneInfo, now: datetime | None = None) -> None:
    """Send the message through the outbox now, or hold it until quiet hours or the rate limit
    allow. The customer's row is locked, so two messages never both take the last free place."""
    now = now or timezone.now()
    Customer.objects.select_for_update().filter(pk=message.customer_id).first()
    customer = message.customer
    quiet, limited = quiet_until(customer, now, zone), rate_allows_at(customer.pk, now)
    if quiet or limited:
        message.status = MessageStatus.HELD
        message.not_before = max(when for when in (quiet, limited) if when is not None)
        message.reason = "quiet_hours" if quiet else "rate_limit"
        message.save(update_fields=["status", "not_before", "reason"])
        return
    if message.channel == MessageChannel.WHATSAPP:
        operation = "send_template"
        request = {
            "to": message.to_number,
            "name": message.template.whatsapp_name if message.template else "",
            "language": message.language,
            "parameters": message.parameters,
        }
    else:
        operation = "send"
        request = {
            "to": message.to_number,
            "text": message.text,
            "sender_id": settings.TIER2_SMS_SENDER_ID,
        }
    message.call = outbox.enqueue_request(
        app=message.channel,
        operation=operation,
        request=request,
        idempotency_key=f"t2-msg-{message.pk}",
        ticket=message.ticket,
        incident=message.incident,
    )
    message.status, message.queued_at, message.not_before, message.reason = (
        MessageStatus.QUEUED, now, None, ""
    )  # fmt: skip
    message.save(update_fields=["call", "status", "queued_at", "not_before", "reason"])


def release_held(*, now: datetime | None = None, batch: int | None = None) -> int:
    """Queue the held messages whose time has come (the sweep); returns how many were queued.

    Each is looked at again: a customer who opted out meanwhile gets nothing, and one still
    inside quiet hours or the rate limit stays held with a new time.
    """
    now = now or timezone.now()
    batch = batch or settings.TIER2_MESSAGE_BATCH
    queued = 0
    with transaction.atomic():
        held = list(
            CustomerMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("customer", "template", "ticket__site__calendar")
            .filter(status=MessageStatus.HELD, not_before__lte=now)
            .order_by("not_before", "pk")[:batch]
        )
        for message in held:
            if message.customer.messages_opt_out:
                message.status, message.reason = MessageStatus.SKIPPED, "opted_out"
                message.save(update_fields=["status", "reason"])
            else:
                _queue_or_hold(message, _local_time_zone(message.ticket), now)
                queued += message.status == MessageStatus.QUEUED
            _shown(message)
    return queued


# --- The moments: arrival, transitions --------------------------------------------------------
def ticket_arrived(ticket: Ticket) -> None:
    """A ticket of a report flow arrived: its customer hears it was received (or, for a repeat
    report, the Fresh Lapul apology)."""
    if ticket.flow not in REPORT_FLOWS:
        return
    event = Event.LAPUL_APOLOGY if ticket.flow == Flow.FRESH_LAPUL else Event.REPORT_RECEIVED
    _ticket_message(ticket, event)


def _ticket_message(ticket: Ticket, event: str) -> None:
    customer = ticket.service.customer
    write_message(event=event, customer=customer, ticket=ticket, once=f"{event}:t{ticket.pk}")


def _transition_hook(name: str):
    """What `name` tells the customer of a report flow's ticket, run after it (same transaction)."""

    def after(machine, actor, inputs, from_state) -> None:
        if not isinstance(machine, Ticket) or machine.flow not in REPORT_FLOWS:
            return
        event = TRANSITION_EVENTS.get((machine.flow, name))
        if event is None and name in CLOSING_TRANSITIONS and machine.state == "closed":
            event = Event.CLOSED
        if event is not None:
            _ticket_message(machine, event)

    return after


for _name in sorted({*(name for _flow, name in TRANSITION_EVENTS), *CLOSING_TRANSITIONS}):
    after_transition(_name)(_transition_hook(_name))


def customer_linked(ticket: Ticket, incident: GamasIncident) -> None:
    """A report joined an incident whose customers were already told of it: this one is too."""
    event = BROADCAST_EVENTS.get(incident.state)
    if event and Broadcast.objects.filter(incident=incident, event=event).exists():
        customer = ticket.service.customer
        write_message(
            event=event, customer=customer, ticket=ticket, incident=incident,
            once=_broadcast_once(event, incident.pk, customer.pk),
        )  # fmt: skip


# --- Gamas broadcasts -------------------------------------------------------------------------
def _broadcast_once(event: str, incident_id: int, customer_id: int) -> str:
    return f"{event}:i{incident_id}:c{customer_id}"


def _customers_to_inform(incident_id: int, event: str):
    """(customer id, one of their tickets) for each linked customer without this message yet."""
    told = CustomerMessage.objects.filter(
        incident_id=incident_id, event=event, customer_id=OuterRef("service__customer_id")
    )
    return (
        Ticket.objects.filter(gamas_incident_id=incident_id)
        .filter(~Exists(told))
        .values("service__customer_id")
        .annotate(ticket_id=Min("pk"))
        .order_by("service__customer_id")
    )


def start_broadcast(*, incident_id: int, actor) -> tuple[Broadcast, bool]:
    """Inform every customer linked to the incident of its opening (while open) or recovery
    (once recovered); returns (broadcast, created). Starting it again returns the broadcast
    already made: at most once per event. Refused while no active template can carry the event
    (a broadcast made then would inform nobody, for good). The messages are written in the
    background (`broadcast_batch`)."""
    if not incident_managers(None, actor):
        raise TransitionForbidden()
    with transaction.atomic():
        try:
            incident = GamasIncident.objects.select_for_update().get(pk=incident_id)
        except (GamasIncident.DoesNotExist, ValueError, TypeError) as missing:
            raise InvalidInput({"incident": [_("No such incident.")]}) from missing
        event = BROADCAST_EVENTS.get(incident.state)
        if event is None:
            raise InvalidInput(
                {"incident": [_("A closed incident's customers are not informed any more.")]}
            )
        broadcast = Broadcast.objects.filter(incident=incident, event=event).first()
        if broadcast is not None:
            return broadcast, False
        if not has_template(event, Flow.GAMAS):
            raise InvalidInput(
                {"incident": [_("No active message template for this event: nobody can be "
                                "informed yet.")]}
            )  # fmt: skip
        total = Ticket.objects.filter(gamas_incident=incident).aggregate(
            customers=Count("service__customer_id", distinct=True)
        )["customers"]
        broadcast = Broadcast.objects.create(
            incident=incident, event=event, started_by=actor, total=total
        )
        live.incident_changed(incident.pk)
        transaction.on_commit(lambda: send_broadcast(broadcast.pk))
        return broadcast, True


def send_broadcast(broadcast_id: int) -> bool:
    """Ask a worker for the next batch; if the broker is down, the sweep asks later."""
    try:
        current_app.tasks[BROADCAST_TASK].delay(broadcast_id)
    except OperationalError:
        log.warning("Broker unreachable: broadcast %s waits for the sweep.", broadcast_id)
        return False
    return True


def broadcast_batch(*, broadcast_id: int, batch_size: int | None = None) -> int | None:
    """Write the next batch of a broadcast's messages in one transaction.

    Returns how many customers it handled, 0 when the broadcast is finished, or None when
    another worker holds the broadcast right now (a duplicate delivery: it does nothing).
    """
    batch_size = batch_size or settings.TIER2_MESSAGE_BATCH
    with transaction.atomic():
        broadcast = (
            # Only the broadcast's row: the incident stays free for reports and closes.
            Broadcast.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("incident")
            .filter(pk=broadcast_id)
            .first()
        )
        if broadcast is None:
            return None if Broadcast.objects.filter(pk=broadcast_id).exists() else 0
        if broadcast.finished_at is not None:
            return 0
        incident = broadcast.incident
        rows = list(_customers_to_inform(incident.pk, broadcast.event)[:batch_size])
        tickets = Ticket.objects.select_related("service__customer", "site__calendar").in_bulk(
            [row["ticket_id"] for row in rows]
        )
        for row in rows:
            ticket = tickets[row["ticket_id"]]
            customer = ticket.service.customer
            once = _broadcast_once(broadcast.event, incident.pk, customer.pk)
            written = write_message(
                event=broadcast.event, customer=customer, ticket=ticket, incident=incident,
                once=once,
            )  # fmt: skip
            if written is None and not CustomerMessage.objects.filter(once=once).exists():
                # No template for the event (it was deactivated meanwhile): nobody can be told.
                broadcast.finished_at = timezone.now()
                break
        broadcast.done = CustomerMessage.objects.filter(
            incident=incident, event=broadcast.event
        ).count()
        broadcast.total = max(broadcast.total, broadcast.done)
        if len(rows) < batch_size and broadcast.finished_at is None:
            broadcast.finished_at = timezone.now()
        broadcast.last_batch_at = timezone.now()
        broadcast.save(update_fields=["done", "total", "finished_at", "last_batch_at"])
        live.incident_changed(incident.pk)
        return len(rows)


BROADCAST_STALLED = timedelta(minutes=1)


def unfinished_broadcasts(now: datetime | None = None) -> list[int]:
    """Broadcasts not finished whose last batch (or start) is over a minute old: their next
    batch was never asked for, or its worker was lost. One moving along is left alone."""
    since = (now or timezone.now()) - BROADCAST_STALLED
    return list(
        Broadcast.objects.filter(finished_at__isnull=True)
        .filter(Q(last_batch_at__lt=since) | Q(last_batch_at__isnull=True, started_at__lt=since))
        .values_list("pk", flat=True)
    )


# --- Outcomes and receipts --------------------------------------------------------------------
_ORDER = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENT: 1,
    MessageStatus.DELIVERED: 2,
    MessageStatus.READ: 3,
}


def _advance(message: CustomerMessage, status: str, at: datetime, error: str = "") -> list[str]:
    """Move a message's status forward only (a late "delivered" never undoes "read")."""
    if message.status == MessageStatus.FAILED or status == message.status:
        return []
    if status == MessageStatus.FAILED:
        message.status, message.failed_at, message.reason = status, at, error[:255]
        return ["status", "failed_at", "reason"]
    if _ORDER.get(status, -1) <= _ORDER.get(message.status, -1):
        return []
    message.status = status
    changed = ["status"]
    for stamp, reached in (("sent_at", 1), ("delivered_at", 2), ("read_at", 3)):
        if _ORDER[status] >= reached and getattr(message, stamp) is None:
            setattr(message, stamp, at)
            changed.append(stamp)
    return changed


def _shown(message: CustomerMessage) -> None:
    """The message's ticket page shows its status: its open tabs fetch it again after commit."""
    if message.ticket_id is not None:
        live.ticket_page_changed(message.ticket_id, kind=live.CUSTOMER_MESSAGE)


def record_send_outcome(*, call) -> None:
    """The outbox finished a message's call (inside the transaction that records it)."""
    if call.app not in MessageChannel.values:
        return
    message = CustomerMessage.objects.select_for_update().filter(call_id=call.pk).first()
    if message is None:
        return
    at = call.finished_at or timezone.now()
    if call.status == "succeeded":
        message.provider_id = str((call.response or {}).get("message_id", ""))[:64]
        changed = ["provider_id", *_advance(message, MessageStatus.SENT, at)]
    else:
        changed = _advance(message, MessageStatus.FAILED, at, call.error)
    message.save(update_fields=changed)
    _shown(message)


def poll_receipts(*, now: datetime | None = None, batch: int | None = None) -> int:
    """Ask the gateways about messages sent recently and still waiting for a final receipt;
    returns how many changed. A gateway that cannot answer now is asked again next time.

    The fallback of the gateways' webhooks (`record_receipts`): a receipt pushed while the
    console was down, refused, or ahead of the send's own outcome is asked for here."""
    now = now or timezone.now()
    batch = batch or settings.TIER2_MESSAGE_BATCH
    since = now - timedelta(hours=settings.TIER2_MESSAGE_RECEIPT_HOURS)
    waiting = Q(status=MessageStatus.SENT) | Q(
        status=MessageStatus.DELIVERED, channel=MessageChannel.WHATSAPP
    )
    ids = list(
        CustomerMessage.objects.filter(waiting, sent_at__gte=since)
        .exclude(provider_id="")
        .order_by("sent_at", "pk")
        .values_list("pk", "channel", "provider_id")[:batch]
    )
    changed = 0
    for pk, channel, provider_id in ids:
        try:
            if channel == MessageChannel.WHATSAPP:
                answer = get_adapter("whatsapp").message_status(message_id=provider_id)
            else:
                answer = get_adapter("sms").delivery_status(message_id=provider_id)
        except AdapterError as problem:
            log.info("receipt of message %s not known yet: %s", pk, problem)
            continue
        changed += record_receipt(
            message_id=pk, status=answer.status, error=getattr(answer, "error", "") or ""
        )
    return changed


_RECEIPT_STATUSES = {
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "failed": MessageStatus.FAILED,
    "sent": MessageStatus.SENT,
    "accepted": MessageStatus.SENT,
}


def apply_receipt(message: CustomerMessage, *, status: str, at: datetime, error: str = "") -> bool:
    """Apply one gateway receipt (the gateway's status word) to a message whose row the caller
    has locked; whether its status moved. The one place a receipt is applied, for the poll and
    the webhooks alike: a status only moves forward (`_advance`: a duplicate or a late
    "delivered" after "read" changes nothing, "failed" is final), and a move is saved and shown
    on the ticket's open pages."""
    mapped = _RECEIPT_STATUSES.get(status)
    if mapped is None:
        return False
    changed = _advance(message, mapped, at, error)
    if not changed:
        return False
    message.save(update_fields=changed)
    _shown(message)
    return True


def record_receipt(*, message_id: int, status: str, error: str = "", at=None) -> int:
    """Record a gateway's receipt of one message, by its row id (the poll); 1 if the message's
    status moved, else 0."""
    with transaction.atomic():
        message = CustomerMessage.objects.select_for_update().filter(pk=message_id).first()
        if message is None:
            return 0
        return int(apply_receipt(message, status=status, at=at or timezone.now(), error=error))


@dataclass(frozen=True)
class ReceiptsRecorded:
    received: int  # receipts in the call
    changed: int  # of them, those that moved a message's status
    unknown: int  # of them, those naming a message id no message of the channel has


def record_receipts(*, channel: str, receipts: Sequence[DeliveryReceipt]) -> ReceiptsRecorded:
    """Receipts a gateway pushed (its webhook), naming its own message ids, applied in one
    transaction in the order given. A receipt's time in the future is taken as now.

    An id no message of the channel has is logged and ignored, so the gateway does not send it
    again and again: another system's message, or one whose send this console has not recorded
    yet (the receipt outran the send's answer); the poll asks for that one later."""
    if channel not in MessageChannel.values:
        raise ValueError(f"no such channel: {channel!r}")
    now = timezone.now()
    changed, unknown = 0, []
    with transaction.atomic():
        rows = (
            CustomerMessage.objects.select_for_update()
            .filter(channel=channel, provider_id__in={receipt.message_id for receipt in receipts})
            .order_by("pk")  # rows locked in one order: two calls at once cannot deadlock
        )
        by_id: dict[str, list[CustomerMessage]] = {}
        for message in rows:
            by_id.setdefault(message.provider_id, []).append(message)
        for receipt in receipts:
            found = by_id.get(receipt.message_id)
            if not found:
                unknown.append(receipt.message_id)
                continue
            at = min(receipt.at or now, now)
            for message in found:
                changed += apply_receipt(message, status=receipt.status, at=at, error=receipt.error)
    if unknown:
        log.info(
            "%s receipts of %d unknown message ids ignored: %s",
            channel, len(unknown), ", ".join(sorted(set(unknown))[:10]),
        )  # fmt: skip
    return ReceiptsRecorded(received=len(receipts), changed=changed, unknown=len(unknown))


# --- The customer's wishes --------------------------------------------------------------------
def _may_speak_for(actor, customer_id: int) -> bool:
    """Supervisors, Support and admins for any customer; an agent for the customer of a ticket
    the agent may work (their site and flows)."""
    if roles.sees_every_ticket(actor):
        return True
    if not roles.is_agent(actor):
        return False
    return roles.visible_tickets(actor).filter(service__customer_id=customer_id).exists()


def set_message_preferences(*, customer_id: int, actor, **wishes) -> Customer:
    """Record what the customer asked for (opt-out, channel, language, quiet hours), as told to
    an agent working one of their tickets or to a supervisor. Quiet hours come both or neither."""
    if not _may_speak_for(actor, customer_id):
        raise TransitionForbidden()
    allowed = {
        "messages_opt_out", "message_channel", "message_language", "quiet_from", "quiet_until",
    }  # fmt: skip
    errors: dict[str, list[str]] = {}
    for name in sorted(set(wishes) - allowed):
        errors[name] = [_("Unknown field.")]
    if "messages_opt_out" in wishes and not isinstance(wishes["messages_opt_out"], bool):
        errors["messages_opt_out"] = [_("Must be true or false.")]
    if "message_channel" in wishes and wishes["message_channel"] not in MessageChannel.values:
        errors["message_channel"] = [_("Choose SMS or WhatsApp.")]
    if "message_language" in wishes and wishes["message_language"] not in MessageLanguage.values:
        errors["message_language"] = [_("Choose Indonesian or English.")]
    for name in ("quiet_from", "quiet_until"):
        value = wishes.get(name)
        if value is not None and not isinstance(value, time):
            errors[name] = [_("Enter a time such as 21:00.")]
    if ("quiet_from" in wishes or "quiet_until" in wishes) and not errors:
        start, end = wishes.get("quiet_from"), wishes.get("quiet_until")
        if (start is None) != (end is None):
            errors["quiet_until"] = [_("Give both ends of the quiet hours, or neither.")]
        elif start is not None and start == end:
            errors["quiet_until"] = [_("The quiet hours cannot start and end at the same time.")]
    if errors:
        raise InvalidInput(errors)
    if not wishes:
        return Customer.objects.get(pk=customer_id)
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer_id)
        for name, value in wishes.items():
            setattr(customer, name, value)
        customer.save(update_fields=list(wishes))
        return customer
