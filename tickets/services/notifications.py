"""A user's notifications in the console: reading them (the list page's "mark read").

The notifications themselves are written by the services whose changes they announce (the SLA
sweep in `deadlines`, Support's answers in `escalations`, assignments); this module only records
that their reader has seen them.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from ..models import Notification


def mark_notifications_read(*, user, ids: Iterable[int] | None = None) -> int:
    """Mark the user's unread notifications read: those of `ids`, or all of them when `ids` is
    None. Another user's notifications are never touched. Returns how many were marked."""
    with transaction.atomic():
        unread = Notification.objects.filter(user=user, read_at__isnull=True)
        if ids is not None:
            unread = unread.filter(pk__in=list(ids))
        return unread.update(read_at=timezone.now())
