"""One intake for every report from outside: pulls, pushes and CSV rows share the service and
customer look-up, deduplication, routing, Fresh Lapul and gamas linking."""

from unittest import mock

import pytest
from django.db import IntegrityError

from tests import factories
from tests.tickets.test_concurrency_pg import at_once, outcomes
from tickets import services
from tickets.exceptions import InvalidInput, TransitionForbidden
from tickets.models import Customer, Service, Ticket

LINE = {
    "customer_name": "Sri Wahyuni",
    "phone": "081234567890",
    "address": "Jl. Ijen 12, Malang",
    "package": "IndiHome 50 Mbps",
    "sto": "MLG",
    "olt": "OLT-MLG-01",
    "odp": "ODP-MLG-01/004",
}


def report(ref: str, number: str = "131150000001", **extra):
    return {
        "flow": "nossa",
        "source_system": "nossa",
        "source_ref": ref,
        "service_number": number,
        "nossa_number": ref,
        "category": "INTERNET",
        **extra,
    }


@pytest.mark.django_db
def test_a_report_for_a_new_line_creates_the_line_its_customer_and_the_ticket_once():
    ticket, created = services.receive_report(**report("IN10000001"), service_fields=LINE)
    again, created_again = services.receive_report(**report("IN10000001"), service_fields=LINE)
    assert (created, created_again) == (True, False)
    assert again.pk == ticket.pk
    assert Service.objects.get().customer.name == "Sri Wahyuni"
    assert (Customer.objects.count(), Ticket.objects.count()) == (1, 1)


@pytest.mark.django_db
def test_a_second_report_on_a_known_line_reuses_it_and_ignores_the_sent_fields():
    services.receive_report(**report("IN10000001"), service_fields=LINE)
    services.receive_report(
        **report("IN10000002"), service_fields={**LINE, "customer_name": "Someone Else"}
    )
    assert Service.objects.count() == 1
    assert Customer.objects.get().name == "Sri Wahyuni"
    assert Ticket.objects.count() == 2


@pytest.mark.django_db
def test_a_new_line_without_its_fields_is_refused_field_by_field_and_nothing_is_created():
    with pytest.raises(InvalidInput) as refused:
        services.receive_report(
            **report("IN10000001"), service_fields={"customer_name": "Sri", "phone": ""}
        )
    assert set(refused.value.errors) == {"phone", "sto", "olt", "odp"}
    assert not Service.objects.exists()
    assert not Ticket.objects.exists()


@pytest.mark.django_db
def test_a_pull_with_no_fields_asks_i_siska_for_the_new_line():
    ticket, created = services.receive_report(**report("IN10000003"), service_fields=None)
    assert created
    service = Service.objects.get(pk=ticket.service_id)
    assert service.service_number == "131150000001"
    assert service.customer.name  # the stub registry's customer of that line
    assert service.odp


@pytest.mark.django_db
def test_a_person_pushing_reports_must_be_a_supervisor():
    with pytest.raises(TransitionForbidden):
        services.receive_report(
            **report("IN10000004"), service_fields=LINE, actor=factories.agent()
        )
    assert not Ticket.objects.exists()


@pytest.mark.django_db
def test_a_line_created_by_someone_else_meanwhile_is_read_back_not_inserted_twice():
    """The race the pulls used to lose: the line appears between the look-up and the insert."""
    real_insert = services.intake._insert_services
    raced = []

    def someone_else_first(new):
        if not raced:
            raced.append(True)
            real_insert(new)  # the other arrival commits the same line first
            raise IntegrityError("duplicate key value violates unique constraint")
        return real_insert(new)

    with mock.patch.object(services.intake, "_insert_services", side_effect=someone_else_first):
        ticket, created = services.receive_report(**report("IN10000005"), service_fields=LINE)
    assert created
    assert Service.objects.count() == 1
    assert Ticket.objects.get().service_id == ticket.service_id


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_pulls_seeing_the_same_new_line_at_once_both_get_their_ticket():
    from tickets.models import Site

    for code, name in (("PST", "Pusat"), ("MLG", "Malang")):
        Site.objects.get_or_create(code=code, defaults={"name": name})
    results = at_once(
        [
            lambda ref=ref: services.receive_report(**report(ref), service_fields=LINE)
            for ref in ("IN20000001", "IN20000002", "IN20000003", "IN20000004")
        ]
    )
    assert outcomes(results) == {"ok": 4}
    assert Service.objects.count() == 1
    assert Customer.objects.count() == 1
    assert Ticket.objects.filter(service__service_number="131150000001").count() == 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_report_pushed_twice_at_once_makes_one_ticket():
    from tickets.models import Site

    for code, name in (("PST", "Pusat"), ("MLG", "Malang")):
        Site.objects.get_or_create(code=code, defaults={"name": name})
    results = at_once(
        [lambda: services.receive_report(**report("IN30000001"), service_fields=LINE)] * 3
    )
    assert outcomes(results) == {"ok": 3}
    assert sorted(created for _kind, (_ticket, created) in results) == [False, False, True]
    assert Ticket.objects.count() == 1
