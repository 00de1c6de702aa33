"""Calls to the external applications, recorded as evidence and used as the outbox.

An `AdapterCall` row is written in the same transaction as the state change that causes it
(status `pending`), sent to Celery after commit, and run by the task that first *claims* it: a
compare-and-set from `pending` (or from `running` past its lease) to `running`. A delivery that
cannot claim the row is a duplicate and does nothing. The row records every message published
for it (`last_sent_at`, `due_at`, `send_count`), so the outbox sweep sends a call again only when
no message for it can still be on its way (see `integrations.outbox`).
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


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
    )
    incident = models.ForeignKey(
        "tickets.GamasIncident",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="calls",
    )
    log_entry = models.ForeignKey(
        "tickets.TransitionLog",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="calls",
        help_text=_("The transition that caused the call (its note is the call's reason)."),
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
    idempotency_key = models.CharField(_("idempotency key"), max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    dispatched_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the first message for the call was published.")
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
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("adapter call")
        verbose_name_plural = _("adapter calls")
        indexes = [
            models.Index(fields=["ticket", "created_at"], name="call_ticket_at"),
            models.Index(
                fields=["created_at"],
                condition=Q(status__in=["pending", "running"]),
                name="call_undelivered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.app}.{self.operation} [{self.status}]"


class OutboxProbe(models.Model):
    """How far the broker has delivered a queue, measured with a probe message (one row per queue).

    The outbox sweep publishes a probe behind every message already in the queue. A queue is
    first in, first out, so when a worker runs the probe, every message published before it has
    been taken by a worker: a call sent before that and still pending lost its message.
    """

    queue = models.CharField(max_length=64, unique=True)
    sent_at = models.DateTimeField(null=True, blank=True)  # the newest probe published
    passed_until = models.DateTimeField(null=True, blank=True)  # the newest probe that came out
    passed_at = models.DateTimeField(null=True, blank=True)  # when it came out

    def __str__(self) -> str:
        return f"{self.queue} delivered up to {self.passed_until}"


class PullCursor(models.Model):
    """How far a periodic pull from an external application has read (one row per source)."""

    source = models.CharField(max_length=32, unique=True)
    pulled_until = models.DateTimeField()
    # The last record read: its time is `pulled_until`, its id breaks ties between records of the
    # same time, so the next page starts strictly after it.
    last_ref = models.CharField(max_length=64, blank=True, default="")

    def __str__(self) -> str:
        return f"{self.source} until {self.pulled_until:%Y-%m-%d %H:%M}"
