"""SLA arithmetic and the sweep, with frozen time."""

import dataclasses
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import override_settings

from tests import factories
from tickets import services, sla
from tickets.exceptions import InvalidInput, TransitionForbidden
from tickets.models import (
    Escalation,
    Flow,
    Notification,
    Priority,
    SlaPolicy,
    SlaStatus,
    Ticket,
    TransitionLog,
)

pytestmark = pytest.mark.django_db
JAKARTA = ZoneInfo("Asia/Jakarta")
FRIDAY_4PM = datetime(2026, 11, 27, 16, 0, tzinfo=JAKARTA)


def business_calendar():
    """Monday to Friday, 08:00-17:00 WIB (no holiday falls on the days used below)."""
    policy = factories.policy(claim=30, resolve=120, on=factories.calendar())
    return sla.calendar_for(policy)


def test_24x7_deadlines_count_straight_through_the_night():
    SlaPolicy.objects.create(
        flow=Flow.NOSSA, priority=Priority.NORMAL, claim_minutes=15, resolve_minutes=600
    )
    with time_machine.travel(FRIDAY_4PM, tick=False):
        ticket = factories.arrive("nossa")
    assert ticket.claim_by == FRIDAY_4PM + timedelta(minutes=15)
    assert ticket.resolve_by == FRIDAY_4PM + timedelta(minutes=600)
    assert ticket.warn_at == FRIDAY_4PM + timedelta(minutes=480)  # 80 % of the time


def test_business_hours_deadline_skips_the_weekend():
    calendar = business_calendar()
    # Friday 16:00 + 120 working minutes: 60 on Friday, the other 60 on Monday from 08:00.
    assert sla.add_working_minutes(FRIDAY_4PM, 120, calendar) == datetime(
        2026, 11, 30, 9, 0, tzinfo=JAKARTA
    )


def test_business_hours_deadline_starting_before_opening_counts_from_opening():
    calendar = business_calendar()
    saturday_night = datetime(2026, 11, 28, 22, 0, tzinfo=JAKARTA)
    assert sla.add_working_minutes(saturday_night, 30, calendar) == datetime(
        2026, 11, 30, 8, 30, tzinfo=JAKARTA
    )


def test_policy_without_working_days_is_an_error_not_a_hang():
    calendar = dataclasses.replace(business_calendar(), weekdays=frozenset())
    with pytest.raises(sla.NoWorkingTime, match="no working time"):
        sla.add_working_minutes(FRIDAY_4PM, 10, calendar)


def test_missing_policy_falls_back_to_defaults_with_fresh_lapul_tighter_than_nossa():
    nossa = sla.policy_for(Flow.NOSSA, Priority.NORMAL)
    lapul = sla.policy_for(Flow.FRESH_LAPUL, Priority.NORMAL)
    assert lapul.claim_minutes < nossa.claim_minutes
    assert lapul.resolve_minutes < nossa.resolve_minutes
    assert sla.policy_for(Flow.NOSSA, Priority.CRITICAL).resolve_minutes < nossa.resolve_minutes


def test_priority_change_midway_recomputes_deadlines_from_arrival(supervisor):
    with time_machine.travel(FRIDAY_4PM, tick=False):
        ticket = factories.arrive("nossa")
    normal_deadline = ticket.resolve_by
    with time_machine.travel(FRIDAY_4PM + timedelta(hours=2), tick=False):
        changed = services.change_priority(
            ticket_id=ticket.pk, priority=Priority.CRITICAL, actor=supervisor
        )
    critical = sla.policy_for(Flow.NOSSA, Priority.CRITICAL)
    assert changed.resolve_by == FRIDAY_4PM + timedelta(minutes=critical.resolve_minutes)
    assert changed.resolve_by < normal_deadline
    assert TransitionLog.objects.filter(ticket=ticket, transition="change_priority").count() == 1


def test_priority_change_is_for_supervisors_and_validates_the_value(supervisor):
    ticket = factories.arrive("nossa")
    agent = factories.agent()
    with pytest.raises(TransitionForbidden):
        services.change_priority(ticket_id=ticket.pk, priority=1, actor=agent)
    with pytest.raises(InvalidInput) as refused:
        services.change_priority(ticket_id=ticket.pk, priority=9, actor=supervisor)
    assert "priority" in refused.value.errors


def test_time_with_support_pauses_the_resolve_deadline(support_user):
    agent = factories.agent()
    with time_machine.travel(FRIDAY_4PM, tick=False):
        ticket = factories.arrive("nossa")
        original = ticket.resolve_by
        services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    with time_machine.travel(FRIDAY_4PM + timedelta(minutes=10), tick=False):
        services.transition_ticket(
            ticket_id=ticket.pk, name="escalate", actor=agent, inputs={"reason": "ONT aneh"}
        )
    with time_machine.travel(FRIDAY_4PM + timedelta(minutes=70), tick=False):
        answered = services.transition_ticket(
            ticket_id=ticket.pk,
            name="answer_escalation",
            actor=support_user,
            inputs={"answer": "Sudah dicek"},
        )
    assert answered.sla_paused_seconds == 3600
    assert answered.resolve_by == original + timedelta(hours=1)
    assert Ticket.objects.get(pk=ticket.pk).resolve_by == original + timedelta(hours=1)


def test_sweep_marks_breach_exactly_once_across_repeated_sweeps(supervisor):
    agent = factories.agent()
    with time_machine.travel(FRIDAY_4PM, tick=False):
        ticket = factories.arrive("nossa")
        services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    after_deadline = ticket.resolve_by + timedelta(minutes=1)
    for minutes in range(3):
        services.sweep_sla(now=after_deadline + timedelta(minutes=minutes))

    ticket.refresh_from_db()
    assert ticket.sla_status == SlaStatus.BREACHED
    assert ticket.breached_at == after_deadline
    assert ticket.at_risk_at == after_deadline
    logged = TransitionLog.objects.filter(ticket=ticket, transition__startswith="sla_")
    assert list(logged.values_list("transition", flat=True)) == ["sla_breached"]
    assert Notification.objects.filter(user=agent, kind="sla_breached").count() == 1
    assert Notification.objects.filter(user=supervisor, kind="sla_breached").count() == 1


@override_settings(TIER2_SLA_AT_RISK_SHARE=0.5)
def test_sweep_marks_at_risk_once_and_breach_later():
    with time_machine.travel(FRIDAY_4PM, tick=False):
        ticket = factories.arrive("nossa")
        agent = factories.agent()
        services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    halfway = FRIDAY_4PM + (ticket.resolve_by - FRIDAY_4PM) * 0.5

    assert services.sweep_sla(now=halfway - timedelta(seconds=1)).at_risk == 0
    assert services.sweep_sla(now=halfway).at_risk == 1
    assert services.sweep_sla(now=halfway + timedelta(minutes=5)).at_risk == 0
    ticket.refresh_from_db()
    assert ticket.sla_status == SlaStatus.AT_RISK

    result = services.sweep_sla(now=ticket.resolve_by)
    assert (result.at_risk, result.breached) == (0, 1)
    transitions = TransitionLog.objects.filter(ticket=ticket, transition__startswith="sla_")
    assert list(transitions.values_list("transition", flat=True)) == [
        "sla_at_risk",
        "sla_breached",
    ]


def test_unclaimed_ticket_breaches_at_its_claim_deadline():
    with time_machine.travel(FRIDAY_4PM, tick=False):
        ticket = factories.arrive("nossa")
    assert services.sweep_sla(now=ticket.claim_by - timedelta(seconds=1)).breached == 0
    assert services.sweep_sla(now=ticket.claim_by).breached == 1


def test_closed_tickets_are_never_marked():
    ticket = factories.arrive("nossa")
    Ticket.objects.filter(pk=ticket.pk).update(closed_at=ticket.created_at, state="closed")
    result = services.sweep_sla(now=ticket.resolve_by + timedelta(days=1))
    assert (result.at_risk, result.breached) == (0, 0)


def test_overdue_escalation_is_marked_once_and_support_is_told(support_user, supervisor):
    agent = factories.agent()
    ticket = factories.arrive("nossa")
    services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    services.transition_ticket(
        ticket_id=ticket.pk, name="escalate", actor=agent, inputs={"reason": "Butuh bantuan"}
    )
    escalation = Escalation.objects.get(ticket=ticket)
    late = escalation.due_at + timedelta(minutes=1)

    assert services.sweep_sla(now=late).escalations_overdue == 1
    assert services.sweep_sla(now=late + timedelta(minutes=1)).escalations_overdue == 0
    escalation.refresh_from_db()
    assert escalation.breached_at == late
    assert Notification.objects.filter(user=support_user, kind="escalation_overdue").count() == 1
