"""What the top bar (base.html) shows on every console page: the unread-notifications badge,
and for agents their availability and the offers waiting for their answer."""

from __future__ import annotations

from django import template

from .. import selectors
from ..models import Availability
from ..roles import is_agent, profile_of
from ..views.dispatch import pending_offers_of

register = template.Library()


@register.simple_tag
def unread_notifications(user) -> int:
    return selectors.unread_notification_count(user)


@register.simple_tag
def pending_offers(user) -> list:
    """The offers waiting for this agent's answer (none for other roles)."""
    return pending_offers_of(user)


@register.simple_tag
def availability_of(user) -> dict | None:
    """The agent's availability and its choices, for the top bar (None: not an agent)."""
    if not is_agent(user):  # permissions are cached on the user: no query for other roles
        return None
    profile = profile_of(user)
    if profile is None:
        return None
    return {"value": profile.availability, "choices": Availability.choices}
