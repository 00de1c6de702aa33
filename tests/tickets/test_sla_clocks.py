"""SLA clocks that truly pause, on the policy's own calendar, and marks that follow the deadline.

Every expected instant below was worked out by hand from the calendar (a business day of
08:00-17:00, Monday to Friday, Asia/Jakarta; November 27th 2026 is a Friday), never with the
code's own formula. The working of each row is in its comment.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import override_settings

from tests import factories
from tickets import services, sla
from tickets.models import Flow, Priority, SlaPolicy, SlaStatus, Ticket, TransitionLog

pytestmark = pytest.mark.django_db
WIB = ZoneInfo("Asia/Jakarta")


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=WIB)


FRI_1600 = at(27, 16)


def business(priority=Priority.NORMAL, *, claim=30, resolve=120) -> SlaPolicy:
    """A policy on a calendar of Monday to Friday, 08:00-17:00 WIB (no holiday falls on the
    days below: the first after them is Christmas Eve's collective leave, December 24th)."""
    hours = factories.calendar("Mon-Fri 08-17")
    return factories.policy(Flow.NOSSA, priority, claim=claim, resolve=resolve, on=hours)


def round_the_clock(priority=Priority.NORMAL, *, claim=15, resolve=60) -> SlaPolicy:
    return SlaPolicy.objects.create(
        flow=Flow.NOSSA, priority=priority, claim_minutes=claim, resolve_minutes=resolve
    )


# (start, working minutes, expected end)
ADD_WORKING_TIME = [
    (at(27, 16), 120, at(30, 9)),  # Fri 60 min to 17:00, Mon 60 from 08:00
    (at(27, 16, 59), 1, at(27, 17)),  # ends exactly at closing time
    (at(28, 22), 30, at(30, 8, 30)),  # Saturday night: counting starts Monday 08:00
    (at(30, 7), 540, at(30, 17)),  # before opening: the whole 9-hour Monday
    (at(30, 7), 541, at(1, 8, 1, month=12)),  # one minute more spills into Tuesday
    (at(2, 12, month=12), 1080, at(4, 12, month=12)),  # Wed 300 + Thu 540 + Fri 240
]

# (from, to, expected working minutes between them)
WORKING_TIME_BETWEEN = [
    (at(27, 16), at(30, 9), 120),  # Fri 16-17 and Mon 08-09
    (at(27, 18), at(30, 7), 0),  # a whole weekend outside working hours
    (at(28, 10), at(28, 15), 0),  # Saturday daytime
    (at(30, 7), at(30, 18), 540),  # Monday, the whole business day
    (at(27, 16, 30), at(27, 16, 45), 15),  # inside one afternoon
    (at(30, 9), at(27, 16), 0),  # backwards: nothing
]


@pytest.mark.parametrize(("start", "minutes", "expected"), ADD_WORKING_TIME)
def test_adding_working_time_follows_the_business_calendar(start, minutes, expected):
    assert sla.add_working_minutes(start, minutes, sla.calendar_for(business())) == expected


@pytest.mark.parametrize(("start", "end", "minutes"), WORKING_TIME_BETWEEN)
def test_working_time_between_two_instants_counts_only_business_hours(start, end, minutes):
    calendar = sla.calendar_for(business())
    assert sla.working_time_between(start, end, calendar) == timedelta(minutes=minutes)


def test_24x7_working_time_is_the_wall_clock():
    calendar = sla.calendar_for(round_the_clock())
    assert calendar is None
    assert sla.working_time_between(at(27, 16), at(30, 9), calendar) == timedelta(hours=65)


def escalate(ticket, agent, when):
    with time_machine.travel(when, tick=False):
        services.transition_ticket(
            ticket_id=ticket.pk, name="escalate", actor=agent, inputs={"reason": "Cek ONT"}
        )


def answer(ticket, support_user, when):
    with time_machine.travel(when, tick=False):
        return services.transition_ticket(
            ticket_id=ticket.pk,
            name="answer_escalation",
            actor=support_user,
            inputs={"answer": "Sudah dicek"},
        )


def claimed_ticket(arrival):
    agent = factories.agent()
    with time_machine.travel(arrival, tick=False):
        ticket = factories.arrive("nossa")
        services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    return ticket, agent


def test_a_weekend_with_support_costs_only_its_working_time(support_user):
    business()
    ticket, agent = claimed_ticket(FRI_1600)
    assert ticket.resolve_by == at(30, 9)  # 120 working minutes: Fri 60 + Mon 60
    escalate(ticket, agent, at(27, 16, 30))
    answered = answer(ticket, support_user, at(30, 8, 30))
    # Paused Fri 16:30-17:00 and Mon 08:00-08:30: 60 working minutes (not 64 wall-clock hours).
    assert answered.sla_paused_seconds == 3600
    assert Ticket.objects.get(pk=ticket.pk).resolve_by == at(30, 10)
    assert Ticket.objects.get(pk=ticket.pk).sla_paused_at is None


def test_a_pause_entirely_outside_working_hours_moves_nothing(support_user):
    business()
    ticket, agent = claimed_ticket(FRI_1600)
    escalate(ticket, agent, at(27, 18))
    answer(ticket, support_user, at(30, 7, 30))
    ticket.refresh_from_db()
    assert (ticket.sla_paused_seconds, ticket.resolve_by) == (0, at(30, 9))


@override_settings(TIER2_SLA_AT_RISK_SHARE=0.8)
def test_the_sweep_never_marks_a_ticket_while_it_is_with_support(support_user):
    round_the_clock(resolve=60)
    ticket, agent = claimed_ticket(FRI_1600)  # resolve-by 17:00, at risk from 16:48
    escalate(ticket, agent, at(27, 16, 10))
    with_support = services.sweep_sla(now=at(27, 17, 30))  # past both, but paused
    assert (with_support.at_risk, with_support.breached) == (0, 0)
    answer(ticket, support_user, at(27, 18))  # paused 110 minutes: resolve-by 18:50
    ticket.refresh_from_db()
    assert ticket.resolve_by == at(27, 18, 50)
    # at risk from 16:00 + 0.8 x 170 min = 18:16
    assert ticket.warn_at == at(27, 18, 16)
    assert services.sweep_sla(now=at(27, 18, 10)).at_risk == 0
    assert services.sweep_sla(now=at(27, 18, 20)).at_risk == 1
    assert services.sweep_sla(now=at(27, 18, 49)).breached == 0
    assert services.sweep_sla(now=at(27, 18, 51)).breached == 1


@override_settings(TIER2_SLA_AT_RISK_SHARE=0.8)
def test_a_priority_change_that_moves_the_deadline_ahead_clears_its_marks(supervisor):
    round_the_clock(resolve=60)  # resolve-by 17:00, at risk from 16:48
    round_the_clock(Priority.LOW, resolve=240)  # resolve-by 20:00, at risk from 19:12
    ticket, _agent = claimed_ticket(FRI_1600)
    services.sweep_sla(now=at(27, 17, 5))
    ticket.refresh_from_db()
    assert ticket.sla_status == SlaStatus.BREACHED
    with time_machine.travel(at(27, 17, 10), tick=False):
        services.change_priority(ticket_id=ticket.pk, priority=Priority.LOW, actor=supervisor)
    ticket.refresh_from_db()
    assert ticket.resolve_by == at(27, 20)
    assert (ticket.breached_at, ticket.at_risk_at, ticket.sla_status) == (None, None, "ok")
    cleared = TransitionLog.objects.get(ticket=ticket, transition="sla_marks_cleared")
    assert cleared.data["cleared"] == ["breached", "at_risk"]
    # The new deadline is marked again when it comes, once.
    assert services.sweep_sla(now=at(27, 20, 1)).breached == 1


@override_settings(TIER2_SLA_AT_RISK_SHARE=0.8)
def test_a_mark_the_moved_deadline_still_deserves_stays(support_user):
    round_the_clock(resolve=60)  # at risk from 16:48
    ticket, agent = claimed_ticket(FRI_1600)
    assert services.sweep_sla(now=at(27, 16, 50)).at_risk == 1
    escalate(ticket, agent, at(27, 16, 55))
    answer(ticket, support_user, at(27, 17, 55))  # paused 60: resolve-by 18:00, risk 17:36
    ticket.refresh_from_db()
    assert ticket.resolve_by == at(27, 18)
    assert ticket.sla_status == SlaStatus.AT_RISK
    assert ticket.at_risk_at == at(27, 16, 50)
    assert not TransitionLog.objects.filter(ticket=ticket, transition="sla_marks_cleared")


@override_settings(TIER2_SLA_AT_RISK_SHARE=0.8)
def test_a_breach_before_escalation_is_cleared_when_the_resume_moves_the_deadline_ahead(
    support_user,
):
    round_the_clock(resolve=60)
    ticket, agent = claimed_ticket(FRI_1600)
    assert services.sweep_sla(now=at(27, 17, 1)).breached == 1
    escalate(ticket, agent, at(27, 17, 2))
    answer(ticket, support_user, at(27, 19, 2))  # paused 120: resolve-by 19:00 (still past)
    ticket.refresh_from_db()
    assert ticket.resolve_by == at(27, 19)
    assert ticket.sla_status == SlaStatus.BREACHED  # 19:00 is before 19:02: still breached
