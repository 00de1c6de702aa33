"""Calls to the external applications, recorded as evidence and used as the outbox.

An `AdapterCall` row is written in the same transaction as the state change that causes it
(status `pending`), sent to Celery after commit, and run by the task that first *claims* it: a
compare-and-set from `pending` (or from `running` past its lease) to `running`. A delivery that
cannot claim the row is a duplicate and does nothing. The row records every message published
for it (`last_sent_at`, `due_at`, `send_count`), so the outbox sweep sends a call again only when
no message for it can still be on its way (see `integrations.outbox`).
"""

import contextlib

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tier2.partitions import PartitionMonthField, TicketHistoryQuerySet, month_start


class CallStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class AdapterCall(models.Model):
    ticket = models.ForeignKey(
        "tickets.Ticket",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="calls",
        verbose_name=_("ticket"),
    )
    incident = models.ForeignKey(
        "tickets.GamasIncident",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="calls",
        verbose_name=_("gamas incident"),
    )
    # No database constraint: the transition log is partitioned (tier2/partitions.py) and
    # PostgreSQL takes no foreign key to a partitioned table; Django nulls it on delete.
    log_entry = models.ForeignKey(
        "tickets.TransitionLog",
        on_delete=models.SET_NULL,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="calls",
        help_text=_("The transition that caused the call (its note is the call's reason)."),
        verbose_name=_("log entry"),
    )
    app = models.CharField(_("application"), max_length=16)
    operation = models.CharField(_("operation"), max_length=32)
    request = models.JSONField(_("request"), default=dict)
    response = models.JSONField(_("response"), null=True, blank=True)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=CallStatus.choices,
        default=CallStatus.PENDING,
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    # Unique with `month` (the partition key must be in every unique index): one key is made for
    # one ticket, incident or log entry, whose month never changes, so it is unique alone too.
    idempotency_key = models.CharField(_("idempotency key"), max_length=64)
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    dispatched_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("When the first message for the call was published."),
        verbose_name=_("dispatched at"),
    )
    last_sent_at = models.DateTimeField(
        _("last sent at"),
        null=True,
        blank=True,
        help_text=_(
            "When the newest message for the call was published; empty while none is known to "
            "be on its way (never sent, or a retry the broker refused)."
        ),
    )
    due_at = models.DateTimeField(
        _("due at"),
        null=True,
        blank=True,
        help_text=_("When that message is due at a worker: a retry's countdown after it was sent."),
    )
    send_count = models.PositiveIntegerField(
        _("messages sent"),
        default=0,
        help_text=_("Messages published for the call: its dispatch, retries and the sweep's."),
    )
    lease_until = models.DateTimeField(
        _("lease until"),
        null=True,
        blank=True,
        help_text=_("While running: no other delivery may run the call before this time."),
    )
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    # An event delivery to a TMF621 subscriber (app "hub"): the subscription it goes to. No
    # database constraint: a change committing while its subscription is deleted must not fail
    # (the delivery then finds no subscription and is not sent); Django deletes a subscription's
    # deliveries with it.
    subscription = models.ForeignKey(
        "integrations.EventSubscription",
        on_delete=models.CASCADE,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="deliveries",
        verbose_name=_("subscription"),
    )

    # The partition key (tier2/partitions.py): the month of the log entry that caused the call,
    # else of its ticket's arrival, else of its incident's opening, else of its own creation.
    month = PartitionMonthField(_("partition month"), editable=False)

    objects = TicketHistoryQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("adapter call")
        verbose_name_plural = _("adapter calls")
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key", "month"], name="call_key_unique")
        ]
        indexes = [
            models.Index(fields=["ticket", "created_at"], name="call_ticket_at"),
            models.Index(
                fields=["created_at"],
                condition=Q(status__in=["pending", "running"]),
                name="call_undelivered",
            ),
            models.Index(
                fields=["subscription", "created_at"],
                condition=Q(subscription__isnull=False),
                name="call_subscription_at",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.app}.{self.operation} [{self.status}]"

    def partition_month(self):
        if self.log_entry_id:
            with contextlib.suppress(ObjectDoesNotExist):  # no constraint keeps it (see above)
                return self.log_entry.month
        if self.ticket_id:
            return self.ticket.log_month
        if self.incident_id:
            return month_start(self.incident.opened_at)
        return month_start(self.created_at)


class OutboxProbe(models.Model):
    """How far the broker has delivered a queue, measured with a probe message (one row per queue).

    The outbox sweep publishes a probe behind every message already in the queue. A queue is
    first in, first out, so when a worker runs the probe, every message published before it has
    been taken by a worker: a call sent before that and still pending lost its message.
    """

    queue = models.CharField(max_length=64, unique=True, verbose_name=_("queue"))
    sent_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("probe sent at")
    )  # the newest probe published
    passed_until = models.DateTimeField(
        null=True, blank=True, verbose_name=_("delivered up to")
    )  # the newest probe that came out
    passed_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("delivery seen at")
    )  # when it came out

    class Meta:
        verbose_name = _("outbox probe")
        verbose_name_plural = _("outbox probes")

    def __str__(self) -> str:
        return f"{self.queue} delivered up to {self.passed_until}"


class PullCursor(models.Model):
    """How far a periodic pull from an external application has read (one row per source)."""

    source = models.CharField(max_length=32, unique=True, verbose_name=_("source"))
    pulled_until = models.DateTimeField(verbose_name=_("pulled until"))
    # The last record read: its time is `pulled_until`, its id breaks ties between records of the
    # same time, so the next page starts strictly after it.
    last_ref = models.CharField(
        max_length=64, blank=True, default="", verbose_name=_("last record read")
    )

    class Meta:
        verbose_name = _("pull cursor")
        verbose_name_plural = _("pull cursors")

    def __str__(self) -> str:
        return f"{self.source} until {self.pulled_until:%Y-%m-%d %H:%M}"


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")


class EventSubscription(models.Model):
    """A TMF621 event subscription (`/hub`): where a client wants the ticket events it may see.

    Each event for it is an outbox row (`AdapterCall`, app `hub`, `subscription` set) holding the
    event's JSON, sent by `run_adapter_call` and signed with `secret` (HMAC-SHA256 of the body,
    `integrations.hub`). The secret is shown to the client once, when the subscription is made,
    and never written into a row's request or response or into a log. A subscription whose
    deliveries keep failing (`TIER2_HUB_SUSPEND_AFTER` in a row) is suspended: nothing more is
    queued for it until an administrator reactivates it.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="event_subscriptions",
        verbose_name=_("owner"),
        help_text=_("The client that subscribed: it receives only the tickets it may see."),
    )
    callback = models.CharField(_("callback"), max_length=1000)
    query = models.CharField(_("query"), max_length=1000, blank=True)
    secret = models.CharField(_("secret"), max_length=128)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=SubscriptionStatus.choices,
        default=SubscriptionStatus.ACTIVE,
    )
    consecutive_failures = models.PositiveIntegerField(
        _("failures in a row"),
        default=0,
        help_text=_("Deliveries that failed for good since the last one that succeeded."),
    )
    last_error = models.TextField(_("last error"), blank=True)
    last_failure_at = models.DateTimeField(_("last failure at"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last success at"), null=True, blank=True)
    suspended_at = models.DateTimeField(_("suspended at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("event subscription")
        verbose_name_plural = _("event subscriptions")
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(status="active"),
                name="subscription_active",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.callback} [{self.status}]"
