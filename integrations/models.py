"""Calls to the external applications, recorded as evidence and used as the outbox.

An `AdapterCall` row is written in the same transaction as the state change that causes it
(status `pending`), dispatched to Celery after commit, and updated by the task with the answer.
The row's `idempotency_key` is unique, so a redelivered task finds the row already done and a
state change replayed never queues the same call twice.
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
    dispatched_at = models.DateTimeField(null=True, blank=True)
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


class PullCursor(models.Model):
    """How far a periodic pull from an external application has read (one row per source)."""

    source = models.CharField(max_length=32, unique=True)
    pulled_until = models.DateTimeField()
    # The last record read: its time is `pulled_until`, its id breaks ties between records of the
    # same time, so the next page starts strictly after it.
    last_ref = models.CharField(max_length=64, blank=True, default="")

    def __str__(self) -> str:
        return f"{self.source} until {self.pulled_until:%Y-%m-%d %H:%M}"
