"""GET /troubleTicket and GET /troubleTicket/{id}: selection, paging, sorting, filters, errors,
what each role sees, and the cost of a page. Every successful body is checked against the
vendored TMF621 v5.0.1 document's `TroubleTicket_RES` schema (not a schema of ours)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from tests import factories
from tests.tmf.spec import assert_tmf_error, assert_trouble_ticket
from tickets import services
from tickets.api.tmf import resource
from tickets.models import AgentProfile, ContactOutcome, Ticket

pytestmark = pytest.mark.django_db

TICKETS = "/tmf-api/troubleTicket/v5/troubleTicket"


# --- Set-up ------------------------------------------------------------------------------------
def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def ids_of(response) -> list[int]:
    assert response.status_code == 200, response.json()
    for body in response.json():
        assert_trouble_ticket(body)
    return [int(body["id"]) for body in response.json()]


def system_client(*, site_code=None, flows=()):
    user = factories.role_user("System")
    if site_code or flows:
        AgentProfile.objects.create(
            user=user, site=factories.site(site_code) if site_code else None, flows=list(flows)
        )
    return User.objects.get(pk=user.pk)


@pytest.fixture
def supervisor():
    return factories.role_user("Supervisor")


@pytest.fixture
def floor():
    """Tickets at both sites: NOSSA, Callback and IVR Gamas at Pusat, NOSSA and C4 at Malang."""
    return {
        "pst_nossa": factories.flow_ticket(
            "nossa", site_code="PST", source_system="nossa", source_ref="IN10000001",
            nossa_number="IN10000001", summary="No internet",
        ),
        "pst_callback": factories.flow_ticket(
            "callback", site_code="PST", source_system="callback", source_ref="CB2600000001",
            priority=1,
        ),
        "pst_gamas": factories.flow_ticket(
            "gamas", site_code="PST", source_system="ivr", source_ref="IVR30000001", priority=2,
        ),
        "mlg_nossa": factories.flow_ticket(
            "nossa", site_code="MLG", source_system="nossa", source_ref="IN10000002",
            nossa_number="IN10000002", priority=4,
        ),
        "mlg_c4": factories.flow_ticket("c4_caring", site_code="MLG"),
    }  # fmt: skip


# --- Listing -----------------------------------------------------------------------------------
def test_a_supervisor_lists_every_ticket_newest_first_with_both_counts(supervisor, floor):
    response = client_for(supervisor).get(TICKETS)
    expected = sorted((t.pk for t in floor.values()), reverse=True)
    assert ids_of(response) == expected
    assert response["X-Total-Count"] == "5"
    assert response["X-Result-Count"] == "5"
    assert response["Content-Type"].startswith("application/json")


def test_fields_selects_top_level_attributes_and_always_keeps_id_href_and_type(supervisor, floor):
    response = client_for(supervisor).get(TICKETS, {"fields": "status,priority,note.text,nope"})
    for body in response.json():
        assert_trouble_ticket(body)
        assert set(body) == {"id", "href", "@type", "status", "priority", "note"}
        assert body["href"] == f"{TICKETS}/{body['id']}"


def test_without_fields_every_attribute_we_map_is_there(supervisor, floor):
    body = client_for(supervisor).get(f"{TICKETS}/{floor['pst_nossa'].pk}").json()
    assert_trouble_ticket(body)
    assert set(body) >= {
        "id", "href", "@type", "name", "description", "severity", "priority", "ticketType",
        "channel", "creationDate", "lastUpdate", "expectedResolutionDate", "status",
        "statusChangeReason", "statusChangeDate", "statusChangeHistory", "externalIdentifier",
        "note", "relatedEntity", "relatedParty", "troubleTicketRelationship",
        "troubleTicketCharacteristic",
    }  # fmt: skip


def test_offset_and_limit_page_through_the_tickets_without_overlap(supervisor, floor):
    client = client_for(supervisor)
    pages = []
    for offset in (0, 2, 4):
        response = client.get(TICKETS, {"offset": offset, "limit": 2, "fields": "id"})
        assert response["X-Total-Count"] == "5"
        assert response["X-Result-Count"] == str(len(response.json()))
        pages.append(ids_of(response))
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [pk for page in pages for pk in page] == sorted(
        (t.pk for t in floor.values()), reverse=True
    )


def test_an_offset_past_the_end_answers_an_empty_page_and_the_true_total(supervisor, floor):
    response = client_for(supervisor).get(TICKETS, {"offset": 10, "limit": 2})
    assert ids_of(response) == []
    assert (response["X-Total-Count"], response["X-Result-Count"]) == ("5", "0")


def test_limit_zero_answers_only_the_counts(supervisor, floor):
    response = client_for(supervisor).get(TICKETS, {"limit": 0})
    assert response.status_code == 200 and response.json() == []
    assert (response["X-Total-Count"], response["X-Result-Count"]) == ("5", "0")


def test_the_default_page_is_fifty_tickets(supervisor):
    for _ in range(51):
        factories.flow_ticket("ideas")
    response = client_for(supervisor).get(TICKETS, {"fields": "id"})
    assert (response["X-Total-Count"], response["X-Result-Count"]) == ("51", "50")


def _set_created(ticket, when):
    Ticket.objects.filter(pk=ticket.pk).update(created_at=when)


def test_sort_by_creation_date_either_way_with_ties_broken_by_id(supervisor, floor):
    base = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    order = ["mlg_c4", "pst_gamas", "pst_nossa", "mlg_nossa", "pst_callback"]
    for hours, name in enumerate(order):
        _set_created(floor[name], base + timedelta(hours=hours))
    _set_created(floor["pst_nossa"], base + timedelta(hours=1))  # ties with pst_gamas
    tie = sorted([floor["pst_gamas"].pk, floor["pst_nossa"].pk])
    client = client_for(supervisor)
    ascending = ids_of(client.get(TICKETS, {"sort": "creationDate"}))
    assert ascending == [floor["mlg_c4"].pk, *tie, floor["mlg_nossa"].pk, floor["pst_callback"].pk]
    descending = ids_of(client.get(TICKETS, {"sort": "-creationDate"}))
    assert descending == [
        floor["pst_callback"].pk, floor["mlg_nossa"].pk, *reversed(tie), floor["mlg_c4"].pk,
    ]  # fmt: skip


def test_sort_by_priority_puts_critical_first_then_the_second_key(supervisor, floor):
    response = client_for(supervisor).get(TICKETS, {"sort": "priority,-id", "fields": "priority"})
    assert [body["priority"] for body in response.json()] == [
        "Critical", "High", "Medium", "Medium", "Low",
    ]  # fmt: skip
    mediums = [int(b["id"]) for b in response.json() if b["priority"] == "Medium"]
    assert mediums == sorted(mediums, reverse=True)


@pytest.mark.parametrize(
    "key", ["lastUpdate", "-expectedResolutionDate", "severity", "-priority", "id", "-id"]
)
def test_every_documented_sort_key_answers(supervisor, floor, key):
    assert len(ids_of(client_for(supervisor).get(TICKETS, {"sort": key}))) == 5


# --- Filters -----------------------------------------------------------------------------------
def test_status_filters_by_tmf_status_over_the_sop_states(supervisor, floor):
    factories.put_in_state(floor["pst_nossa"], "diagnosing")
    factories.put_in_state(floor["mlg_nossa"], "linked_to_gamas")
    factories.put_in_state(floor["pst_callback"], "closed", closing_code="DUPLICATE")
    factories.put_in_state(floor["mlg_c4"], "closed", closing_code="CARED")
    client = client_for(supervisor)
    assert ids_of(client.get(TICKETS, {"status": "inProgress"})) == [floor["pst_nossa"].pk]
    assert ids_of(client.get(TICKETS, {"status": "held"})) == [floor["mlg_nossa"].pk]
    assert ids_of(client.get(TICKETS, {"status": "acknowledged"})) == [floor["pst_gamas"].pk]
    assert ids_of(client.get(TICKETS, {"status": "closed"})) == [floor["mlg_c4"].pk]
    assert ids_of(client.get(TICKETS, {"status": "rejected"})) == [floor["pst_callback"].pk]
    assert ids_of(client.get(TICKETS, {"status": "cancelled"})) == []
    both = ids_of(client.get(TICKETS, {"status": "closed,rejected", "sort": "id"}))
    assert both == sorted([floor["mlg_c4"].pk, floor["pst_callback"].pk])


@pytest.mark.parametrize("page", [{"limit": 0}, {"offset": 5}, {}])
def test_a_filter_nothing_can_match_answers_an_empty_list_on_any_page(supervisor, floor, page):
    response = client_for(supervisor).get(TICKETS, {"status": "cancelled", **page})
    assert ids_of(response) == []
    assert (response["X-Total-Count"], response["X-Result-Count"]) == ("0", "0")


def test_severity_and_priority_filter_on_the_ticket_priority(supervisor, floor):
    client = client_for(supervisor)
    assert ids_of(client.get(TICKETS, {"severity": "Critical"})) == [floor["pst_callback"].pk]
    assert ids_of(client.get(TICKETS, {"severity": "Major"})) == [floor["pst_gamas"].pk]
    minor = {floor[n].pk for n in ("pst_nossa", "mlg_nossa", "mlg_c4")}
    assert set(ids_of(client.get(TICKETS, {"severity": "Minor"}))) == minor
    assert ids_of(client.get(TICKETS, {"priority": "Low"})) == [floor["mlg_nossa"].pk]
    medium = {floor[n].pk for n in ("pst_nossa", "mlg_c4")}
    assert set(ids_of(client.get(TICKETS, {"priority": "Normal"}))) == medium
    assert set(ids_of(client.get(TICKETS, {"priority": "Medium,Critical"}))) == medium | {
        floor["pst_callback"].pk
    }


def test_ticket_type_filters_by_flow(supervisor, floor):
    response = client_for(supervisor).get(TICKETS, {"ticketType": "nossa"})
    assert set(ids_of(response)) == {floor["pst_nossa"].pk, floor["mlg_nossa"].pk}
    response = client_for(supervisor).get(TICKETS, {"ticketType": "c4_caring,gamas"})
    assert set(ids_of(response)) == {floor["mlg_c4"].pk, floor["pst_gamas"].pk}


def test_creation_date_ranges_and_equality(supervisor, floor):
    base = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    for days, name in enumerate(["pst_nossa", "pst_callback", "pst_gamas", "mlg_nossa", "mlg_c4"]):
        _set_created(floor[name], base + timedelta(days=days))
    client = client_for(supervisor)
    window = {"creationDate.gte": "2025-03-02T08:00:00Z", "creationDate.lt": "2025-03-04T08:00:00Z"}
    assert set(ids_of(client.get(TICKETS, window))) == {
        floor["pst_callback"].pk, floor["pst_gamas"].pk
    }  # fmt: skip
    after = ids_of(client.get(TICKETS, {"creationDate.gt": "2025-03-04T08:00:00Z"}))
    assert after == [floor["mlg_c4"].pk]
    before = ids_of(client.get(TICKETS, {"creationDate.lte": "2025-03-01T08:00:00Z"}))
    assert before == [floor["pst_nossa"].pk]
    same = ids_of(client.get(TICKETS, {"creationDate": "2025-03-03T15:00:00+07:00"}))
    assert same == [floor["pst_gamas"].pk]
    by_day = ids_of(client.get(TICKETS, {"creationDate.gte": "2025-03-05"}))
    assert by_day == [floor["mlg_c4"].pk]


def test_last_update_ranges(supervisor, floor):
    old = datetime(2024, 1, 1, tzinfo=UTC)
    Ticket.objects.exclude(pk=floor["pst_gamas"].pk).update(updated_at=old)
    response = client_for(supervisor).get(TICKETS, {"lastUpdate.gt": "2024-06-01T00:00:00Z"})
    assert ids_of(response) == [floor["pst_gamas"].pk]
    response = client_for(supervisor).get(TICKETS, {"lastUpdate.lte": "2024-01-01T00:00:00Z"})
    assert len(ids_of(response)) == 4


def test_external_identifier_finds_nossa_numbers_callback_records_and_ivr_calls(supervisor, floor):
    client = client_for(supervisor)
    for param in ("externalIdentifier.id", "externalIdentifier"):
        assert ids_of(client.get(TICKETS, {param: "IN10000002"})) == [floor["mlg_nossa"].pk]
    found = ids_of(client.get(TICKETS, {"externalIdentifier.id": "CB2600000001,IVR30000001"}))
    assert set(found) == {floor["pst_callback"].pk, floor["pst_gamas"].pk}
    assert ids_of(client.get(TICKETS, {"externalIdentifier.id": "IN99999999"})) == []


def test_channel_filters_by_source_system_and_console_means_none(supervisor, floor):
    client = client_for(supervisor)
    assert ids_of(client.get(TICKETS, {"channel.id": "ivr"})) == [floor["pst_gamas"].pk]
    assert ids_of(client.get(TICKETS, {"channel.id": "console"})) == [floor["mlg_c4"].pk]


def test_id_filter_and_filters_on_several_attributes_must_all_hold(supervisor, floor):
    wanted = f"{floor['pst_nossa'].pk},{floor['mlg_nossa'].pk},{floor['mlg_c4'].pk}"
    response = client_for(supervisor).get(TICKETS, {"id": wanted, "ticketType": "nossa",
                                                    "priority": "Low"})  # fmt: skip
    assert ids_of(response) == [floor["mlg_nossa"].pk]


# --- Bad requests: 400 in the Error shape, naming the parameter --------------------------------
@pytest.mark.parametrize(
    "params",
    [
        {"offset": "-1"},
        {"offset": "abc"},
        {"offset": "²"},
        {"offset": "99999999999999999999999"},
        {"limit": "1001"},
        {"limit": "1.5"},
        {"sort": "name"},
        {"sort": "-status"},
        {"sort": "ticketType"},
        {"sort": "statusChangeDate"},
        {"sort": ","},
        {"status": "open"},
        {"status": ""},
        {"severity": "High"},
        {"priority": "Urgent"},
        {"ticketType": "fault"},
        {"creationDate.gt": "yesterday"},
        {"creationDate": "2025-02-30"},
        {"lastUpdate.lt": "9999-12-31T23:59:59-14:00"},
        {"id": "1,x"},
        {"id": "1" * 19},
        {"externalIdentifier.id": "x" * 65},
        {"externalIdentifier.id": "IN1\x00"},
        {"channel.id": "ivr\x01x"},
        {"filter": "priority[?(@=='High')]"},
        {"before": "abc"},
        {"after": "abc"},
        {"name": "T2-0000001"},
    ],
    ids=lambda params: ",".join(f"{k}={v[:12]}" for k, v in params.items()),
)
def test_a_bad_query_parameter_is_400_naming_it(supervisor, floor, params):
    response = client_for(supervisor).get(TICKETS, params)
    assert_tmf_error(response, 400, *params)


def test_a_parameter_given_twice_is_400(supervisor, floor):
    response = client_for(supervisor).get(f"{TICKETS}?limit=1&limit=2")
    assert_tmf_error(response, 400, "limit")


# --- One ticket --------------------------------------------------------------------------------
def test_retrieve_answers_the_ticket_and_honours_fields(supervisor, floor):
    ticket = floor["pst_gamas"]
    client = client_for(supervisor)
    body = assert_trouble_ticket(client.get(f"{TICKETS}/{ticket.pk}").json())
    assert (body["id"], body["ticketType"], body["status"]) == (str(ticket.pk), "gamas",
                                                                "acknowledged")  # fmt: skip
    body = client.get(f"{TICKETS}/{ticket.pk}", {"fields": "status"}).json()
    assert body == {"id": str(ticket.pk), "href": f"{TICKETS}/{ticket.pk}",
                    "@type": "TroubleTicket", "status": "acknowledged"}  # fmt: skip


@pytest.mark.parametrize("key", ["abc", "0", "999999999", "1e3", "%C2%B2", "9" * 40, "-1"])
def test_a_malformed_or_unknown_id_is_404_in_the_error_shape(supervisor, floor, key):
    assert_tmf_error(client_for(supervisor).get(f"{TICKETS}/{key}"), 404)


def test_retrieve_refuses_other_parameters(supervisor, floor):
    response = client_for(supervisor).get(f"{TICKETS}/{floor['pst_nossa'].pk}", {"limit": "3"})
    assert_tmf_error(response, 400, "limit")


# --- Who sees what -----------------------------------------------------------------------------
def test_an_agent_of_pusat_never_sees_malang_tickets_or_their_customers(floor):
    agent = factories.agent(site_code="PST", flows=["nossa", "callback"], username="agent-pst")
    client = client_for(agent)
    response = client.get(TICKETS, {"fields": "relatedParty"})
    assert set(ids_of(response)) == {floor["pst_nossa"].pk, floor["pst_callback"].pk}
    malang_customers = {str(floor[n].service.customer_id) for n in ("mlg_nossa", "mlg_c4")}
    seen = {
        party["partyOrPartyRole"]["id"]
        for body in response.json()
        for party in body["relatedParty"]
    }
    assert not seen & malang_customers
    for name in ("mlg_nossa", "mlg_c4", "pst_gamas"):  # other site, or a flow they do not work
        assert_tmf_error(client.get(f"{TICKETS}/{floor[name].pk}"), 404)
    found = client.get(TICKETS, {"externalIdentifier.id": "IN10000002"})
    assert ids_of(found) == []


def test_a_system_client_is_scoped_by_its_profile_site_and_flows(floor):
    everything = client_for(system_client())
    assert len(ids_of(everything.get(TICKETS))) == 5
    malang = client_for(system_client(site_code="MLG"))
    assert set(ids_of(malang.get(TICKETS))) == {floor["mlg_nossa"].pk, floor["mlg_c4"].pk}
    assert_tmf_error(malang.get(f"{TICKETS}/{floor['pst_nossa'].pk}"), 404)
    nossa_only = client_for(system_client(flows=["nossa"]))
    assert set(ids_of(nossa_only.get(TICKETS))) == {floor["pst_nossa"].pk, floor["mlg_nossa"].pk}


def test_an_agent_with_no_site_sees_nothing_on_any_page(floor):
    agent = factories.user("Agent", username="no-site")
    for page in ({}, {"limit": 0}, {"offset": 3}):
        response = client_for(agent).get(TICKETS, page)
        assert ids_of(response) == []
        assert response["X-Total-Count"] == "0"


def test_a_user_with_no_role_gets_403_and_anonymous_401(floor):
    nobody = User.objects.create_user(username="nobody", password="secret-pass-123")
    assert_tmf_error_plain(client_for(nobody).get(TICKETS), 403)
    assert_tmf_error_plain(APIClient().get(f"{TICKETS}/{floor['pst_nossa'].pk}"), 401)


def assert_tmf_error_plain(response, status):
    body = response.json()
    assert response.status_code == status, body
    assert body["@type"] == "Error" and body["status"] == str(status)


def _phone(body) -> str:
    found = [c["value"] for c in body["troubleTicketCharacteristic"] if c["name"] == "contactPhone"]
    return found[0]


def test_the_phone_is_masked_for_an_agent_who_does_not_hold_the_ticket(floor):
    ticket = floor["pst_nossa"]
    phone = ticket.service.customer.phone  # 12 digits from the factory: 08123nnnnnnn
    holder = factories.agent(site_code="PST", flows=["nossa"], username="holder")
    other = factories.agent(site_code="PST", flows=["nossa"], username="other")
    url, fields = f"{TICKETS}/{ticket.pk}", {"fields": "troubleTicketCharacteristic"}
    masked = phone[:4] + "****" + phone[-4:]
    assert _phone(client_for(holder).get(url, fields).json()) == masked
    services.claim_ticket(ticket_id=ticket.pk, agent=holder)
    assert _phone(client_for(holder).get(url, fields).json()) == phone
    assert _phone(client_for(other).get(url, fields).json()) == masked
    assert _phone(client_for(system_client()).get(url, fields).json()) == phone


def test_a_system_client_sees_the_agent_by_agent_code_and_staff_by_name(floor, supervisor):
    ticket = floor["pst_nossa"]
    agent = factories.agent(site_code="PST", flows=["nossa"], username="ayu")
    User.objects.filter(pk=agent.pk).update(first_name="Ayu", last_name="Lestari")
    AgentProfile.objects.filter(user=agent).update(agent_code="PST-017")
    services.claim_ticket(ticket_id=ticket.pk, agent=agent)

    def assignee(user):
        body = client_for(user).get(f"{TICKETS}/{ticket.pk}", {"fields": "relatedParty"}).json()
        found = [p for p in body["relatedParty"] if p["role"] == "assignee"]
        return found[0]["partyOrPartyRole"]

    assert assignee(supervisor)["name"] == "Ayu Lestari"
    seen_by_system = assignee(system_client())
    assert (seen_by_system["id"], seen_by_system["name"]) == (str(agent.pk), "PST-017")


# --- Cost ----------------------------------------------------------------------------------------
def _busy_tickets(count: int, agent):
    for _ in range(count):
        ticket = factories.flow_ticket("nossa", site_code="PST")
        services.claim_ticket(ticket_id=ticket.pk, agent=agent)
        services.add_note(ticket_id=ticket.pk, author=agent, text="Checked the ONT")
        services.record_contact_attempt(
            ticket_id=ticket.pk, agent=agent, outcome=ContactOutcome.NO_ANSWER
        )


@pytest.mark.parametrize("role", ["Supervisor", "Agent"])
def test_a_page_costs_a_fixed_number_of_queries_however_many_tickets(
    role, django_assert_max_num_queries
):
    """Every attribute of every ticket: joins and one query per list, never one per ticket.
    The same bound holds for 3 tickets and for 30 (the count is skipped on a last page, so
    the second request asks for a full page of 30 out of 31)."""
    agent = factories.agent(site_code="PST", flows=["nossa"], username="busy")
    viewer = agent if role == "Agent" else factories.role_user(role)
    client = client_for(viewer)
    _busy_tickets(3, agent)
    client.get(TICKETS, {"limit": 1})  # the viewer's permissions and profile, cached
    with django_assert_max_num_queries(9):
        assert len(ids_of(client.get(TICKETS, {"limit": 2}))) == 2
    _busy_tickets(28, agent)
    with django_assert_max_num_queries(9):
        response = client.get(TICKETS, {"limit": 30})
        assert len(ids_of(response)) == 30
    assert response["X-Total-Count"] == "31"
    for body in response.json():
        assert len(body["note"]) == 2 and len(body["statusChangeHistory"]) == 2


def test_a_big_count_is_reused_while_paging_and_a_small_one_is_exact(
    supervisor, floor, monkeypatch, settings
):
    from django.core.cache import cache

    cache.clear()
    client = client_for(supervisor)
    settings.TIER2_TMF_COUNT_CACHE_SECONDS = 60
    monkeypatch.setattr(resource, "BIG_COUNT", 5)
    assert client.get(TICKETS, {"limit": 1})["X-Total-Count"] == "5"
    factories.flow_ticket("ideas")
    assert client.get(TICKETS, {"limit": 1})["X-Total-Count"] == "5"  # reused: 5 is "big"
    assert client.get(TICKETS, {"limit": 1, "ticketType": "ideas"})["X-Total-Count"] == "1"
    settings.TIER2_TMF_COUNT_CACHE_SECONDS = 0
    assert client.get(TICKETS, {"limit": 1})["X-Total-Count"] == "6"
    cache.clear()
