"""Template helpers of the console: navigation by role, phone numbers as the user may read
them, labels, SLA countdowns, rupiah."""

from __future__ import annotations

import re
from datetime import datetime

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import roles
from ..views import presenters
from ..views.access import may_see_incidents

register = template.Library()

# `"phone": "0812..."`, `"caller_phone": "..."` or a gateway's `"to": "628..."` in a JSON text
# (not `"has_phone": true`): the keys of `roles.is_phone_key`.
PHONE_VALUE = re.compile(r'("(?:(?:\w+_)?phone|to)"\s*:\s*")([^"]*)"')


def _url(name: str, *args) -> str | None:
    """The URL of a console page, or None while that page is not part of the console."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


@register.simple_tag
def nav_items(user) -> list[dict]:
    """The main navigation for this user's roles (agent, supervisor, Support, admin)."""
    if not user.is_authenticated:
        return [{"url": reverse("flows"), "label": _("Flows")}]
    supervises = roles.is_supervisor(user) or roles.is_admin(user)
    wanted = [(_url("home"), _("Home"))]
    if roles.is_agent(user):
        wanted += [(_url("queue", "mine"), _("My tickets")), (_url("queue"), _("Queues"))]
    if supervises:
        wanted += [(_url("dashboard"), _("Dashboard")), (_url("queue", "all"), _("All tickets"))]
        wanted.append((_url("imports"), _("Call lists")))
    if roles.is_support(user) or supervises:
        desk = _url("escalation_desk")
        if desk is None and roles.is_support(user):
            desk = f"{reverse('queue', args=['all'])}?state=escalated"
        wanted.append((desk, _("Escalations")))
    if may_see_incidents(user):
        wanted.append((_url("incidents"), _("Gamas")))
    wanted.append((_url("flows"), _("Flows")))
    if roles.is_admin(user):
        wanted.append((_url("sla_policies"), _("SLA policies")))
    if user.is_staff:
        wanted.append((_url("admin:index"), _("Admin")))
    return [{"url": url, "label": label} for url, label in wanted if url]


@register.simple_tag
def role_names(user) -> str:
    names = [
        label
        for check, label in (
            (roles.is_agent, _("Agent")),
            (roles.is_supervisor, _("Supervisor")),
            (roles.is_support, _("Support")),
            (roles.is_admin, _("Admin")),
        )
        if check(user)
    ]
    return ", ".join(names)


@register.filter
def is_agent(user) -> bool:
    return roles.is_agent(user)


@register.filter
def sees_incidents(user) -> bool:
    """May open the gamas incident pages (supervisors, Support, admins)."""
    return may_see_incidents(user)


@register.simple_tag(takes_context=True)
def phone(context, number, ticket=None) -> str:
    """`{% phone number ticket %}`: a customer's number as the page's user may read it on
    `ticket` (`roles.may_see_phone`): in full for supervisors, Support, admins and the agent
    holding the ticket; masked (0812****7890) for other agents."""
    return roles.phone_as_seen(context.get("user"), ticket, number)


@register.simple_tag(takes_context=True)
def phones_in(context, text, ticket=None) -> str:
    """`{% phones_in json_text ticket %}`: an external application's answer (JSON text) with its
    phone numbers as the page's user may read them on `ticket` (see `phone`)."""
    if not text or roles.may_see_phone(context.get("user"), ticket):
        return text
    return PHONE_VALUE.sub(lambda found: found[1] + roles.mask_phone(found[2]) + '"', text)


@register.filter
def state_label(ticket) -> str:
    return presenters.state_label(ticket.flow, ticket.state)


@register.filter
def flow_label(code: str) -> str:
    return presenters.flow_label(code)


@register.filter
def deadline(ticket):
    return presenters.deadline_of(ticket)


@register.filter
def priority_class(value) -> str:
    return presenters.priority_class(value)


@register.filter
def countdown(moment) -> str:
    """Time left until `moment` as the SLA clock shows it (the page's script keeps it live)."""
    return presenters.countdown_text(moment)


@register.simple_tag
def countdown_of(moment, big=False):
    """`{% countdown_of moment %}`: the console's one countdown element (format, overdue class
    and reading, the moment in its title), the same on every page (presenters.countdown_markup)."""
    return presenters.countdown_markup(moment, big=bool(big))


@register.filter
def sla_view(ticket):
    """The ticket's running deadline, its countdown and the badge beside it (presenters)."""
    return presenters.sla_view(ticket)


@register.filter
def result_facts(ticket) -> list[dict]:
    """The answers the flow depends on (Starclick order, NOSSA work order, …) with their time."""
    return presenters.result_facts(ticket)


@register.filter
def moment(value) -> str:
    """A moment in full, as the console writes one (30 Nov 2026 14:05, local time)."""
    return presenters.moment_text(value)


@register.filter
def overdue(moment) -> bool:
    return moment is not None and moment < timezone.now()


@register.filter
def rupiah(amount) -> str:
    try:
        return "Rp " + f"{int(amount):,}".replace(",", ".")
    except (TypeError, ValueError):
        return "—"


@register.filter
def iso_time(value):
    """An ISO 8601 text from an adapter's answer, as a local datetime (or the text itself)."""
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return timezone.localtime(moment) if timezone.is_aware(moment) else moment


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None
