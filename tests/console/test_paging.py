"""Keyset pagination: every row once, in order, forwards and backwards, NULLs last."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.console.conftest import nossa_ticket
from tickets.filtersets import SORTS
from tickets.models import Priority, Ticket
from tickets.services.deadlines import running_deadline_of
from tickets.views.paging import keyset_page

pytestmark = pytest.mark.django_db


@pytest.fixture
def tickets():
    now = timezone.now()
    made = []
    for index in range(23):
        ticket = nossa_ticket(
            reported_at=now - timedelta(minutes=index % 5),  # many ties on the sort keys
            priority=[Priority.HIGH, Priority.NORMAL][index % 2],
        )
        made.append(ticket)
    # Some deadlines unknown: they must come last, on every database.
    Ticket.objects.filter(pk__in=[made[3].pk, made[8].pk]).update(claim_by=None, resolve_by=None)
    return made


def walk(queryset, order, size):
    pages, after = [], None
    while True:
        page = keyset_page(queryset, order, after=after, size=size)
        pages.append(page)
        if page.after is None:
            return pages
        after = page.after


@pytest.mark.parametrize("sort", list(SORTS))
def test_walking_forwards_then_backwards_visits_every_row_once_in_order(tickets, sort):
    queryset = Ticket.objects.all()
    order = SORTS[sort]

    pages = walk(queryset, order, size=5)

    seen = [row.pk for page in pages for row in page.rows]
    assert len(seen) == len(set(seen)) == 23
    if sort in ("urgent", "resolve_by"):
        nulls = {tickets[3].pk, tickets[8].pk}
        assert set(seen[-2:]) == nulls
    expected = sorted(
        Ticket.objects.all(),
        key=lambda t: tuple(_key(t, field) for field in order),
    )
    assert seen == [t.pk for t in expected]

    # Back from the last page: the same pages, in reverse.
    back, before = [], pages[-1].before
    while before is not None:
        page = keyset_page(queryset, order, before=before, size=5)
        back.append([row.pk for row in page.rows])
        before = page.before
    assert back == [[row.pk for row in page.rows] for page in pages[-2::-1]]


def _key(ticket, field):
    name = field.lstrip("-")
    if name == "running_deadline":  # an expression key: the deadline that runs now
        value = running_deadline_of(ticket).at
    else:
        value = getattr(ticket, "pk" if name == "id" else name)
    missing = value is None
    if field.startswith("-"):
        value = -value.timestamp() if hasattr(value, "timestamp") else -value
    elif hasattr(value, "timestamp"):
        value = value.timestamp()
    return (missing, 0 if missing else value)


def test_a_cursor_that_is_not_a_ticket_gives_the_first_page(tickets):
    first = keyset_page(Ticket.objects.all(), SORTS["oldest"], size=5)

    for cursor in ("abc", "999999", ""):
        page = keyset_page(Ticket.objects.all(), SORTS["oldest"], after=cursor, size=5)
        assert [r.pk for r in page.rows] == [r.pk for r in first.rows]
        assert page.is_first
