"""Who sees what: every role against every resource, from a table written by hand.

The table is the requirement (docs/security-matrix.md holds the same one):

- an agent sees a customer or a service only through a ticket they may see (their flows at
  their site); another one answers 404, exactly like an id that does not exist;
- the gamas incident pages and the incidents API are for supervisors, Support and admins;
- the call-list page and the Callback record form are for supervisors and admins;
- an agent reads a customer's phone number in full only on the ticket they hold; everywhere
  else it is masked (first four and last four digits kept). Other roles read it in full.

Every cell names the objects of one Pusat NOSSA ticket; the Malang agent (NOSSA too) shows the
other site. Outcomes: `visible` (200 and the object is there), `hidden` (200 and it is not
listed), `404`, `403`, `401` (API without credentials), `login` (console: to the login page),
`full` / `masked` (the phone number as shown on the ticket, in the API and on the page).
"""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests import factories
from tickets import services

pytestmark = pytest.mark.django_db

ROLES = (
    "agent_pst",
    "agent_mlg",
    "supervisor",
    "support",
    "admin",
    "anonymous",
    "system",
    "system_mlg",
)

# resource -> outcome per role, in the order of ROLES. Written from the requirement.
MATRIX = {
    "customers list": ("visible", "hidden", "visible", "visible", "visible", "401", "403", "403"),
    "customer detail": ("visible", "404", "visible", "visible", "visible", "401", "403", "403"),
    "services list": ("visible", "hidden", "visible", "visible", "visible", "401", "403", "403"),
    "service detail": ("visible", "404", "visible", "visible", "visible", "401", "403", "403"),
    "tickets list": ("visible", "hidden", "visible", "visible", "visible", "401", "403", "403"),
    "ticket detail": ("visible", "403", "visible", "visible", "visible", "401", "403", "403"),
    "incidents page": ("403", "403", "visible", "visible", "visible", "login", "403", "403"),
    "incident detail page": ("403", "403", "visible", "visible", "visible", "login", "403", "403"),
    "call lists page": ("403", "403", "visible", "403", "visible", "login", "403", "403"),
    "Callback record form": ("403", "403", "visible", "403", "visible", "login", "403", "403"),
    "API incidents": ("403", "403", "visible", "visible", "visible", "401", "403", "403"),
    "API incident detail": ("403", "403", "visible", "visible", "visible", "401", "403", "403"),
    "phone on a held ticket": ("full", "403", "full", "full", "full", "401", "403", "403"),
    "phone on another ticket of the same queue": (
        "masked",
        "403",
        "full",
        "full",
        "full",
        "401",
        "403",
        "403",
    ),
    "TMF tickets list": (
        "visible",
        "hidden",
        "visible",
        "visible",
        "visible",
        "401",
        "visible",
        "hidden",
    ),
    "TMF ticket detail": (
        "visible",
        "404",
        "visible",
        "visible",
        "visible",
        "401",
        "visible",
        "404",
    ),
}

TMF_TICKETS = "/tmf-api/troubleTicket/v5/troubleTicket"
HELD_PHONE, HELD_MASKED = "081111112222", "0811****2222"
QUEUE_PHONE, QUEUE_MASKED = "081234567890", "0812****7890"
MALANG_PHONE = "085566667777"


def customer_at(site_code: str, phone: str):
    customer = factories.CustomerFactory(phone=phone)
    return factories.service_at(site_code, customer=customer)


@pytest.fixture
def world(db):
    """Two agents (Pusat and Malang, both NOSSA), the staff roles, and three NOSSA tickets:
    one the Pusat agent holds, one waiting in the same Pusat queue, one at Malang."""
    people = {
        "agent_pst": factories.agent(site_code="PST", flows=("nossa",), username="agent.pst"),
        "agent_mlg": factories.agent(site_code="MLG", flows=("nossa",), username="agent.mlg"),
        "supervisor": factories.role_user("Supervisor"),
        "support": factories.role_user("Support"),
        "admin": factories.role_user("Admin"),
        "anonymous": None,
        # System clients of the TMF621 API: the CRM (every ticket) and a partner of Malang.
        "system": factories.role_user("System"),
        "system_mlg": factories.user("System", username="partner.mlg", site_code="MLG"),
    }
    held = factories.arrive("nossa", service=customer_at("PST", HELD_PHONE))
    services.claim_ticket(ticket_id=held.pk, agent=people["agent_pst"])
    queued = factories.arrive("nossa", service=customer_at("PST", QUEUE_PHONE))
    malang = factories.arrive("nossa", service=customer_at("MLG", MALANG_PHONE))
    assert (held.site.code, queued.site.code, malang.site.code) == ("PST", "PST", "MLG")
    incident = factories.open_gamas(actor=people["supervisor"])
    return {
        "people": people,
        "held": factories.reload(held),
        "queued": queued,
        "malang": malang,
        "incident": incident,
    }


def api_client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def console_client(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def listed(response, wanted: int) -> str:
    if response.status_code != 200:
        return str(response.status_code)
    return "visible" if wanted in [row["id"] for row in response.json()["results"]] else "hidden"


def shown(response) -> str:
    return "visible" if response.status_code == 200 else str(response.status_code)


def page(response) -> str:
    if response.status_code == 302 and response["Location"].startswith("/login/"):
        return "login"
    return "visible" if response.status_code == 200 else str(response.status_code)


def phone_on(user, ticket, full: str, masked: str) -> str:
    """How the ticket's customer phone reaches `user`, through the API and on the workspace;
    both must agree."""
    api = api_client(user).get(f"/api/tickets/{ticket.pk}/")
    console = console_client(user).get(f"/tickets/{ticket.pk}/")
    if api.status_code != 200:
        assert page(console) == ("login" if api.status_code == 401 else str(api.status_code))
        return str(api.status_code)
    number = api.json()["service"]["customer"]["phone"]
    html = console.content.decode()
    if number == full:
        assert full in html
        return "full"
    assert number == masked, number
    assert masked in html and full not in html
    return "masked"


def outcome(resource: str, world, user) -> str:
    ticket = world["queued"]
    service, customer = ticket.service, ticket.service.customer
    incident = world["incident"]
    if resource == "customers list":
        return listed(api_client(user).get("/api/customers/"), customer.pk)
    if resource == "customer detail":
        return shown(api_client(user).get(f"/api/customers/{customer.pk}/"))
    if resource == "services list":
        return listed(api_client(user).get("/api/services/"), service.pk)
    if resource == "service detail":
        return shown(api_client(user).get(f"/api/services/{service.pk}/"))
    if resource == "tickets list":
        return listed(api_client(user).get("/api/tickets/"), ticket.pk)
    if resource == "ticket detail":
        return shown(api_client(user).get(f"/api/tickets/{ticket.pk}/"))
    if resource == "incidents page":
        return page(console_client(user).get("/incidents/"))
    if resource == "incident detail page":
        return page(console_client(user).get(f"/incidents/{incident.pk}/"))
    if resource == "call lists page":
        return page(console_client(user).get("/supervisor/imports/"))
    if resource == "Callback record form":
        return page(console_client(user).get("/supervisor/callback-records/new/"))
    if resource == "API incidents":
        return listed(api_client(user).get("/api/gamas-incidents/"), incident.pk)
    if resource == "API incident detail":
        return shown(api_client(user).get(f"/api/gamas-incidents/{incident.pk}/"))
    if resource == "phone on a held ticket":
        return phone_on(user, world["held"], HELD_PHONE, HELD_MASKED)
    if resource == "phone on another ticket of the same queue":
        return phone_on(user, ticket, QUEUE_PHONE, QUEUE_MASKED)
    if resource == "TMF tickets list":
        response = api_client(user).get(TMF_TICKETS, {"limit": 1000})
        if response.status_code != 200:
            return str(response.status_code)
        return "visible" if str(ticket.pk) in [row["id"] for row in response.json()] else "hidden"
    if resource == "TMF ticket detail":
        return shown(api_client(user).get(f"{TMF_TICKETS}/{ticket.pk}"))
    raise AssertionError(resource)


CASES = [
    pytest.param(resource, role, expected, id=f"{resource}-{role}")
    for resource, row in MATRIX.items()
    for role, expected in zip(ROLES, row, strict=True)
]


@pytest.mark.parametrize(("resource", "role", "expected"), CASES)
def test_who_sees_what(world, resource, role, expected):
    assert outcome(resource, world, world["people"][role]) == expected


def test_the_matrix_covers_every_role_and_resource():
    assert all(len(row) == len(ROLES) for row in MATRIX.values())
    assert len(MATRIX) * len(ROLES) == len(CASES) == 128


# --- Customers and services: the agent's slice ------------------------------------------------
def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_an_agent_lists_exactly_the_customers_and_services_of_their_tickets(world):
    other_flow = factories.arrive("callback", service=customer_at("PST", "081300001111"))
    no_ticket = customer_at("PST", "081300002222")
    client = api_client(world["people"]["agent_pst"])
    pusat = [world["held"], world["queued"]]

    assert ids(client.get("/api/customers/")) == {t.service.customer_id for t in pusat}
    assert ids(client.get("/api/services/")) == {t.service_id for t in pusat}
    for hidden in (world["malang"].service, other_flow.service, no_ticket):
        assert client.get(f"/api/services/{hidden.pk}/").status_code == 404
        assert client.get(f"/api/customers/{hidden.customer_id}/").status_code == 404
    assert client.get("/api/customers/999999/").status_code == 404  # the same answer


def test_filters_and_search_find_nothing_outside_the_agents_tickets(world):
    malang = world["malang"].service
    client = api_client(world["people"]["agent_mlg"])
    pusat = world["queued"].service

    assert ids(client.get("/api/customers/", {"q": pusat.customer.name})) == set()
    assert ids(client.get("/api/customers/", {"q": QUEUE_PHONE})) == set()
    assert ids(client.get("/api/customers/", {"q": MALANG_PHONE})) == {malang.customer_id}
    assert ids(client.get("/api/services/", {"service_number": pusat.service_number})) == set()
    assert ids(client.get("/api/services/", {"odp": malang.odp})) == {malang.pk}
    # Another site's customer id is refused like an unknown one (no hint that it exists).
    for customer_id in (pusat.customer_id, 999999):
        refused = client.get("/api/services/", {"customer": customer_id})
        assert refused.status_code == 400
        assert "customer" in refused.json()["errors"]
    assert ids(client.get("/api/services/", {"customer": malang.customer_id})) == {malang.pk}


def test_a_customers_nested_services_are_only_those_the_agent_may_see(world):
    customer = world["queued"].service.customer
    second_line = factories.service_at("MLG", customer=customer)
    factories.arrive("nossa", service=second_line)  # a Malang ticket of the same customer

    pusat = api_client(world["people"]["agent_pst"]).get(f"/api/customers/{customer.pk}/")
    malang = api_client(world["people"]["agent_mlg"]).get(f"/api/customers/{customer.pk}/")
    staff = api_client(world["people"]["support"]).get(f"/api/customers/{customer.pk}/")

    assert [row["id"] for row in pusat.json()["services"]] == [world["queued"].service_id]
    assert [row["id"] for row in malang.json()["services"]] == [second_line.pk]
    assert {row["id"] for row in staff.json()["services"]} == {
        world["queued"].service_id,
        second_line.pk,
    }


def test_an_agent_without_a_profile_sees_no_customer(world):
    stray = factories.user("Agent", username="agent.noprofile")
    assert ids(api_client(stray).get("/api/customers/")) == set()
    assert ids(api_client(stray).get("/api/services/")) == set()


@pytest.mark.parametrize("resource", ["customers", "services"])
def test_a_page_of_fifty_costs_a_fixed_number_of_queries(
    world, resource, django_assert_max_num_queries
):
    for n in range(55):
        factories.arrive("nossa", service=customer_at("PST", f"0813{n:08d}"))
        factories.arrive("nossa", service=customer_at("MLG", f"0814{n:08d}"))
    client = api_client(world["people"]["agent_pst"])
    client.get(f"/api/{resource}/")  # warm the user's permission cache as a session would

    with django_assert_max_num_queries(3):
        response = client.get(f"/api/{resource}/", {"page_size": 50})

    assert len(response.json()["results"]) == 50
    assert response.json()["next"]


# --- Phone numbers ----------------------------------------------------------------------------
def phones(response) -> list[str]:
    rows = response.json()["results"]
    return [row.get("phone") or row["customer"]["phone"] for row in rows]


def test_agents_read_customer_and_service_phones_masked_staff_in_full(world):
    queued = world["queued"].service
    agent = api_client(world["people"]["agent_pst"])
    supervisor = api_client(world["people"]["supervisor"])

    # Even the customer of the ticket the agent holds: not "on the ticket" here.
    assert sorted(phones(agent.get("/api/customers/"))) == sorted([HELD_MASKED, QUEUE_MASKED])
    assert agent.get(f"/api/services/{queued.pk}/").json()["customer"]["phone"] == QUEUE_MASKED
    assert QUEUE_PHONE in phones(supervisor.get("/api/customers/"))
    assert supervisor.get(f"/api/services/{queued.pk}/").json()["customer"]["phone"] == (
        QUEUE_PHONE
    )


def test_contact_attempts_show_the_number_to_the_holder_masked_to_colleagues(world):
    holder = world["people"]["agent_pst"]
    colleague = factories.agent(site_code="PST", flows=("nossa",), username="agent.pst2")
    url = f"/api/tickets/{world['held'].pk}/contact-attempts/"

    made = api_client(holder).post(url, {"outcome": "no_answer"})
    assert made.status_code == 201 and made.json()["phone"] == HELD_PHONE

    assert [row["phone"] for row in api_client(holder).get(url).json()] == [HELD_PHONE]
    assert [row["phone"] for row in api_client(colleague).get(url).json()] == [HELD_MASKED]
    support = api_client(world["people"]["support"]).get(url).json()
    assert [row["phone"] for row in support] == [HELD_PHONE]


def test_the_isiska_number_in_facts_calls_and_the_panel_is_masked_for_other_agents(world):
    ticket = factories.set_facts(
        world["queued"], isiska={"customer_name": "Ratna", "phone": QUEUE_PHONE, "has_phone": True}
    )
    from integrations.models import AdapterCall

    call = AdapterCall.objects.create(
        ticket=ticket,
        app="isiska",
        operation="customer_profile",
        idempotency_key="scoping-test-isiska",
        status="succeeded",
        response={"phone": QUEUE_PHONE, "has_phone": True},
    )
    agent = world["people"]["agent_pst"]

    detail = api_client(agent).get(f"/api/tickets/{ticket.pk}/").json()
    assert detail["facts"]["isiska"] == {
        "customer_name": "Ratna",
        "phone": QUEUE_MASKED,
        "has_phone": True,
    }
    calls = api_client(agent).get(f"/api/tickets/{ticket.pk}/calls/").json()
    assert [row["response"] for row in calls if row["id"] == call.pk] == [
        {"phone": QUEUE_MASKED, "has_phone": True}
    ]
    assert api_client(agent).get(f"/api/calls/{call.pk}/").json()["response"]["phone"] == (
        QUEUE_MASKED
    )
    panel = console_client(agent).get(f"/tickets/{ticket.pk}/panel/").content.decode()
    assert QUEUE_MASKED in panel and QUEUE_PHONE not in panel
    workspace = console_client(agent).get(f"/tickets/{ticket.pk}/").content.decode()
    assert QUEUE_PHONE not in workspace

    supervisor = api_client(world["people"]["supervisor"])
    assert supervisor.get(f"/api/tickets/{ticket.pk}/").json()["facts"]["isiska"]["phone"] == (
        QUEUE_PHONE
    )
    staff_panel = console_client(world["people"]["supervisor"]).get(f"/tickets/{ticket.pk}/panel/")
    assert QUEUE_PHONE in staff_panel.content.decode()


def test_a_colleagues_held_ticket_shows_the_number_masked(world):
    colleague = factories.agent(site_code="PST", flows=("nossa",), username="agent.pst3")
    held = world["held"]
    page_html = console_client(colleague).get(f"/tickets/{held.pk}/").content.decode()
    assert HELD_MASKED in page_html and HELD_PHONE not in page_html


# --- Incidents in the console ---------------------------------------------------------------
def nav_links(user) -> str:
    return console_client(user).get("/").content.decode()


@pytest.mark.parametrize(
    ("role", "has_link"),
    [
        ("agent_pst", False),
        ("agent_mlg", False),
        ("supervisor", True),
        ("support", True),
        ("admin", True),
    ],
)
def test_the_nav_shows_the_gamas_link_to_incident_staff_only(world, role, has_link):
    html = nav_links(world["people"][role])
    nav = html[html.index("<nav") : html.index("</nav>")]
    assert ('href="/incidents/"' in nav) is has_link


REFUSAL = "The gamas incidents are for supervisors, Support and admins."


def test_every_incident_page_refuses_agents_with_the_403_page(world):
    agent = console_client(world["people"]["agent_pst"])
    pk = world["incident"].pk
    for method, url in [
        ("get", "/incidents/"),
        ("get", f"/incidents/{pk}/"),
        ("post", "/incidents/new/"),
        ("post", f"/incidents/{pk}/actions/recover/"),
        ("post", f"/incidents/{pk}/bulk/"),
    ]:
        response = getattr(agent, method)(url)
        assert response.status_code == 403, url
        assert REFUSAL in response.content.decode(), url


def test_an_agent_links_a_report_through_the_api_from_the_offered_incidents(world):
    gamas_agent = factories.agent_for("gamas")
    report = factories.flow_ticket("gamas")
    services.claim_ticket(ticket_id=report.pk, agent=gamas_agent)
    client = api_client(gamas_agent)

    options = client.get(f"/api/tickets/{report.pk}/transitions/").json()
    (link,) = [option for option in options if option["name"] == "link"]
    (incident_input,) = [spec for spec in link["inputs"] if spec["kind"] == "incident"]
    assert [choice["value"] for choice in incident_input["choices"]] == [str(world["incident"].pk)]
    assert client.get("/api/gamas-incidents/").status_code == 403
