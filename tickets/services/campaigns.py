"""Campaigns: one is deleted only when nothing uses it, decided by counting, never by loading.

Django's delete collector checks `on_delete=PROTECT` by loading every referring row: a campaign
with 16,000 tickets took tens of seconds to refuse. Here one grouped COUNT per referring table,
on its foreign-key index, decides, and the refusal says how many rows use the campaign.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models, transaction
from django.db.models import Count
from django.utils.translation import gettext as _

from .. import roles
from ..exceptions import Protected, TransitionForbidden
from ..models import Campaign, Ticket


def _protecting_relations() -> list[models.ForeignObjectRel]:
    """The foreign keys to Campaign that forbid deleting a campaign they point at."""
    return [
        rel
        for rel in Campaign._meta.related_objects
        if rel.one_to_many and rel.on_delete in (models.PROTECT, models.RESTRICT)
    ]


def campaign_usage(campaign_ids: Iterable[int]) -> dict[int, dict[type[models.Model], int]]:
    """For each given campaign that rows still use: {referring model: how many rows}.

    One grouped COUNT per referring table (tickets, imports); no row is loaded. Campaigns
    nothing uses are absent from the answer.
    """
    ids = list(campaign_ids)
    usage: dict[int, dict[type[models.Model], int]] = {}
    if not ids:
        return usage
    for rel in _protecting_relations():
        column = rel.field.attname
        counts = (
            rel.related_model._base_manager.filter(**{f"{column}__in": ids})
            .order_by()
            .values_list(column)
            .annotate(rows=Count("pk"))
        )
        for campaign_id, rows in counts:
            usage.setdefault(campaign_id, {})[rel.related_model] = rows
    return usage


def describe_usage(used: dict[type[models.Model], int]) -> str:
    """ "300 tickets, 1 import": what still uses a campaign, for the refusal message."""
    return ", ".join(
        f"{rows} {model._meta.verbose_name if rows == 1 else model._meta.verbose_name_plural}"
        for model, rows in used.items()
    )


def refusal(used: dict[type[models.Model], int]) -> Protected:
    return Protected(
        _(
            "This campaign is still used by %(usage)s, so it cannot be deleted. "
            "Set it inactive instead."
        )
        % {"usage": describe_usage(used)},
        tickets=str(used.get(Ticket, 0)),
    )


def delete_campaign(*, campaign_id: int, actor) -> None:
    """Delete a campaign nothing refers to; `Protected` (409) if tickets or imports use it.

    The campaign row is locked first, so no ticket or import can start using it between the
    count and the delete (on PostgreSQL a new referring row waits for the lock).
    """
    if not roles.is_supervisor(actor):
        raise TransitionForbidden(_("Only supervisors and admins may delete campaigns."))
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        used = campaign_usage([campaign.pk]).get(campaign.pk)
        if used:
            raise refusal(used)
        campaign.delete()  # nothing refers to it: the collector finds no row to load
