"""`manage.py load_demo` after an interrupted run, and alongside the bench generator's data.

A run can stop anywhere (an exception in a service, a killed process). The next plain run must
finish the job: same demo data as a clean run, nothing twice, nothing left over; the run after
that only says the demo is loaded. Demo detection and the wipe must never count, delete or trip
over rows that are not the demo's, such as `bench/generate_tickets.py`'s.

The runs commit as `make run`'s do (a transactional database, flushed after each test). What a
clean run loads is measured once, in a fresh database, by a separate run rolled back afterwards
(`clean`), and some of it is known by hand from the options: one ticket waiting in each flow's
queue (`--new-per-flow 1`), 40 spare lines, the two outages, three campaigns, eight users.
"""

import io
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.db.models import Q
from django.test.utils import override_settings

from bench.generate_tickets import generate
from tickets import services
from tickets.flows import FLOWS
from tickets.management.commands import load_demo
from tickets.management.commands.load_demo import (
    CAMPAIGNS,
    DEMO_USERS,
    OPEN_OUTAGE,
    RECOVERED_OUTAGE,
    SPARE_LINES,
    demo_incidents,
    demo_services_q,
    demo_tickets,
    missing_states,
)
from tickets.models import (
    AgentProfile,
    Campaign,
    Customer,
    GamasIncident,
    Service,
    Ticket,
    TransitionLog,
)

pytestmark = pytest.mark.django_db(transaction=True)

SMALL = ("--per-state", "1", "--new-per-flow", "1")
# A line that is not a demo line (prefix and 8 digits), on the open outage's OLT.
FOREIGN_ON_KBL_02 = "122155500023"
DEMO_USERNAMES = [spec.username for spec in DEMO_USERS]


class Interrupted(Exception):
    """Stands for whatever stops a run: a crash in a service, Ctrl-C, a killed process."""


def quiet(*_args) -> None:
    pass


def run_load_demo(*args: str) -> str:
    output = io.StringIO()
    call_command("load_demo", *SMALL, *args, stdout=output)
    return output.getvalue()


def demo_shape() -> dict:
    """What a load leaves, counted; only demo rows (other rows may be in the database)."""
    lines = Service.objects.filter(demo_services_q())
    return {
        "tickets per flow and state": Counter(demo_tickets().values_list("flow", "state")),
        "lines": lines.count(),
        "lines without a ticket": lines.filter(tickets=None).count(),
        "customers of demo lines": Customer.objects.filter(services__in=lines).distinct().count(),
        "incidents": sorted(
            (
                incident.state,
                incident.area_code,
                demo_tickets().filter(gamas_incident=incident).count(),
            )
            for incident in demo_incidents()
        ),
        "campaigns": sorted(Campaign.objects.values_list("code", flat=True)),
        "users": sorted(
            get_user_model()
            .objects.filter(username__in=DEMO_USERNAMES)
            .values_list("username", flat=True)
        ),
        "agent profiles": AgentProfile.objects.filter(user__username__in=DEMO_USERNAMES).count(),
    }


def everything() -> dict:
    """Every row a run may touch, to show a run changed nothing."""
    return {
        "tickets": sorted(Ticket.objects.values_list("pk", "state", "updated_at")),
        "log rows": TransitionLog.objects.count(),
        "lines": sorted(Service.objects.values_list("pk", "service_number")),
        "customers": sorted(Customer.objects.values_list("pk", flat=True)),
        "incidents": sorted(GamasIncident.objects.values_list("pk", "state", "opened_at")),
        "campaigns": sorted(Campaign.objects.values_list("pk", "code")),
        "users": sorted(get_user_model().objects.values_list("pk", "username")),
    }


@pytest.fixture(scope="module")
def clean(django_db_setup, django_db_blocker):
    """The shape of a clean run in a fresh database (rolled back afterwards)."""
    fast_passwords = override_settings(
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]
    )
    with django_db_blocker.unblock(), fast_passwords, transaction.atomic():
        assert not Ticket.objects.exists()
        run_load_demo()
        shape = demo_shape()
        transaction.set_rollback(True)
    return shape


def test_a_clean_run_loads_what_its_options_say(clean):
    """Hand-known from the options and the module's constants, so that the comparisons below
    compare with something right."""
    per_state = clean["tickets per flow and state"]
    assert {flow: per_state[(flow, "new")] for flow in FLOWS} == dict.fromkeys(FLOWS, 1)
    assert all(per_state[(flow, state)] >= 1 for flow in FLOWS for state in FLOWS[flow].states)
    assert clean["lines without a ticket"] == SPARE_LINES
    assert clean["customers of demo lines"] == clean["lines"]
    assert [(state, area) for state, area, _count in clean["incidents"]] == [
        ("open", OPEN_OUTAGE[1]),
        ("recovered", RECOVERED_OUTAGE[1]),
    ]
    assert all(children > 0 for _state, _area, children in clean["incidents"])
    assert clean["campaigns"] == sorted(spec["code"] for spec in CAMPAIGNS)
    assert clean["users"] == sorted(spec.username for spec in DEMO_USERS)
    assert clean["agent profiles"] == sum(1 for spec in DEMO_USERS if spec.site)


# --- Interrupted runs ---------------------------------------------------------------------------
def fail_after(monkeypatch, owner, name: str, calls: int) -> None:
    """`owner.name` works `calls` times, then raises."""
    real = getattr(owner, name)
    seen = {"calls": 0}

    def interrupted(*args, **kwargs):
        seen["calls"] += 1
        if seen["calls"] > calls:
            raise Interrupted(f"{name} interrupted after {calls} calls")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, interrupted)


INTERRUPTIONS = {
    # where: (whose function, its name, calls that work, every state has its ticket after it)
    "creating the users": (lambda: AgentProfile.objects, "update_or_create", 2, False),
    "creating the campaigns": (lambda: Campaign.objects, "update_or_create", 1, False),
    # Lines and the first outage exist, no ticket yet.
    "opening the outages": (lambda: services, "open_incident", 1, False),
    "walking the tickets": (lambda: services, "transition_ticket", 40, False),
    "recovering the outage": (lambda: services, "fan_out_recovery_batch", 0, False),
    # Every state has its ticket; the timelines are being spread over the last days.
    "marking the SLA": (lambda: load_demo.DemoLoader, "_mark_sla", 0, True),
}


@pytest.mark.parametrize("where", list(INTERRUPTIONS))
def test_a_plain_run_after_an_interrupted_one_loads_what_a_clean_run_does(
    where, clean, monkeypatch
):
    owner, name, calls, all_states = INTERRUPTIONS[where]
    with monkeypatch.context() as patch:
        fail_after(patch, owner(), name, calls)
        with pytest.raises(Interrupted):
            run_load_demo()
    assert (missing_states() == []) is all_states

    output = run_load_demo()

    assert "Loaded" in output
    assert demo_shape() == clean
    assert not Customer.objects.filter(services=None).exists()
    assert Customer.objects.count() == Service.objects.count() == clean["lines"]
    assert GamasIncident.objects.count() == 2
    assert get_user_model().objects.count() == len(DEMO_USERS)

    loaded = everything()
    output = run_load_demo()
    assert "already loaded" in output
    assert everything() == loaded


def test_a_report_from_another_line_linked_to_the_demo_outage_survives_the_wipe(clean, monkeypatch):
    """The demo's open outage takes in a waiting IVR report from a line that is not the demo's
    (an arrival rule). The wipe after an interrupted run keeps both, and the reload uses that
    incident again instead of opening a second one on the same OLT."""
    report, _created = services.receive_report(
        flow="gamas",
        source_system="ivr",
        source_ref="IVR-OTHER-1",
        service_number=FOREIGN_ON_KBL_02,
    )
    with monkeypatch.context() as patch:
        fail_after(patch, services, "transition_ticket", 40)
        with pytest.raises(Interrupted):
            run_load_demo()
    outage = demo_incidents().get(area_code=OPEN_OUTAGE[1])
    report.refresh_from_db()
    assert report.gamas_incident_id == outage.pk

    assert "incomplete" in run_load_demo()
    assert demo_shape() == clean
    assert demo_incidents().get(area_code=OPEN_OUTAGE[1]).pk == outage.pk
    assert GamasIncident.objects.count() == 2
    report.refresh_from_db()
    assert (report.gamas_incident_id, report.state) == (outage.pk, "waiting_recovery")
    assert Service.objects.filter(service_number=FOREIGN_ON_KBL_02).exists()

    assert "already loaded" in run_load_demo()


# --- Alongside the bench generator's data -------------------------------------------------------
def generated_rows() -> dict:
    """The generator's rows: every ticket, line, customer and incident that is not the demo's."""
    tickets = Ticket.objects.exclude(demo_services_q("service__"))
    return {
        "tickets": {
            pk: rest
            for pk, *rest in tickets.values_list(
                "pk",
                "flow",
                "state",
                "service_id",
                "gamas_incident_id",
                "service__olt",
                "service__odp",
            )
        },
        "lines": set(Service.objects.exclude(demo_services_q()).values_list("pk", flat=True)),
        "customers": set(
            Customer.objects.exclude(
                services__in=Service.objects.filter(demo_services_q())
            ).values_list("pk", flat=True)
        ),
        "incidents": set(
            GamasIncident.objects.exclude(pk__in=demo_incidents()).values_list(
                "pk", "state", "area_code"
            )
        ),
    }


def assert_left_alone(before: dict) -> None:
    """Every generated row is still there and as it was, but for the arrival rule that links a
    waiting IVR report to an outage opened over its line (the demo's, on its OLT or ODP)."""
    after = generated_rows()
    assert after["lines"] == before["lines"]
    assert after["customers"] == before["customers"]
    assert after["incidents"] == before["incidents"]
    assert set(after["tickets"]) == set(before["tickets"])
    outages = set(demo_incidents().values_list("pk", flat=True))
    for pk, was in before["tickets"].items():
        now = after["tickets"][pk]
        if now != was:
            flow, state, _service, incident, olt, odp = was
            assert (flow, state, incident) == ("gamas", "new", None), pk
            assert olt == OPEN_OUTAGE[1] or odp == RECOVERED_OUTAGE[1], pk
            assert now[3] in outages, pk


def assert_demo_stays_in_its_own_world() -> None:
    """No demo report is linked to an incident other than the demo's two."""
    linked = demo_tickets().exclude(gamas_incident=None)
    assert not linked.exclude(gamas_incident__in=demo_incidents()).exists()


def test_load_demo_before_and_after_the_bench_generator(clean):
    # Generated first: its open incidents cover some OLTs where demo lines could lie.
    result = generate(tickets=3000, batch=1000, log=quiet)
    assert result.tickets == 3000
    assert demo_tickets().count() == 0 and missing_states() != []
    generated = generated_rows()
    assert "open" in {state for _pk, state, _area in generated["incidents"]}

    assert "Loaded" in run_load_demo()
    assert demo_shape() == clean
    assert_demo_stays_in_its_own_world()
    assert_left_alone(generated)

    # Generated after: the demo is still complete and a plain run changes nothing.
    generate(tickets=500, batch=500, log=quiet)
    generated = generated_rows()
    assert len(generated["tickets"]) == 3500
    assert missing_states() == []
    loaded = everything()

    assert "already loaded" in run_load_demo()
    assert everything() == loaded

    # A reset wipes the demo's rows only, and loads them again.
    wiped = sum(clean["tickets per flow and state"].values())
    assert f"Wiped {wiped} demo tickets" in run_load_demo("--reset")
    assert demo_shape() == clean
    assert_demo_stays_in_its_own_world()
    assert_left_alone(generated)
    assert Ticket.objects.count() == 3500 + wiped


def test_the_wipe_deletes_no_row_of_the_generator(clean):
    run_load_demo()
    generate(tickets=500, batch=500, log=quiet)
    generated = generated_rows()

    load_demo.wipe_demo_data()

    assert demo_tickets().count() == 0
    assert not Service.objects.filter(demo_services_q()).exists()
    assert not demo_incidents().exists()
    assert_left_alone(generated)
    assert Ticket.objects.count() == 500
    assert not Customer.objects.filter(~Q(pk__in=generated["customers"])).exists()
