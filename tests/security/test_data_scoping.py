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
`full` / `masked` (the phone number as shown on the ticket, in the API and on the page), `done`
and `refused` (a write made, or refused by its service with a message on the console's page).

Every page and endpoint of the URLconf has a row, and the table here is the document's, cell for
cell (the tests at the end of the matrix part). How each row is requested: `matrix.py`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.db import transaction
from django.test import override_settings
from django.urls import URLResolver, get_resolver

from tests import factories
from tickets import services

from .matrix import (
    PROBES,
    TMF_TICKETS,
    api_client,
    console_client,
    fresh,
    listed,
    page,
    probe,
    shown,
)

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
    # One ticket's objects
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
    # Console: the queues and the ticket
    "home page": (
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
        "login",
        "visible",
        "visible",
    ),
    "flow diagrams": (
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
    ),
    "queues page": ("visible", "visible", "visible", "visible", "visible", "login", "403", "403"),
    "NOSSA queue": ("visible", "hidden", "visible", "visible", "visible", "login", "403", "403"),
    "Next ticket": ("done", "done", "refused", "refused", "refused", "login", "refused", "refused"),
    "ticket workspace": ("visible", "403", "visible", "visible", "visible", "login", "403", "403"),
    "take a ticket": (
        "done",
        "refused",
        "refused",
        "refused",
        "refused",
        "login",
        "refused",
        "refused",
    ),
    "a step of the ticket's flow": (
        "done",
        "refused",
        "refused",
        "refused",
        "refused",
        "login",
        "refused",
        "refused",
    ),
    "record a call to the customer": (
        "done",
        "refused",
        "refused",
        "refused",
        "refused",
        "login",
        "refused",
        "refused",
    ),
    "add a note": ("done", "refused", "done", "done", "done", "login", "refused", "refused"),
    "send a failed call again": (
        "done",
        "refused",
        "done",
        "done",
        "done",
        "login",
        "refused",
        "refused",
    ),
    "customer panel": ("visible", "403", "visible", "visible", "visible", "login", "403", "403"),
    "refresh the customer panel": (
        "done",
        "refused",
        "done",
        "done",
        "done",
        "login",
        "refused",
        "refused",
    ),
    "knowledge articles": (
        "visible",
        "403",
        "visible",
        "visible",
        "visible",
        "login",
        "403",
        "403",
    ),
    "the customer's message wishes": ("done", "403", "done", "done", "done", "login", "403", "403"),
    "availability in the top bar": (
        "done",
        "done",
        "refused",
        "refused",
        "refused",
        "login",
        "refused",
        "refused",
    ),
    "accept an offer": (
        "done",
        "refused",
        "refused",
        "refused",
        "refused",
        "login",
        "refused",
        "refused",
    ),
    "decline an offer": (
        "done",
        "refused",
        "refused",
        "refused",
        "refused",
        "login",
        "refused",
        "refused",
    ),
    "notifications page": (
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
        "login",
        "visible",
        "visible",
    ),
    "mark notifications read": ("done", "done", "done", "done", "done", "login", "done", "done"),
    "a notification of agent PST as a toast": (
        "visible",
        "404",
        "404",
        "404",
        "404",
        "login",
        "404",
        "404",
    ),
    # Console: gamas incidents
    "open an incident": ("403", "403", "done", "done", "done", "login", "403", "403"),
    "recover an incident": ("403", "403", "done", "done", "done", "login", "403", "403"),
    "assign an incident's reports together": (
        "403",
        "403",
        "done",
        "refused",
        "done",
        "login",
        "403",
        "403",
    ),
    "Inform customers": ("403", "403", "done", "done", "done", "login", "403", "403"),
    # Console: supervisors, Support and admins
    "supervisor dashboard": ("403", "403", "visible", "403", "visible", "login", "403", "403"),
    "dashboard's live part": ("403", "403", "visible", "403", "visible", "login", "403", "403"),
    "release a held ticket": ("403", "403", "done", "403", "done", "login", "403", "403"),
    "reassign a held ticket": ("403", "403", "done", "403", "done", "login", "403", "403"),
    "pin a waiting ticket": ("403", "403", "done", "403", "done", "login", "403", "403"),
    "SLG list": ("403", "403", "visible", "403", "visible", "login", "403", "403"),
    "agents and dispatch page": ("403", "403", "visible", "403", "visible", "login", "403", "403"),
    "change an agent's availability and capacity": (
        "403",
        "403",
        "done",
        "403",
        "done",
        "login",
        "403",
        "403",
    ),
    "CSV export": ("403", "403", "visible", "403", "visible", "login", "403", "403"),
    "CSV export of the tickets that arrived": (
        "403",
        "403",
        "visible",
        "403",
        "visible",
        "login",
        "403",
        "403",
    ),
    "a call list's page": ("403", "403", "visible", "403", "visible", "login", "403", "403"),
    "a call list's progress": ("403", "403", "visible", "403", "visible", "login", "403", "403"),
    "cancel a call list": ("403", "403", "done", "403", "done", "login", "403", "403"),
    "escalation desk": ("403", "403", "visible", "visible", "visible", "login", "403", "403"),
    "an escalation's page": ("403", "403", "visible", "visible", "visible", "login", "403", "403"),
    "take an escalation": ("403", "403", "refused", "done", "refused", "login", "403", "403"),
    "hand an escalation over": ("403", "403", "done", "done", "done", "login", "403", "403"),
    "answer an escalation": ("403", "403", "refused", "done", "refused", "login", "403", "403"),
    "resolve an escalation": ("403", "403", "refused", "done", "refused", "login", "403", "403"),
    "SLA policies page": ("403", "403", "403", "403", "visible", "login", "403", "403"),
    "an SLA policy's form": ("403", "403", "403", "403", "visible", "login", "403", "403"),
    "reset an SLA policy": ("403", "403", "403", "403", "done", "login", "403", "403"),
    "message templates page": ("403", "403", "403", "403", "visible", "login", "403", "403"),
    "new message template form": ("403", "403", "403", "403", "visible", "login", "403", "403"),
    "add a message template": ("403", "403", "403", "403", "done", "login", "403", "403"),
    "a message template's form": ("403", "403", "403", "403", "visible", "login", "403", "403"),
    "change a message template": ("403", "403", "403", "403", "done", "login", "403", "403"),
    # Signing in
    "sign-in page": (
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
    ),
    "sign out": ("done", "done", "done", "done", "done", "done", "done", "done"),
    "language switch": ("done", "done", "done", "done", "done", "done", "done", "done"),
    "two-factor page": (
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
        "login",
        "visible",
        "visible",
    ),
    "two-factor enrolment": (
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
        "login",
        "visible",
        "visible",
    ),
    "two-factor code": (
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
        "login",
        "visible",
        "visible",
    ),
    "new recovery codes": ("done", "done", "done", "done", "done", "login", "done", "done"),
    "remove two-factor sign-in": ("done", "done", "done", "done", "done", "login", "done", "done"),
    "admin site": ("login", "login", "login", "login", "login", "login", "login", "login"),
    # The console's API
    "API root": (
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
    ),
    "API token": ("done", "done", "done", "done", "done", "400", "done", "done"),
    "OpenAPI schema": (
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
    ),
    "API docs": (
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
    ),
    "SMS receipts webhook": ("401",) * 8,
    "WhatsApp receipts webhook": ("401",) * 8,
    "API Next ticket": ("done", "done", "403", "403", "403", "401", "403", "403"),
    "API available transitions": (
        "visible",
        "403",
        "visible",
        "visible",
        "visible",
        "401",
        "403",
        "403",
    ),
    "API take a transition": ("done", "403", "403", "403", "403", "401", "403", "403"),
    "API claim": ("done", "403", "403", "403", "403", "401", "403", "403"),
    "API release": ("403", "403", "done", "403", "done", "401", "403", "403"),
    "API reassign": ("403", "403", "done", "403", "done", "401", "403", "403"),
    "API pin": ("403", "403", "done", "403", "done", "401", "403", "403"),
    "API ticket's notes": ("visible", "403", "visible", "visible", "visible", "401", "403", "403"),
    "API add a note": ("done", "403", "done", "done", "done", "401", "403", "403"),
    "API contact attempts": (
        "visible",
        "403",
        "visible",
        "visible",
        "visible",
        "401",
        "403",
        "403",
    ),
    "API record a call": ("done", "403", "403", "403", "403", "401", "403", "403"),
    "API ticket's escalations": (
        "visible",
        "403",
        "visible",
        "visible",
        "visible",
        "401",
        "403",
        "403",
    ),
    "API ticket's calls": ("visible", "403", "visible", "visible", "visible", "401", "403", "403"),
    "API ticket's messages": (
        "visible",
        "403",
        "visible",
        "visible",
        "visible",
        "401",
        "403",
        "403",
    ),
    "API escalations": ("visible", "hidden", "visible", "visible", "visible", "401", "403", "403"),
    "API escalation detail": (
        "visible",
        "404",
        "visible",
        "visible",
        "visible",
        "401",
        "403",
        "403",
    ),
    "API call detail": ("visible", "404", "visible", "visible", "visible", "401", "403", "403"),
    "API send a failed call again": ("done", "404", "done", "done", "done", "401", "403", "403"),
    "API open an incident": ("403", "403", "done", "done", "done", "401", "403", "403"),
    "API incident's reports": ("403", "403", "visible", "visible", "visible", "401", "403", "403"),
    "API recover an incident": ("403", "403", "done", "done", "done", "401", "403", "403"),
    "API incident's broadcasts": (
        "403",
        "403",
        "visible",
        "visible",
        "visible",
        "401",
        "403",
        "403",
    ),
    "API inform the incident's customers": (
        "403",
        "403",
        "done",
        "done",
        "done",
        "401",
        "403",
        "403",
    ),
    "API customer's message wishes": (
        "visible",
        "404",
        "visible",
        "visible",
        "visible",
        "401",
        "403",
        "403",
    ),
    "API record the customer's message wishes": (
        "done",
        "404",
        "done",
        "done",
        "done",
        "401",
        "403",
        "403",
    ),
    "API SLA policies": ("403", "403", "visible", "403", "visible", "401", "403", "403"),
    "API add an SLA policy": ("403", "403", "403", "403", "done", "401", "403", "403"),
    "API SLA policy detail": ("403", "403", "visible", "403", "visible", "401", "403", "403"),
    "API replace an SLA policy": ("403", "403", "403", "403", "done", "401", "403", "403"),
    "API change an SLA policy": ("403", "403", "403", "403", "done", "401", "403", "403"),
    "API delete an SLA policy": ("403", "403", "403", "403", "done", "401", "403", "403"),
    "API calendars": ("403", "403", "visible", "403", "visible", "401", "403", "403"),
    "API calendar detail": ("403", "403", "visible", "403", "visible", "401", "403", "403"),
    "API campaigns": ("visible", "visible", "visible", "visible", "visible", "401", "403", "403"),
    "API add a campaign": ("403", "403", "done", "403", "done", "401", "403", "403"),
    "API campaign detail": (
        "visible",
        "visible",
        "visible",
        "visible",
        "visible",
        "401",
        "403",
        "403",
    ),
    "API replace a campaign": ("403", "403", "done", "403", "done", "401", "403", "403"),
    "API change a campaign": ("403", "403", "done", "403", "done", "401", "403", "403"),
    "API delete a campaign": ("403", "403", "done", "403", "done", "401", "403", "403"),
    "API push a NOSSA report": ("403", "403", "done", "403", "done", "401", "403", "403"),
    "API push an IVR Gamas report": ("403", "403", "done", "403", "done", "401", "403", "403"),
    "API push a Callback record": ("403", "403", "done", "403", "done", "401", "403", "403"),
    "API call lists": ("403", "403", "visible", "403", "visible", "401", "403", "403"),
    "API upload a call list": ("403", "403", "done", "403", "done", "401", "403", "403"),
    "API call list detail": ("403", "403", "visible", "403", "visible", "401", "403", "403"),
    "API cancel a call list": ("403", "403", "done", "403", "done", "401", "403", "403"),
    "API agents": ("visible", "hidden", "visible", "hidden", "visible", "401", "403", "403"),
    "API agent PST": ("visible", "404", "visible", "404", "visible", "401", "403", "403"),
    "API agent PST's availability": ("done", "404", "done", "404", "done", "401", "403", "403"),
    "API agent PST's capacity": ("403", "404", "done", "404", "done", "401", "403", "403"),
    "API offers": ("visible", "hidden", "visible", "hidden", "visible", "401", "403", "403"),
    "API offer detail": ("visible", "404", "visible", "404", "visible", "401", "403", "403"),
    "API accept an offer": ("done", "404", "403", "404", "403", "401", "403", "403"),
    "API decline an offer": ("done", "404", "403", "404", "403", "401", "403", "403"),
    "API message templates": ("403", "403", "visible", "403", "visible", "401", "403", "403"),
    "API add a message template": ("403", "403", "403", "403", "done", "401", "403", "403"),
    "API message template detail": ("403", "403", "visible", "403", "visible", "401", "403", "403"),
    "API change a message template": ("403", "403", "403", "403", "done", "401", "403", "403"),
    # TMF621
    "TMF create a ticket": ("403", "403", "done", "403", "done", "401", "done", "403"),
    "TMF add a note": ("403", "404", "done", "done", "done", "401", "done", "404"),
    "TMF delete a ticket": ("405", "405", "405", "405", "405", "401", "405", "405"),
    "TMF subscriptions": (
        "hidden",
        "hidden",
        "hidden",
        "hidden",
        "visible",
        "401",
        "visible",
        "hidden",
    ),
    "TMF subscribe": ("403", "403", "done", "403", "done", "401", "done", "done"),
    "TMF subscription detail": ("404", "404", "404", "404", "visible", "401", "visible", "404"),
    "TMF unsubscribe": ("404", "404", "404", "404", "done", "401", "done", "404"),
}

HELD_PHONE, HELD_MASKED = "081111112222", "0811****2222"
QUEUE_PHONE, QUEUE_MASKED = "081234567890", "0812****7890"
MALANG_PHONE = "085566667777"


def customer_at(site_code: str, phone: str):
    customer = factories.CustomerFactory(phone=phone)
    return factories.service_at(site_code, customer=customer)


def build_world() -> dict:
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


@pytest.fixture
def world(db):
    return build_world()


@pytest.fixture(scope="class")
def matrix_world(django_db_setup, django_db_blocker):
    """One world for every cell of the matrix, built once inside a transaction that is rolled
    back after the last cell. Each cell runs in a savepoint of it (pytest-django's `db`), so
    what a cell writes is gone before the next one, as with a world of its own."""
    with (
        django_db_blocker.unblock(),
        override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]),
        transaction.atomic(),
    ):
        yield build_world()
        transaction.set_rollback(True)


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


# --- The rows about one ticket's objects (the other rows' probes are in matrix.py) ------------
@probe("customers list")
def customers_list(world, user):
    return listed(api_client(user).get("/api/customers/"), world["queued"].service.customer_id)


@probe("customer detail")
def customer_detail(world, user):
    customer = world["queued"].service.customer_id
    return shown(api_client(user).get(f"/api/customers/{customer}/"))


@probe("services list")
def services_list(world, user):
    return listed(api_client(user).get("/api/services/"), world["queued"].service_id)


@probe("service detail")
def service_detail(world, user):
    return shown(api_client(user).get(f"/api/services/{world['queued'].service_id}/"))


@probe("tickets list")
def tickets_list(world, user):
    return listed(api_client(user).get("/api/tickets/"), world["queued"].pk)


@probe("ticket detail")
def ticket_detail(world, user):
    return shown(api_client(user).get(f"/api/tickets/{world['queued'].pk}/"))


@probe("incidents page")
def incidents_page(world, user):
    return page(console_client(user).get("/incidents/"))


@probe("incident detail page")
def incident_detail_page(world, user):
    return page(console_client(user).get(f"/incidents/{world['incident'].pk}/"))


@probe("call lists page")
def call_lists_page(world, user):
    return page(console_client(user).get("/supervisor/imports/"))


@probe("Callback record form")
def callback_record_form(world, user):
    return page(console_client(user).get("/supervisor/callback-records/new/"))


@probe("API incidents")
def api_incidents(world, user):
    return listed(api_client(user).get("/api/gamas-incidents/"), world["incident"].pk)


@probe("API incident detail")
def api_incident_detail(world, user):
    return shown(api_client(user).get(f"/api/gamas-incidents/{world['incident'].pk}/"))


@probe("phone on a held ticket")
def phone_on_held(world, user):
    return phone_on(user, world["held"], HELD_PHONE, HELD_MASKED)


@probe("phone on another ticket of the same queue")
def phone_on_queued(world, user):
    return phone_on(user, world["queued"], QUEUE_PHONE, QUEUE_MASKED)


@probe("TMF tickets list")
def tmf_tickets_list(world, user):
    response = api_client(user).get(TMF_TICKETS, {"limit": 1000})
    if response.status_code != 200:
        return str(response.status_code)
    wanted = str(world["queued"].pk)
    return "visible" if wanted in [row["id"] for row in response.json()] else "hidden"


@probe("TMF ticket detail")
def tmf_ticket_detail(world, user):
    return shown(api_client(user).get(f"{TMF_TICKETS}/{world['queued'].pk}"))


CASES = [
    pytest.param(resource, role, expected, id=f"{resource}-{role}")
    for resource, row in MATRIX.items()
    for role, expected in zip(ROLES, row, strict=True)
]


class TestWhoSeesWhat:
    @pytest.mark.parametrize(("resource", "role", "expected"), CASES)
    def test_who_sees_what(self, matrix_world, db, resource, role, expected):
        user = fresh(matrix_world["people"][role])
        assert PROBES[resource](matrix_world, user) == expected


def test_the_matrix_covers_every_role_and_resource():
    assert all(len(row) == len(ROLES) for row in MATRIX.values())
    assert len(MATRIX) * len(ROLES) == len(CASES)
    assert set(MATRIX) == set(PROBES)


# --- The table here is the document's, and it names every URL ---------------------------------
DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "security-matrix.md"
# A resource cell: its name, then what it is in brackets: `(`GET /api/customers/`)`.
RESOURCE_NAME = re.compile(r"^(?P<name>.+?)(?:\s+\((?P<what>[^()]*)\))?$")
ENDPOINT = re.compile(r"`(?:(?P<method>GET|POST|PUT|PATCH|DELETE) )?(?P<path>/[^`\s]*)`")
# URLs that are nobody's page or resource: machines call them, outside any role.
NOT_IN_THE_MATRIX = {
    "/healthz": "the load balancer's liveness probe, answered before sessions and login",
    "/readyz": "the load balancer's readiness probe, answered before sessions and login",
    "/metrics": "Prometheus' scrape, answered by MetricsEndpointMiddleware (docs/metrics.md)",
}
# Prefixes of URLs with an access rule of their own, which one row of the table stands for.
COVERED_BY_ONE_ROW = {
    "/admin/": "Django's admin site: staff users only, then Django's model permissions; the "
    "row `admin site` is its front door",
}


def document_rows() -> dict[str, tuple[str, tuple[str, ...]]]:
    """The matrix of docs/security-matrix.md: resource name -> (its cell, the outcomes)."""
    section = DOCUMENT.read_text(encoding="utf-8").split("\n## The matrix\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    rows: dict[str, tuple[str, tuple[str, ...]]] = {}
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("| resource |"):
            continue
        cell, *outcomes = (part.strip() for part in line.strip().strip("|").split("|"))
        name = RESOURCE_NAME.match(cell)["name"]
        assert name not in rows, f"two rows named {name!r}"
        rows[name] = (cell, tuple(outcomes))
    return rows


def test_the_table_here_is_the_documents_table():
    documented = document_rows()
    assert list(documented) == list(MATRIX), "the same rows, in the same order"
    for name, (_cell, outcomes) in documented.items():
        assert outcomes == MATRIX[name], name


def route_of(pattern) -> str:
    """`tickets/<int:pk>/` or `api/^tickets/(?P<pk>[0-9]{1,18})/$` as `/tickets/{}/`."""
    text = str(pattern).replace("^", "").replace("$", "")
    out, index = [], 0
    while index < len(text):
        if text.startswith("(?P<", index):  # a regex group, with its nested brackets
            depth = 0
            for end in range(index, len(text)):
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                if depth == 0:
                    break
            out.append("{}")
            index = end + 1
        elif text[index] == "<":
            out.append("{}")
            index = text.index(">", index) + 1
        else:
            out.append(text[index])
            index += 1
    return "/" + "".join(out)


def routes(patterns=None, prefix=""):
    """(route, methods) of every URL of the URLconf; methods for a router's viewsets only
    (DRF names them), an empty set for a plain view."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            yield from routes(entry.url_patterns, prefix + str(entry.pattern))
            continue
        actions = getattr(entry.callback, "actions", None) or {}
        methods = {method.upper() for method in actions} - {"HEAD", "OPTIONS"}
        yield route_of(prefix + str(entry.pattern)), methods


def documented_endpoints() -> set[tuple[str, str]]:
    """(method, route) of each row: the first URL its resource cell names, if any."""
    found = set()
    for cell, _outcomes in document_rows().values():
        match = ENDPOINT.search(cell)
        if match is not None:
            path = re.sub(r"\{[^}]*\}", "{}", match["path"])
            found.add((match["method"] or "GET", path))
    return found


def test_every_url_of_the_urlconf_has_a_row():
    """A new page or endpoint fails here until the table says who may use it."""
    named = documented_endpoints()
    named_paths = {path for _method, path in named}
    assert set(COVERED_BY_ONE_ROW) <= named_paths, "the row that stands for them is missing"
    missing = []
    for route, methods in routes():
        if route in NOT_IN_THE_MATRIX or route.startswith(tuple(COVERED_BY_ONE_ROW)):
            continue
        if route not in named_paths:
            missing.append(route)
        missing += [
            f"{method} {route}" for method in sorted(methods) if (method, route) not in named
        ]
    assert not missing, "no row in docs/security-matrix.md for: " + ", ".join(missing)


def test_every_url_the_table_names_exists():
    known: dict[str, set[str]] = {}
    for route, methods in routes():
        known.setdefault(route, set()).update(methods)
    stale = [
        f"{method} {path}"
        for method, path in sorted(documented_endpoints())
        if path not in known or (known[path] and method not in known[path])
    ]
    assert not stale, "rows for URLs the URLconf does not have: " + ", ".join(stale)


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
