"""`manage.py load_demo`: every state of every flow, a user per role, idempotent, replayable.

The demo is loaded once for the module, inside a transaction rolled back when the module ends;
each test runs in a savepoint of it (the `db` fixture), so tests may change what they see.
"""

import io
import re
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.test.utils import override_settings

from tickets.flows import FLOWS
from tickets.flows.base import CLOSED, ESCALATED
from tickets.management.commands.load_demo import (
    DEMO_USERS,
    arrival_paths,
    demo_tickets,
    machine_steps,
)
from tickets.models import (
    AgentProfile,
    Campaign,
    Customer,
    Flow,
    GamasIncident,
    Role,
    Service,
    Ticket,
    TransitionLog,
)

# Hashing seven passwords with the production hasher takes seconds; the demo only needs them
# to work for `client.login`.
FAST_PASSWORDS = override_settings(
    PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]
)


@pytest.fixture(scope="module")
def demo_output(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), FAST_PASSWORDS, transaction.atomic():
        output = io.StringIO()
        call_command("load_demo", stdout=output)
        yield output.getvalue()
        transaction.set_rollback(True)


@pytest.fixture
def demo(demo_output, db):
    return demo_output


def demo_counts() -> dict[str, int]:
    return {
        "tickets": Ticket.objects.count(),
        "log rows": TransitionLog.objects.count(),
        "customers": Customer.objects.count(),
        "services": Service.objects.count(),
        "incidents": GamasIncident.objects.count(),
        "campaigns": Campaign.objects.count(),
        "users": get_user_model().objects.count(),
        "profiles": AgentProfile.objects.count(),
    }


def test_every_state_of_every_flow_has_several_demo_tickets(demo):
    present = Counter(demo_tickets().values_list("flow", "state"))
    missing = {
        (flow, state): present[(flow, state)]
        for flow, machine in FLOWS.items()
        for state in machine.states
        if present[(flow, state)] < 3
    }
    assert missing == {}


def test_every_role_has_a_demo_user_who_can_log_in(demo, client):
    assert {spec.role for spec in DEMO_USERS} == set(Role.values)
    for spec in DEMO_USERS:
        assert client.login(username=spec.username, password=spec.password), spec.username
        user = get_user_model().objects.get(username=spec.username)
        assert list(user.groups.values_list("name", flat=True)) == [spec.role]
        client.logout()


def test_demo_agents_work_their_site_and_flows_and_admin_is_a_superuser(demo):
    users = get_user_model().objects.select_related("profile__site")
    pusat, malang = users.get(username="agent.pusat"), users.get(username="agent.malang")
    assert pusat.profile.site.code == "PST"
    assert Flow.C4_CARING not in pusat.profile.flows
    assert malang.profile.site.code == "MLG"
    assert set(malang.profile.flows) == set(Flow.values)
    assert users.filter(profile__site__code="PST").count() == 2
    assert users.filter(profile__site__code="MLG").count() == 2
    admin = users.get(username="admin")
    assert admin.is_staff and admin.is_superuser


def test_the_printed_table_lists_every_demo_user_with_password_and_warns_it_is_demo_only(demo):
    for spec in DEMO_USERS:
        assert re.search(rf"^{re.escape(spec.username)}\s+{re.escape(spec.password)}\s", demo, re.M)
    assert "demos only" in demo


def test_every_demo_ticket_log_replays_to_its_state_through_its_machine(demo):
    allowed = {
        flow: {(step.name, step.source, step.target) for step, _found in machine_steps(machine)}
        for flow, machine in FLOWS.items()
    }
    logs: dict[int, list[TransitionLog]] = {}
    for row in TransitionLog.objects.filter(ticket__in=demo_tickets()).order_by("at", "pk"):
        logs.setdefault(row.ticket_id, []).append(row)
    tickets = list(demo_tickets())
    assert tickets
    for ticket in tickets:
        rows = logs[ticket.pk]
        assert (rows[0].transition, rows[0].from_state) == ("arrive", "")
        state = ""
        for row in rows:
            assert row.from_state == state, (ticket.pk, row.transition)
            changes_state = row.from_state not in ("", row.to_state)
            if changes_state and row.transition != "answer_escalation":
                assert (row.transition, row.from_state, row.to_state) in allowed[ticket.flow]
            if row.transition == "answer_escalation":
                assert row.from_state == ESCALATED
            state = row.to_state
        assert rows[-1].to_state == ticket.state == state


def test_running_load_demo_twice_creates_no_duplicates(demo):
    before = demo_counts()
    output = io.StringIO()
    call_command("load_demo", stdout=output)
    assert demo_counts() == before
    assert "already loaded" in output.getvalue()


def test_reset_wipes_the_demo_tickets_and_loads_them_again_without_duplicates(demo):
    before = demo_counts()
    output = io.StringIO()
    call_command("load_demo", "--reset", stdout=output)
    after = demo_counts()
    assert after["tickets"] == before["tickets"]
    assert after["customers"] == before["customers"]
    assert after["services"] == before["services"]
    assert after["incidents"] == before["incidents"]
    assert after["users"] == before["users"]
    assert after["campaigns"] == before["campaigns"]
    assert f"Wiped {before['tickets']} demo tickets" in output.getvalue()


def test_one_gamas_is_open_with_waiting_children_and_one_recovered_with_some_closed(demo):
    incidents = {incident.state: incident for incident in GamasIncident.objects.all()}
    assert set(incidents) == {"open", "recovered"}
    waiting = incidents["open"].children.values_list("state", flat=True)
    assert "waiting_recovery" in waiting
    recovered = Counter(incidents["recovered"].children.values_list("state", flat=True))
    assert recovered["verifying"] and recovered[CLOSED]
    assert incidents["recovered"].recovered_at is not None


def test_fresh_lapul_tickets_follow_an_earlier_close_on_the_same_line(demo):
    repeats = demo_tickets().filter(flow=Flow.FRESH_LAPUL).select_related("previous_ticket")
    assert repeats
    for ticket in repeats:
        earlier = ticket.previous_ticket
        assert earlier is not None and earlier.state == CLOSED
        assert earlier.service_id == ticket.service_id
        assert earlier.closed_at < ticket.created_at


def test_nossa_sourced_tickets_carry_their_nossa_number(demo):
    sourced = demo_tickets().filter(source_system__in=["nossa", "nossa-fc"])
    assert sourced.filter(flow=Flow.NOSSA).exists()
    for ticket in sourced:
        assert re.fullmatch(r"IN\d{8}", ticket.nossa_number)
        assert ticket.source_ref == ticket.nossa_number


def test_ideas_tickets_have_a_campaign_and_c4_caring_is_worked_at_malang(demo):
    ideas = demo_tickets().filter(flow=Flow.IDEAS)
    assert not ideas.filter(campaign=None).exists()
    assert ideas.values("campaign").distinct().count() == 2
    caring = demo_tickets().filter(flow=Flow.C4_CARING)
    assert caring.exists()
    assert set(caring.values_list("site__code", flat=True)) == {"MLG"}


def test_demo_lines_have_twelve_digit_numbers_and_network_codes(demo):
    for service in Service.objects.all()[:50]:
        assert re.fullmatch(r"(1311|1221)\d{8}", service.service_number)
        assert service.olt.startswith(f"OLT-{service.sto}-")
        assert re.fullmatch(rf"ODP-{service.sto}-FA[A-H]/\d{{3}}", service.odp)


def test_arrival_paths_reach_every_state_of_every_flow():
    for machine in FLOWS.values():
        ways = arrival_paths(machine)
        assert set(ways) == set(machine.states)
        for state, paths in ways.items():
            assert paths, state
            for path in paths:
                assert (path[-1].target if path else "new") == state
