"""The queues page and the Next ticket button."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests import factories
from tests.console.conftest import in_state, nossa_ticket
from tickets import selectors
from tickets.models import Customer, Priority, SlaStatus, Ticket

pytestmark = pytest.mark.django_db


def rows_of(response) -> list[int]:
    return [ticket.pk for ticket in response.context["page"].rows]


def test_agent_sees_my_tickets_and_the_queues_of_their_flows_only(client):
    agent = factories.agent(flows=("nossa", "force_close"), username="agent.two.flows")
    client.force_login(agent)

    response = client.get("/queues/")

    assert response.status_code == 200
    assert [slug for slug, _label in response.context["tabs"]] == ["mine", "nossa", "force_close"]
    assert response.context["queue"] == "mine"


def test_agent_opening_the_queue_of_a_flow_they_do_not_work_is_refused(agent_client):
    response = agent_client.get("/queues/ideas/")

    assert response.status_code == 403
    assert "not one you work" in response.content.decode()


def test_unknown_queue_is_not_found(agent_client):
    assert agent_client.get("/queues/nonsense/").status_code == 404


def test_flow_queue_lists_open_tickets_most_urgent_first_with_counts_per_state(agent_client, agent):
    later = nossa_ticket(reported_at=timezone.now() - timedelta(minutes=1))
    urgent = nossa_ticket(reported_at=timezone.now() - timedelta(minutes=30))
    working = in_state(nossa_ticket(), agent, "diagnosing")
    closed = in_state(nossa_ticket(), agent, "closed", closed_at=timezone.now())
    other_flow = factories.arrive("force_close")

    response = agent_client.get("/queues/nossa/")

    listed = rows_of(response)
    assert listed.index(urgent.pk) < listed.index(later.pk)
    assert set(listed) == {urgent.pk, later.pk, working.pk}
    assert closed.pk not in listed and other_flow.pk not in listed
    counts = {tab["code"]: tab["count"] for tab in response.context["state_tabs"]}
    assert counts == {"new": "2", "diagnosing": "1"}
    assert response.context["total"] == "3"


def test_counts_past_the_cap_read_as_more_than_the_cap(agent_client, agent, monkeypatch):
    """With the cap at 2: three waiting read "2+", one in diagnosis "1", the total "3+"
    (at least 3); the state chosen alone reads as its own tab does."""
    monkeypatch.setattr(selectors, "COUNT_CAP", 2)
    for _ in range(3):
        nossa_ticket()
    in_state(nossa_ticket(), agent, "diagnosing")

    response = agent_client.get("/queues/nossa/")

    counts = {tab["code"]: tab["count"] for tab in response.context["state_tabs"]}
    assert counts == {"new": "2+", "diagnosing": "1"}
    assert response.context["total"] == "3+"
    assert '<span class="count">2+</span>' in response.content.decode()
    assert agent_client.get("/queues/nossa/?state=new").context["total"] == "2+"
    assert agent_client.get("/queues/nossa/?state=diagnosing").context["total"] == "1"


@pytest.mark.parametrize("cap", [1, 2, 3, 5])
def test_capped_state_counts_against_a_hand_table(agent, cap):
    """3 new, 2 in diagnosis, 1 closed; counting new, diagnosing, escalated and closed, each
    count is min(hand count, cap + 1) and a state without tickets is left out."""
    for _ in range(3):
        nossa_ticket()
    for _ in range(2):
        in_state(nossa_ticket(), agent, "diagnosing")
    in_state(nossa_ticket(), agent, "closed", closed_at=timezone.now())
    hand = {"new": 3, "diagnosing": 2, "closed": 1}

    counts = selectors.capped_state_counts(
        Ticket.objects.all(), ["new", "diagnosing", "escalated", "closed"], cap=cap
    )

    assert counts == {state: min(n, cap + 1) for state, n in hand.items()}


def test_my_tickets_lists_only_what_the_agent_holds(agent_client, agent, other_agent):
    mine = in_state(nossa_ticket(), agent, "diagnosing")
    in_state(nossa_ticket(), other_agent, "diagnosing")
    nossa_ticket()

    response = agent_client.get("/queues/mine/")

    assert rows_of(response) == [mine.pk]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("state=diagnosing", {"diagnosing"}),
        ("priority=1", {"critical"}),
        ("sla_status=breached", {"breached"}),
        ("assignee=none", {"waiting", "critical", "breached"}),
        ("assignee=me", {"diagnosing"}),
        ("open=false", {"closed"}),
        ("open=all", {"waiting", "critical", "breached", "diagnosing", "closed"}),
    ],
)
def test_queue_filters(agent_client, agent, query, expected):
    made = {
        "waiting": nossa_ticket(),
        "critical": nossa_ticket(priority=Priority.CRITICAL),
        "breached": nossa_ticket(),
        "diagnosing": in_state(nossa_ticket(), agent, "diagnosing"),
        "closed": in_state(nossa_ticket(), agent, "closed", closed_at=timezone.now()),
    }
    Ticket.objects.filter(pk=made["breached"].pk).update(sla_status=SlaStatus.BREACHED)

    response = agent_client.get(f"/queues/nossa/?{query}")

    assert set(rows_of(response)) == {made[name].pk for name in expected}


def test_supervisor_filters_by_site(client, supervisor):
    at_pusat = nossa_ticket()
    at_malang = factories.flow_ticket("c4_caring")
    client.force_login(supervisor)

    pusat = rows_of(client.get("/queues/all/?site=PST"))
    malang = rows_of(client.get("/queues/all/?site=MLG"))

    assert at_pusat.pk in pusat and at_malang.pk not in pusat
    assert malang == [at_malang.pk]


def test_text_search_finds_ticket_number_service_number_nossa_number_and_customer_name(
    agent_client,
):
    customer = Customer.objects.create(name="Ratna Hidayat", phone="081234567890")
    service = factories.ServiceFactory(customer=customer)
    wanted = nossa_ticket(service=service, nossa_number="IN16670001")
    nossa_ticket()

    for text in (wanted.number, service.service_number, "IN16670001", "ratna hid"):
        response = agent_client.get("/queues/nossa/", {"q": text})
        assert rows_of(response) == [wanted.pk], text


def test_pages_walk_every_ticket_once_with_next_and_previous_links(agent_client):
    made = [nossa_ticket(reported_at=timezone.now() - timedelta(minutes=n)) for n in range(53)]

    first = agent_client.get("/queues/nossa/?sort=oldest")
    page = first.context["page"]
    assert len(page.rows) == 50 and page.before is None
    assert f"after={page.after}" in first.content.decode()

    second = agent_client.get(f"/queues/nossa/?sort=oldest&after={page.after}")
    assert len(second.context["page"].rows) == 3
    seen = rows_of(first) + rows_of(second)
    assert sorted(seen) == sorted(ticket.pk for ticket in made)
    assert len(set(seen)) == 53

    back = agent_client.get(f"/queues/nossa/?sort=oldest&before={second.context['page'].before}")
    assert rows_of(back) == rows_of(first)


def test_htmx_refresh_returns_the_results_only_and_keeps_the_filter(agent_client):
    critical = nossa_ticket(priority=Priority.CRITICAL)
    nossa_ticket()

    response = agent_client.get(
        "/queues/nossa/?priority=1",
        headers={"HX-Request": "true", "HX-Target": "queue-results"},
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert rows_of(response) == [critical.pk]
    assert page.lstrip().startswith('<section id="queue-results"')
    assert 'hx-get="/queues/nossa/?priority=1"' in page  # the next refresh keeps the filter
    assert "<html" not in page


def test_bad_filter_values_are_ignored_and_said_not_crashed(agent_client):
    nossa_ticket()

    response = agent_client.get("/queues/nossa/?priority=9&sort=sideways&after=abc&open=maybe")

    assert response.status_code == 200
    assert len(rows_of(response)) == 1
    assert "not understood" in response.content.decode()


def test_queue_page_query_count_is_bounded(agent_client, agent, django_assert_max_num_queries):
    for index in range(30):
        ticket = nossa_ticket()
        if index % 3 == 0:
            in_state(ticket, agent, "diagnosing")

    with django_assert_max_num_queries(10):
        response = agent_client.get("/queues/nossa/?q=&sort=urgent")

    assert len(response.context["page"].rows) == 30


def test_next_ticket_takes_the_most_urgent_waiting_ticket_and_opens_it(agent_client, agent):
    nossa_ticket(reported_at=timezone.now() - timedelta(minutes=1))
    urgent = nossa_ticket(reported_at=timezone.now() - timedelta(minutes=20))

    response = agent_client.post("/next/")

    assert response.status_code == 302
    assert response["Location"] == f"/tickets/{urgent.pk}/"
    assert factories.reload(urgent).assignee == agent


def test_next_ticket_with_nothing_waiting_says_so_on_the_page(agent_client):
    response = agent_client.post("/next/", {"next": "/queues/nossa/"}, follow=True)

    assert response.redirect_chain[-1][0] == "/queues/nossa/"
    assert "No ticket is waiting in your queues." in response.content.decode()


def test_next_ticket_is_refused_to_support_with_a_message(client, support_user):
    client.force_login(support_user)

    response = client.post("/next/", follow=True)

    assert response.status_code == 200
    assert "Only agents take tickets from the queues." in response.content.decode()


def test_next_ticket_ignores_a_next_address_outside_the_site(agent_client):
    response = agent_client.post("/next/", {"next": "https://evil.example/"})

    assert response["Location"] == "/queues/"


def test_pages_need_login(client, db):
    for url in ("/queues/", "/queues/nossa/", "/tickets/1/", "/incidents/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_queue_filters_with_non_ascii_digits_or_huge_numbers_are_just_empty(client):
    from tickets.filtersets import TicketQueueFilter
    from tickets.models import Ticket

    for params in ({"assignee": "²"}, {"q": "T2-²"}, {"assignee": "99999999999999999999"}):
        assert list(TicketQueueFilter(params, queryset=Ticket.objects.all()).qs) == []


@pytest.mark.parametrize(
    ("scope", "hand"),
    [
        ("true", {"new": 2, "diagnosing": 1}),
        ("false", {"closed": 1}),
        ("all", {"new": 2, "diagnosing": 1, "closed": 1}),
    ],
)
def test_each_scope_counts_its_states(agent_client, agent, scope, hand):
    """Open tickets count under their open states, the closed one under "closed", in every
    scope of the page (`open=true`, `false`, `all`)."""
    nossa_ticket()
    nossa_ticket()
    in_state(nossa_ticket(), agent, "diagnosing")
    in_state(nossa_ticket(), agent, "closed", closed_at=timezone.now())

    response = agent_client.get("/queues/nossa/", {"open": scope})

    counts = {tab["code"]: tab["count"] for tab in response.context["state_tabs"]}
    assert counts == {state: str(n) for state, n in hand.items()}
    assert response.context["total"] == str(sum(hand.values()))


def test_closed_tickets_sorted_most_urgent_first_are_in_priority_then_number_order(
    agent_client, agent
):
    """Closed tickets have no running deadline: "most urgent" and "priority" list them by
    priority, then number, and the keyset page after the second one starts at the third."""
    made = {}
    for name, priority in (("a", 3), ("b", 1), ("c", 2), ("d", 1), ("e", 4)):
        made[name] = in_state(
            nossa_ticket(priority=priority), agent, "closed", closed_at=timezone.now()
        )
    nossa_ticket(priority=1)  # open: not in the closed scope
    hand = [made[name].pk for name in ("b", "d", "c", "a", "e")]

    for sort in ("urgent", "priority"):
        response = agent_client.get(f"/queues/nossa/?open=false&sort={sort}")
        assert rows_of(response) == hand, sort
        later = agent_client.get(f"/queues/nossa/?open=false&sort={sort}&after={hand[1]}")
        assert rows_of(later) == hand[2:], sort


def test_a_state_outside_the_scope_lists_nothing(agent_client, agent):
    """ "closed" among open tickets, an open state among closed ones: empty (the view says so
    without a query the database would answer by walking every open ticket)."""
    in_state(nossa_ticket(), agent, "closed", closed_at=timezone.now())
    nossa_ticket()

    response = agent_client.get("/queues/nossa/?state=closed")  # the open scope by default

    assert rows_of(response) == []
    assert response.context["total"] == "0"
    assert rows_of(agent_client.get("/queues/nossa/?state=closed&open=false")) != []
    assert rows_of(agent_client.get("/queues/nossa/?state=new&open=false")) == []
