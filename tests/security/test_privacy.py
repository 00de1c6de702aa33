"""Personal data protection: the daily retention job anonymises exactly the customers whose
tickets all closed longer ago than the period, leaves every statistic as it was, and does
nothing the second time; an erasure request is refused while a ticket is open, and logged.

The floor, with TIER2_RETENTION_CUSTOMER_DAYS=30 and TIER2_RETENTION_CALLS_DAYS=10, all NOSSA
tickets at Pusat, all worked and closed by Ani (claimed and closed in the same frozen instant):

- Siti (A): A1 arrives Monday 5 January 2026 09:00, closed 09:10;
- Budi (B, two lines): B1 arrives Monday 09:00, escalated to Support, closed 09:20; B2 arrives on
  his second line on 30 January 09:00 and stays open;
- Citra (C): C1 arrives Monday 09:00, closed 09:30;
- Dedi (D): D1 arrives Saturday 10 January 09:00, closed 09:10.

The job runs at C1's close + 30 days (4 February 09:30): A is past the period, C exactly at it
(kept), B has an open ticket, D closed 25 days before. For calls and notes (10 days, cutoff
25 January 09:30) A, C and D are past it, B is not.
"""

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from integrations.models import AdapterCall
from tests import factories
from tests.tickets.test_dashboards import work_to_close
from tickets import dashboards, services, stats, tasks
from tickets.models import (
    ContactAttempt,
    Customer,
    DailyAgentStats,
    DailyFlowStats,
    Escalation,
    ImportJob,
    ImportStatus,
    Note,
    SecurityEvent,
    SecurityEventKind,
    Service,
    Ticket,
    TransitionLog,
)
from tickets.services import privacy

pytestmark = pytest.mark.django_db
JAKARTA = ZoneInfo("Asia/Jakarta")
MONDAY_9AM = datetime(2026, 1, 5, 9, 0, tzinfo=JAKARTA)
RUN_AT = MONDAY_9AM + timedelta(minutes=30) + timedelta(days=30)  # C1's close + 30 days
RANGE = dashboards.DashboardFilter(
    date_from=MONDAY_9AM.date(), date_to=MONDAY_9AM.date() + timedelta(days=30)
)
PROFILE = {"customer_name": "Siti Aminah", "address": "Jl. Ijen No. 5", "phone": "081234567890"}


@pytest.fixture(autouse=True)
def periods(settings):
    settings.TIER2_RETENTION_CUSTOMER_DAYS = 30
    settings.TIER2_RETENTION_CALLS_DAYS = 10
    settings.TIER2_RETENTION_SECURITY_LOG_DAYS = 365
    settings.TIER2_RETENTION_BATCH_SIZE = 2  # several batches even on this small floor


def customer(name, phone, email):
    return factories.CustomerFactory(name=name, phone=phone, email=email, address=f"Jl. {name} 1")


def close_at(moment, ticket, agent, **kwargs):
    with time_machine.travel(moment, tick=False):
        return work_to_close(ticket, agent, **kwargs)


@pytest.fixture
def floor(support_user):
    ani = factories.agent(username="ani")
    people = {
        "A": customer("Siti Aminah", "081234567890", "siti@example.co.id"),
        "B": customer("Budi Santoso", "081298765432", "budi@example.co.id"),
        "C": customer("Citra Lestari", "085711112222", "citra@example.co.id"),
        "D": customer("Dedi Kurniawan", "087733334444", "dedi@example.co.id"),
    }
    lines = {
        key: factories.service_at("PST", customer=person, address=person.address)
        for key, person in people.items()
    }
    budi_second_line = factories.service_at("PST", customer=people["B"], address="Jl. Kawi 2")
    with time_machine.travel(MONDAY_9AM, tick=False):
        a1, b1, c1 = (factories.arrive("nossa", service=lines[key]) for key in "ABC")
    services.add_note(ticket_id=a1.pk, author=support_user, text="Minta ditelepon ke 0813999")
    a1 = factories.set_facts(a1, isiska=PROFILE, epayment={"arrears_total": 0})
    AdapterCall.objects.filter(ticket=a1, app="isiska").update(response=PROFILE)
    close_at(MONDAY_9AM + timedelta(minutes=10), a1, ani)
    close_at(MONDAY_9AM + timedelta(minutes=20), b1, ani, escalate_with=support_user)
    close_at(MONDAY_9AM + timedelta(minutes=30), c1, ani)
    with time_machine.travel(MONDAY_9AM + timedelta(days=5), tick=False):
        d1 = factories.arrive("nossa", service=lines["D"])
    close_at(MONDAY_9AM + timedelta(days=5, minutes=10), d1, ani)
    with time_machine.travel(MONDAY_9AM + timedelta(days=25), tick=False):
        b2 = factories.arrive("nossa", service=budi_second_line)
    tickets = {"A1": a1, "B1": b1, "C1": c1, "D1": d1, "B2": b2}
    return {"ani": ani, "people": people, "tickets": tickets}


def figures(floor) -> dict:
    """Every number the dashboards and the SLG list show over the range, at RUN_AT."""
    with time_machine.travel(RUN_AT, tick=False):
        tiles = [
            (t.flow, t.site, t.backlog, t.at_risk, t.breached, t.oldest, t.closed,
             t.closed_within_sla, t.within_sla_percent)
            for t in dashboards.flow_tiles(RANGE)
        ]  # fmt: skip
        trend = [
            (p.day.isoformat(), p.created, p.closed, p.closed_within_sla, p.breached)
            for p in dashboards.trend(RANGE).points
            if p.created or p.closed or p.breached
        ]
        agents = [
            (row.username, row.closed, row.handle_seconds, row.first_contact, row.escalated)
            for row in dashboards.agent_table(RANGE)
        ]
        slg = [ticket.pk for ticket in dashboards.slg_breaches(RANGE, now=RUN_AT)]
    return {
        "tiles": tiles,
        "trend": trend,
        "agents": agents,
        "slg": slg,
        "tickets": Ticket.objects.count(),
        "closed": Ticket.objects.filter(closed_at__isnull=False).count(),
        "sla": sorted(Ticket.objects.values_list("pk", "sla_status", "breached_at")),
        "calls": ContactAttempt.objects.count(),
        "escalations": Escalation.objects.count(),
    }


def hand_count(floor) -> dict:
    t = floor["tickets"]
    return {
        # B2 is the only open ticket; four closed, none breached (100 % within SLA).
        "tiles": [
            ("nossa", "PST", 1, 0, 0, MONDAY_9AM + timedelta(days=25), 4, 4, 100.0),
        ],
        "trend": [
            ("2026-01-05", 3, 3, 3, 0),  # A1, B1, C1 arrive and close
            ("2026-01-10", 1, 1, 1, 0),  # D1
            ("2026-01-30", 1, 0, 0, 0),  # B2 arrives
        ],
        # Ani: four closes, no handling time (frozen clock), B1 escalated, the rest first-contact.
        "agents": [("ani", 4, 0, 3, 1)],
        # B2, open, is past its 72-hour restoration guarantee (2 February 09:00) at RUN_AT.
        "slg": [t["B2"].pk],
        "tickets": 5,
        "closed": 4,
        "sla": sorted((ticket.pk, "ok", None) for ticket in t.values()),
        "calls": 4,  # one answered call before each close
        "escalations": 1,
    }


def rollups():
    flows = DailyFlowStats.objects.values_list(
        "day", "flow", "site_id", "created", "closed", "closed_within_sla", "breached", "escalated"
    )
    agents = DailyAgentStats.objects.values_list(
        "day", "agent_id", "flow", "closed", "handle_seconds", "first_contact", "escalated"
    )
    return sorted(flows), sorted(agents)


def run(at):
    with time_machine.travel(at, tick=False):
        return privacy.apply_retention()


def reloaded(person):
    return Customer.objects.get(pk=person.pk)


def anonymised(person) -> bool:
    row = reloaded(person)
    return (row.name, row.phone, row.email, row.address) == (privacy.REDACTED, "", "", "")


# --- Retention -----------------------------------------------------------------------------
def test_statistics_are_the_hand_count_before_and_after_anonymisation(floor):
    before = figures(floor)
    assert before == hand_count(floor)
    rows = rollups()
    run(RUN_AT)
    run(RUN_AT + timedelta(seconds=1))  # C too
    assert figures(floor) == hand_count(floor)
    assert rollups() == rows
    stats.rebuild()  # the roll-ups recomputed from the anonymised tickets: still the same
    assert rollups() == rows
    assert figures(floor) == hand_count(floor)


def test_only_customers_whose_tickets_all_closed_longer_ago_are_anonymised(floor):
    people, t = floor["people"], floor["tickets"]
    run(RUN_AT)
    assert anonymised(people["A"])
    assert Service.objects.get(pk=t["A1"].service_id).address == ""
    a1 = Ticket.objects.get(pk=t["A1"].pk)
    assert "isiska" not in a1.facts and "epayment" not in a1.facts
    assert "remote_fix_action" in a1.facts  # what is not about the person stays
    assert AdapterCall.objects.get(ticket=a1, app="isiska").response is None
    # Budi has an open ticket, Citra closed exactly 30 days ago, Dedi 25 days ago: kept.
    for key, name in (("B", "Budi Santoso"), ("C", "Citra Lestari"), ("D", "Dedi Kurniawan")):
        assert reloaded(people[key]).name == name
        assert reloaded(people[key]).email.endswith("@example.co.id")
    assert Service.objects.get(pk=t["C1"].service_id).address == "Jl. Citra Lestari 1"

    # Calls and notes (10 days): A, C and D are past it; Budi, with an open ticket, is not.
    def call_phones(key):
        return set(ContactAttempt.objects.filter(ticket=t[key]).values_list("phone", flat=True))

    assert call_phones("A1") == call_phones("C1") == call_phones("D1") == {""}
    assert call_phones("B1") == {"081298765432"}
    assert Note.objects.get(ticket=t["A1"]).text == privacy.REDACTED
    escalation = Escalation.objects.get(ticket=t["B1"])
    assert escalation.reason == "Perlu cek OLT" and escalation.answer == "OLT normal"
    assert TransitionLog.objects.get(ticket=t["B1"], transition="escalate").data == {
        "reason": "Perlu cek OLT"
    }

    # One second later Citra's ticket has closed longer ago than the period too.
    run(RUN_AT + timedelta(seconds=1))
    assert anonymised(people["C"])
    assert not anonymised(people["B"]) and not anonymised(people["D"])


def test_a_second_run_changes_nothing(floor):
    first = run(RUN_AT)
    assert first["customers"] == 1 and first["contact_attempts"] == 3
    snapshot = {
        model.__name__: sorted(model.objects.values_list(*fields))
        for model, fields in (
            (Customer, ("pk", "name", "phone", "email", "address")),
            (Service, ("pk", "address")),
            (ContactAttempt, ("pk", "phone", "note")),
            (Note, ("pk", "text")),
            (TransitionLog, ("pk", "note")),
        )
    }
    second = run(RUN_AT)
    assert not any(count for name, count in second.items() if name != "security_events_deleted"), (
        second
    )
    assert {
        model.__name__: sorted(model.objects.values_list(*fields))
        for model, fields in (
            (Customer, ("pk", "name", "phone", "email", "address")),
            (Service, ("pk", "address")),
            (ContactAttempt, ("pk", "phone", "note")),
            (Note, ("pk", "text")),
            (TransitionLog, ("pk", "note")),
        )
    } == snapshot


def test_a_customer_who_reports_again_keeps_their_data_until_that_ticket_is_old(floor):
    """Budi's open B2 protects his data; once it closes, the period counts from that close."""
    people, t = floor["people"], floor["tickets"]
    b2_closed = MONDAY_9AM + timedelta(days=26)
    close_at(b2_closed, t["B2"], floor["ani"])
    run(b2_closed + timedelta(days=30))  # B1 closed long ago, B2 exactly 30 days ago
    assert not anonymised(people["B"])
    run(b2_closed + timedelta(days=30, seconds=1))
    assert anonymised(people["B"])
    assert Service.objects.filter(customer=people["B"], address="").count() == 2  # both lines


def test_the_daily_job_is_scheduled_and_runs_the_service(floor, settings):
    entry = settings.CELERY_BEAT_SCHEDULE["apply-retention"]
    assert entry["task"] == "tickets.tasks.apply_retention"
    assert entry["schedule"].hour == {settings.TIER2_RETENTION_HOUR}
    with time_machine.travel(RUN_AT, tick=False):
        changed = tasks.apply_retention.delay().get()
    assert changed["customers"] == 1
    assert anonymised(floor["people"]["A"])
    [event] = SecurityEvent.objects.filter(kind=SecurityEventKind.RETENTION)
    assert event.actor is None and event.detail["changed"]["customers"] == 1


def test_old_uploaded_lists_and_old_security_events_go(floor, supervisor):
    def upload(finished):
        return ImportJob.objects.create(
            kind="ideas", file_name="ideas.csv", content="service_number,name\n1,Siti\n",
            uploaded_by=supervisor, status=ImportStatus.DONE, finished_at=finished,
        )  # fmt: skip

    old = upload(RUN_AT - timedelta(days=10, seconds=1))
    recent = upload(RUN_AT - timedelta(days=9))
    with time_machine.travel(RUN_AT - timedelta(days=366), tick=False):
        stale = SecurityEvent.objects.create(kind=SecurityEventKind.LOGIN)
    with time_machine.travel(RUN_AT - timedelta(days=364), tick=False):
        kept = SecurityEvent.objects.create(kind=SecurityEventKind.LOGIN)
    changed = run(RUN_AT)
    assert ImportJob.objects.get(pk=old.pk).content == ""
    assert ImportJob.objects.get(pk=recent.pk).content.startswith("service_number")
    assert not SecurityEvent.objects.filter(pk=stale.pk).exists()
    assert SecurityEvent.objects.filter(pk=kept.pk).exists()
    assert (changed["imports"], changed["security_events_deleted"]) == (1, 1)


# --- Erasure requests ------------------------------------------------------------------------
def test_erasure_is_refused_while_the_customer_has_an_open_ticket_and_the_refusal_logged(
    floor, supervisor
):
    budi, b2 = floor["people"]["B"], floor["tickets"]["B2"]
    with pytest.raises(privacy.ErasureRefused) as refused:
        privacy.erase_customer(customer_id=budi.pk, actor=supervisor)
    assert f"Customer #{budi.pk} still has 1 open ticket ({b2.number})" in str(refused.value)
    assert reloaded(budi).name == "Budi Santoso"
    [event] = SecurityEvent.objects.filter(kind=SecurityEventKind.ERASURE_REFUSED)
    assert event.actor == supervisor
    assert event.detail == {"customer_id": budi.pk, "open_tickets": 1}


def test_erasure_anonymises_at_once_whatever_the_retention_and_is_logged(floor, supervisor):
    dedi = floor["people"]["D"]
    before = figures(floor)
    with time_machine.travel(MONDAY_9AM + timedelta(days=6), tick=False):  # D1 closed yesterday
        changed = privacy.erase_customer(customer_id=dedi.pk, actor=supervisor)
    assert anonymised(dedi)
    assert changed["customers"] == 1 and changed["contact_attempts"] == 1
    assert set(
        ContactAttempt.objects.filter(ticket=floor["tickets"]["D1"]).values_list("phone", flat=True)
    ) == {""}
    assert not anonymised(floor["people"]["C"])  # nobody else
    [event] = SecurityEvent.objects.filter(kind=SecurityEventKind.ERASURE)
    assert event.actor == supervisor
    assert event.at == MONDAY_9AM + timedelta(days=6)
    assert event.detail["customer_id"] == dedi.pk
    logged = json.dumps(event.detail)
    assert "Dedi" not in logged and "087733334444" not in logged and "dedi@" not in logged
    assert figures(floor) == before == hand_count(floor)


def test_the_erase_customer_command(floor, supervisor, capsys):
    budi, dedi = floor["people"]["B"], floor["people"]["D"]
    with pytest.raises(CommandError, match="open ticket"):
        call_command("erase_customer", str(budi.pk), by=supervisor.username)
    with pytest.raises(CommandError, match="No active user"):
        call_command("erase_customer", str(dedi.pk), by="nobody")
    call_command("erase_customer", str(dedi.pk), by=supervisor.username)
    assert f"Customer #{dedi.pk}: personal data erased" in capsys.readouterr().out
    assert anonymised(dedi)
    assert SecurityEvent.objects.get(kind=SecurityEventKind.ERASURE).actor == supervisor


def test_the_admin_action_asks_first_then_erases_or_refuses(floor):
    from django.contrib.auth.models import User

    root = User.objects.create_superuser("root", "root@example.com", "secret-pass-123")
    client = Client()
    client.force_login(root)
    budi, dedi = floor["people"]["B"], floor["people"]["D"]
    changelist = reverse("admin:tickets_customer_changelist")
    chosen = {"action": "erase_personal_data", "_selected_action": [budi.pk, dedi.pk]}
    question = client.post(changelist, chosen)
    assert question.status_code == 200 and b"Yes, erase" in question.content
    assert not anonymised(dedi)
    done = client.post(changelist, {**chosen, "confirm_erasure": "yes"}, follow=True)
    said = [str(message) for message in done.context["messages"]]
    assert any("open ticket" in message for message in said)
    assert f"Customer #{dedi.pk}: personal data erased." in said
    assert anonymised(dedi) and not anonymised(budi)
    kinds = SecurityEvent.objects.filter(actor=root).values_list("kind", flat=True)
    assert sorted(kind for kind in kinds if kind.startswith("erasure")) == [
        "erasure",
        "erasure_refused",
    ]
