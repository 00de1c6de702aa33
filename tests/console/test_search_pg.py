"""The queues' search on PostgreSQL: a name is looked up through the customers' trigram index
(migration 0026), numbers through the tickets' own indexes."""

import pytest
from django.db import connection

from tests import factories
from tests.console.conftest import nossa_ticket
from tickets.filtersets import TicketQueueFilter
from tickets.models import Customer, Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def plan_of(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        # The test's tables are tiny: without reading the whole table (a scan of it, or of
        # an index of every name), a substring of a name can only come from the trigrams.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_indexonlyscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def searched(text: str):
    return TicketQueueFilter({"q": text}, queryset=Ticket.objects.order_by("pk")).qs


def test_a_name_search_reads_the_customers_trigram_index_and_finds_any_part_of_the_name():
    ratna = factories.ServiceFactory(customer=Customer.objects.create(name="Ratna Hidayat"))
    wanted = [nossa_ticket(service=ratna), nossa_ticket(service=ratna)]
    nossa_ticket(service=factories.ServiceFactory(customer=Customer.objects.create(name="Budi")))

    assert "customer_name_trgm" in plan_of(searched("hidaya"))
    for text in ("hidaya", "RATNA", "tna hid"):
        assert list(searched(text)) == wanted, text


def test_a_number_search_never_joins_the_customers():
    ticket = nossa_ticket(nossa_number="IN16670002")

    plan = plan_of(searched(ticket.service.service_number))

    assert "tickets_customer" not in plan and "tickets_service" not in plan
    assert list(searched(ticket.service.service_number)) == [ticket]
    assert list(searched("in16670002")) == [ticket]
