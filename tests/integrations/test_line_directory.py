"""One customer per line: the line directory, the stubs, the demo data and the bench generator
agree about a line; a gamas incident on a directory code covers every kind of line; where
I-SISKA (the customer master) is told to disagree, the ticket's customer facts say so and which
number to call.

The expected values are written out by hand: the line of ``131100000001`` (the second general
line of the demo) as the directory gives it, the prices and speeds that follow from its package
(SOP tariffs in ``lines.PACKAGES``), and the OLT that feeds an ODP by the code rule (feeders A
and B hang on OLT 1, C and D on OLT 2, ...).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest

from integrations import adapters
from integrations.adapters.base import RedisLedger
from integrations.adapters.callback import CallbackStub
from integrations.adapters.epayment import EpaymentStub
from integrations.adapters.ibooster import IboosterStub
from integrations.adapters.isiska import IsiskaStub
from integrations.adapters.lines import (
    ODP_CODE_RE,
    OLT_CODE_RE,
    line,
    olt_of_odp,
    pooled_service_number,
)
from integrations.adapters.minitools import MinitoolsStub
from integrations.adapters.webcare import WebcareStub
from integrations.customer_master import compare, same_phone
from tests import factories
from tickets import services
from tickets.management.commands.load_demo import (
    DEMO_SERVICE_PREFIXES,
    RECOVERED_OUTAGE,
    create_lines,
    pick_demo_lines,
)
from tickets.models import Customer, Service

NOW = datetime(2025, 11, 25, 8, 0, tzinfo=UTC)
NUMBER = "131100000001"
# The line of NUMBER, as every system tells it.
EXPECTED = {
    "customer_name": "Mega Wijaya",
    "phone": "081212513281",
    "email": "mega.wijaya2@yahoo.co.id",
    "address": "Jl. Hayam Wuruk No. 79, RT 010/RW 001, Pancoran Mas, Depok",
    "package": "IndiHome 1P Internet 30 Mbps",
    "sto": "DPK",
    "olt": "OLT-DPK-01",
    "odp": "ODP-DPK-FAB/004",
}
# Lines on OLT-KBL-02: the first demo line the demo puts in its open outage, and two numbers
# outside the demo range that only I-SISKA knows.
DEMO_ON_KBL_02 = "122100000021"
PULLED_ON_KBL_02 = ("122155500023", "122155500036")
OTHER_PHONE = "081299990000"


# --- The same line through every stub -----------------------------------------------------------
def test_every_stub_tells_the_same_customer_address_package_and_codes_for_a_line():
    profile = IsiskaStub().profile(service_number=NUMBER)
    review = MinitoolsStub().review_network(service_number=NUMBER)
    offers = WebcareStub().offers(service_number=NUMBER)
    bills = EpaymentStub(clock=lambda: NOW).bills(service_number=NUMBER)
    usage = IboosterStub(clock=lambda: NOW).usage_history(service_number=NUMBER, days=30)

    assert (profile.customer_name, profile.phone, profile.address) == (
        EXPECTED["customer_name"], EXPECTED["phone"], EXPECTED["address"],
    )  # fmt: skip
    assert (profile.package_name, profile.speed_mbps, profile.has_tv) == (
        EXPECTED["package"], 30, False,
    )  # fmt: skip
    assert (profile.sto, profile.olt, profile.odp) == ("DPK", "OLT-DPK-01", "ODP-DPK-FAB/004")
    # Minitools: the same OLT, and the 30 Mbps package's profile.
    assert review.olt == "OLT-DPK-01"
    assert review.package_profile == "HSI-30M"
    # Webcare: upgrades to the two tiers above 30 Mbps at 1,500 a Mbps; TV is offered (no TV).
    upgrades = [(offer.code, offer.monthly_price_idr) for offer in offers if "UPG" in offer.code]
    assert upgrades == [("UPG-50M", 30_000), ("UPG-100M", 105_000)]
    # E-payment: the 280,000 fee plus at most 39,500 of extras, with 11 % PPN.
    assert all(310_800 <= bill.amount_idr <= 354_645 for bill in bills)
    # Ibooster: a 30 Mbps line downloads at most 0.6 * 30 = 18 GB a day.
    assert max(day.download_gb for day in usage) <= 18


def test_the_directory_holds_the_same_line_as_the_stubs():
    found = line(NUMBER)

    assert {
        "customer_name": found.customer_name, "phone": found.phone, "email": found.email,
        "address": found.address, "package": found.package.name, "sto": found.sto,
        "olt": found.olt, "odp": found.odp,
    } == EXPECTED  # fmt: skip


def test_a_callback_caller_is_the_line_customer_isiska_knows():
    stub, isiska = CallbackStub(clock=lambda: NOW), IsiskaStub()
    records = stub.fetch_records(since=datetime(2025, 11, 25, 6, 0, tzinfo=UTC), limit=50)

    assert records
    for record in records:
        profile = isiska.profile(service_number=record.service_number)
        assert record.caller_phone == profile.phone


def test_network_codes_have_one_format_and_an_odp_hangs_on_its_lines_olt():
    assert olt_of_odp("ODP-BLB-FAD/007") == "OLT-BLB-02"
    assert olt_of_odp("ODP-KBL-FAA/001") == "OLT-KBL-01"
    assert olt_of_odp("ODP-KBL-FAH/012") == "OLT-KBL-04"
    with pytest.raises(ValueError):
        olt_of_odp("ODP-MLG-FA/105")  # the stubs' old format
    numbers = [f"1221{n:08d}" for n in range(10_000_000, 10_000_200)] + [
        f"1311{n:08d}" for n in range(20_000_000, 20_000_200)
    ]
    for number in numbers:
        profile = IsiskaStub().profile(service_number=number)
        review = MinitoolsStub().review_network(service_number=number)
        assert OLT_CODE_RE.fullmatch(profile.olt), profile.olt
        assert ODP_CODE_RE.fullmatch(profile.odp), profile.odp
        assert profile.olt.split("-")[1] == profile.odp.split("-")[1] == profile.sto
        assert olt_of_odp(profile.odp) == profile.olt == review.olt


def test_pooled_numbers_are_in_a_known_region_and_never_demo_numbers():
    import random

    rng = random.Random(7)
    numbers = {pooled_service_number(rng) for _ in range(500)}

    assert all(re.fullmatch(r"(1221|1311)[1-9]\d{7}", number) for number in numbers)
    assert not any(number.startswith(DEMO_SERVICE_PREFIXES) for number in numbers)
    jakarta = {"GBR", "CPP", "KBY", "TBE", "JTN", "DPK"}
    for number in numbers:
        assert (line(number).sto in jakarta) == number.startswith("1311")


# --- A stub told to disagree --------------------------------------------------------------------
def test_isiska_answers_a_configured_name_and_phone_for_that_line_only():
    stub = IsiskaStub()
    stub.effects.configure_answer(
        "isiska", NUMBER, customer_name="Mega W. Putri", phone=OTHER_PHONE
    )

    told = stub.profile(service_number=NUMBER)
    neighbour = stub.profile(service_number="131100000002")

    assert (told.customer_name, told.phone) == ("Mega W. Putri", OTHER_PHONE)
    assert (told.address, told.olt) == (EXPECTED["address"], EXPECTED["olt"])
    assert neighbour.phone == line("131100000002").phone
    stub.effects.configure_answer("isiska", NUMBER)  # no fields: back to the directory
    assert stub.profile(service_number=NUMBER).phone == EXPECTED["phone"]
    # The address can differ too; the network codes and the package are the network's own.
    stub.effects.configure_answer("isiska", NUMBER, address="Jl. Baru No. 1", olt="OLT-DPK-04")
    moved = stub.profile(service_number=NUMBER)
    assert (moved.address, moved.olt) == ("Jl. Baru No. 1", EXPECTED["olt"])


@pytest.mark.redis
def test_a_configured_answer_in_redis_reaches_a_stub_built_elsewhere(settings):
    ledger = RedisLedger(settings.REDIS_URL, f"test-lines-{uuid.uuid4().hex}")
    try:
        ledger.configure_answer("isiska", NUMBER, phone=OTHER_PHONE)
        other = RedisLedger(settings.REDIS_URL, ledger.prefix)  # another process's ledger

        assert IsiskaStub(effects=other).profile(service_number=NUMBER).phone == OTHER_PHONE
        assert other.configured_answer("isiska", "131100000002") == {}
    finally:
        ledger.clear()
    assert IsiskaStub(effects=ledger).profile(service_number=NUMBER).phone == EXPECTED["phone"]


# --- The rule: I-SISKA is the customer master ---------------------------------------------------
ON_TICKET = {
    "customer_name": "Mega Wijaya",
    "phone": "081212513281",
    "address": "",
    "package": "IndiHome 1P Internet 30 Mbps",
    "sto": "DPK",
    "olt": "OLT-DPK-01",
    "odp": "ODP-DPK-FAB/004",
}


def test_before_isiska_answers_the_ticket_number_is_the_one_to_call():
    check = compare(on_ticket=ON_TICKET, master=None)

    assert not check.checked and not check.disagrees
    assert (check.number_to_call, check.number_from_master) == ("081212513281", False)


def test_isiska_agreeing_in_other_spelling_is_no_disagreement():
    master = {
        "customer_name": "MEGA  WIJAYA",
        "phone": "+62 812-1251-3281",
        "address": "Jl. Hayam Wuruk No. 79",  # the ticket has none: unknown there, not different
        "package_name": "IndiHome 1P Internet 30 Mbps",
        "sto": "DPK",
        "olt": "olt-dpk-01",
        "odp": "ODP-DPK-FAB/004",
    }

    check = compare(on_ticket=ON_TICKET, master=master)

    assert check.checked and not check.disagrees
    assert check.number_to_call == "+62 812-1251-3281"
    assert same_phone("+62 812-1251-3281", "081212513281")


def test_a_different_name_phone_and_odp_are_listed_and_isiskas_number_is_called():
    master = {
        "customer_name": "Mega W. Putri",
        "phone": OTHER_PHONE,
        "package_name": "IndiHome 1P Internet 30 Mbps",
        "sto": "DPK",
        "olt": "OLT-DPK-01",
        "odp": "ODP-DPK-FAA/001",
    }

    check = compare(on_ticket=ON_TICKET, master=master)

    assert [(d.field, d.on_ticket, d.in_master) for d in check.disagreements] == [
        ("customer_name", "Mega Wijaya", "Mega W. Putri"),
        ("phone", "081212513281", OTHER_PHONE),
        ("odp", "ODP-DPK-FAB/004", "ODP-DPK-FAA/001"),
    ]
    assert [str(label) for label in check.fields] == ["name", "phone", "ODP"]
    assert check.phone_differs
    assert (check.number_to_call, check.number_from_master) == (OTHER_PHONE, True)


# --- Demo data and generator lines are directory lines -------------------------------------------
@pytest.mark.django_db
def test_demo_lines_carry_the_directory_customer_and_codes():
    (service,) = create_lines([NUMBER])

    service = Service.objects.select_related("customer").get(pk=service.pk)
    assert {
        "customer_name": service.customer.name, "phone": service.customer.phone,
        "email": service.customer.email, "address": service.address,
        "package": service.package, "sto": service.sto, "olt": service.olt, "odp": service.odp,
    } == EXPECTED  # fmt: skip
    assert service.customer.address == EXPECTED["address"]


def test_demo_lines_are_picked_where_their_stories_need_them():
    picked = pick_demo_lines({"open_outage": 2, "recovered_outage": 2, "general": 30})

    assert picked["open_outage"][0] == DEMO_ON_KBL_02
    assert all(line(number).olt == "OLT-KBL-02" for number in picked["open_outage"])
    assert all(line(number).odp == RECOVERED_OUTAGE[1] for number in picked["recovered_outage"])
    for number in picked["general"]:
        assert line(number).olt != "OLT-KBL-02" and line(number).odp != RECOVERED_OUTAGE[1]
    everything = [number for numbers in picked.values() for number in numbers]
    assert len(set(everything)) == len(everything)
    assert all(number.startswith(DEMO_SERVICE_PREFIXES) for number in everything)


@pytest.mark.django_db(transaction=True)
def test_generated_lines_have_one_customer_each_as_isiska_has_them():
    from bench.generate_tickets import generate

    generate(tickets=100, services=40, batch=100, log=lambda *_args: None)

    lines = list(Service.objects.select_related("customer"))
    assert len(lines) == 40
    assert Customer.objects.count() == 40
    isiska = IsiskaStub()
    for service in lines:
        profile = isiska.profile(service_number=service.service_number)
        assert (service.customer.name, service.customer.phone) == (
            profile.customer_name, profile.phone,
        )  # fmt: skip
        assert (service.address, service.package) == (profile.address, profile.package_name)
        assert (service.sto, service.olt, service.odp) == (profile.sto, profile.olt, profile.odp)


# --- A gamas incident on a directory code covers every kind of line -----------------------------
@pytest.mark.django_db
def test_a_gamas_on_an_olt_links_reports_from_demo_lines_and_from_lines_pulled_from_isiska():
    assert line(DEMO_ON_KBL_02).olt == "OLT-KBL-02"
    (demo_line,) = create_lines([DEMO_ON_KBL_02])
    demo_report = factories.arrive("gamas", service=demo_line, source_ref="IVR-1")
    pulled_report, _created = services.receive_report(
        flow="gamas", source_system="ivr", source_ref="IVR-2", service_number=PULLED_ON_KBL_02[0]
    )
    pulled_line = Service.objects.get(service_number=PULLED_ON_KBL_02[0])
    assert (pulled_line.olt, pulled_line.odp) == ("OLT-KBL-02", "ODP-KBL-FAC/004")
    assert pulled_line.customer.name == "Nur Hutapea"

    incident = factories.open_gamas(area_level="olt", area_code="OLT-KBL-02")
    later, _created = services.receive_report(
        flow="gamas", source_system="ivr", source_ref="IVR-3", service_number=PULLED_ON_KBL_02[1]
    )

    for report in (demo_report, pulled_report, later):
        report = factories.reload(report)
        assert report.gamas_incident_id == incident.pk
        assert report.state == "waiting_recovery"


# --- The ticket's customer facts --------------------------------------------------------------
@pytest.fixture
def effects(settings):
    """A fresh ledger in this process's memory, the one the registry's stubs use."""
    settings.TIER2_STUB_EFFECTS_URL = ""
    settings.TIER2_STUB_EFFECTS_KEY = f"test-{uuid.uuid4().hex}"
    ledger = adapters.stub_effects()
    yield ledger
    ledger.clear()


@pytest.fixture
def held(db, client, settings):
    """A NOSSA ticket on the demo line NUMBER, held by an agent logged in to the client."""
    settings.LANGUAGE_CODE = "en"
    agent = factories.agent(site_code="PST", flows=("nossa",), username="agent.lines")
    (service,) = create_lines([NUMBER])
    ticket = factories.arrive("nossa", service=service, nossa_number="IN16672489")
    services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    client.force_login(agent)
    return factories.reload(ticket)


def check_isiska(ticket, capture):
    with capture(execute=True):
        services.refresh_customer_checks(ticket_id=ticket.pk, actor=ticket.assignee)


def facts_block(page: str) -> str:
    start = page.index('<div id="customer-facts"')
    end = page.index("</dl>\n</div>", start)
    return page[start:end]


def test_customer_facts_agree_with_isiska_and_say_nothing_more(
    held, client, effects, django_capture_on_commit_callbacks
):
    check_isiska(held, django_capture_on_commit_callbacks)

    block = facts_block(client.get(f"/tickets/{held.pk}/").content.decode())

    assert 'data-master="agrees"' in block
    assert "disagree" not in block
    assert "081212513281" in block


def test_customer_facts_say_where_isiska_disagrees_and_which_number_to_call(
    held, client, effects, django_capture_on_commit_callbacks
):
    effects.configure_answer("isiska", NUMBER, customer_name="Mega W. Putri", phone=OTHER_PHONE)
    check_isiska(held, django_capture_on_commit_callbacks)

    page = client.get(f"/tickets/{held.pk}/").content.decode()
    block = facts_block(page)

    assert 'data-master="disagrees"' in block
    assert "I-SISKA and the ticket disagree on name, phone." in block
    assert "ticket: Mega Wijaya<br>I-SISKA: Mega W. Putri" in block
    assert "ticket: 081212513281<br>I-SISKA: 081299990000" in block
    assert "Call 081299990000, the number in I-SISKA: I-SISKA is the customer master." in block
    assert "<dd>081299990000 <span" in block  # the phone row gives the number to call
    assert "Call <strong>081299990000</strong>" in page  # and so does "Record a call"


def test_the_panel_brings_the_disagreement_to_the_facts_once_isiska_answers(
    held, client, effects, django_capture_on_commit_callbacks
):
    effects.configure_answer("isiska", NUMBER, phone=OTHER_PHONE)
    before = facts_block(client.get(f"/tickets/{held.pk}/").content.decode())
    check_isiska(held, django_capture_on_commit_callbacks)

    panel = client.get(f"/tickets/{held.pk}/panel/", headers={"HX-Request": "true"})

    assert 'data-master="unchecked"' in before and "081212513281" in before
    swapped = panel.content.decode()
    assert '<div id="customer-facts" data-master="disagrees" hx-swap-oob="true">' in swapped
    assert "I-SISKA and the ticket disagree on phone." in swapped


def test_another_agent_reads_both_numbers_masked(
    held, client, effects, django_capture_on_commit_callbacks
):
    effects.configure_answer("isiska", NUMBER, phone=OTHER_PHONE)
    check_isiska(held, django_capture_on_commit_callbacks)
    client.force_login(factories.agent(site_code="PST", flows=("nossa",), username="agent.dua"))

    block = facts_block(client.get(f"/tickets/{held.pk}/").content.decode())

    assert "I-SISKA and the ticket disagree on phone." in block
    assert OTHER_PHONE not in block and "081212513281" not in block
