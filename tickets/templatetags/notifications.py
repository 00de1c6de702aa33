"""The unread-notifications badge in the top bar (base.html), on every console page."""

from __future__ import annotations

from django import template

from .. import selectors

register = template.Library()


@register.simple_tag
def unread_notifications(user) -> int:
    return selectors.unread_notification_count(user)
