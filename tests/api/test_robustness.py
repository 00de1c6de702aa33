"""Odd requests never get a 5xx: OPTIONS on every API route, unmatched /api/ paths (JSON 404),
and deleting a campaign that thousands of tickets use (409 at once, nothing deleted)."""

import re

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RoutePattern

from integrations.models import AdapterCall
from tests import factories
from tickets.models import (
    Campaign,
    Customer,
    Escalation,
    GamasIncident,
    ImportJob,
    MessageTemplate,
    Service,
    SlaPolicy,
    Ticket,
)

pytestmark = pytest.mark.django_db

MISSING_ID = "999999999"


# --- OPTIONS on every API route ---------------------------------------------------------------
def _patterns(resolvers, prefix=""):
    """(route text, pattern) for every URL pattern below the given resolvers."""
    for entry in resolvers:
        if isinstance(entry.pattern, RoutePattern):
            text = str(entry.pattern)
        else:
            text = entry.pattern.regex.pattern.removeprefix("^").removesuffix("$")
        if isinstance(entry, URLResolver):
            yield from _patterns(entry.url_patterns, prefix + text)
        elif isinstance(entry, URLPattern):
            yield prefix + text


def api_routes() -> list[str]:
    (api,) = [
        entry
        for entry in get_resolver().url_patterns
        if isinstance(entry, URLResolver) and str(entry.pattern) == "api/"
    ]
    return sorted(set(_patterns([api], "/")))


# The resource behind each route's first segment, for a real id on detail routes.
MODELS = {
    "tickets": Ticket,
    "escalations": Escalation,
    "calls": AdapterCall,
    "gamas-incidents": GamasIncident,
    "sla-policies": SlaPolicy,
    "campaigns": Campaign,
    "customers": Customer,
    "services": Service,
    "imports": ImportJob,
    "message-templates": MessageTemplate,
}


def concrete(route: str, *, real_ids: bool) -> str:
    """The route with each captured parameter filled: an existing row's id, or a missing one."""
    model = MODELS.get(route.strip("/").split("/")[1]) if route.count("/") > 2 else None
    existing = model.objects.values_list("pk", flat=True).first() if model else None
    value = str(existing) if real_ids and existing is not None else MISSING_ID
    path = re.sub(r"\(\?P<\w+>[^)]*\)|<(?:\w+:)?\w+>", value, route)
    assert not re.search(r"[\\^$()\[\]{}<>?*+]", path), f"unfilled route {route!r}: {path!r}"
    return path


@pytest.fixture
def one_of_everything(supervisor_user):
    ticket = factories.flow_ticket("ideas")
    campaign = Campaign.objects.create(code="ideas-mei", name="Ideas Mei", flow="ideas")
    ImportJob.objects.create(
        kind="ideas", campaign=campaign, file_name="a.csv", content="", uploaded_by=supervisor_user
    )
    factories.open_gamas(actor=supervisor_user)
    MessageTemplate.objects.create(event="closed", channel="sms", text_id="Selesai.")
    return ticket


def test_the_walk_finds_the_api_routes():
    routes = api_routes()
    assert "/api/ingest/nossa/" in routes
    assert "/api/ingest/ivr-gamas/" in routes
    assert any(route.startswith("/api/campaigns/(?P<pk>") for route in routes)
    assert len(routes) >= 20


@pytest.mark.parametrize("real_ids", [True, False], ids=["existing-ids", "missing-ids"])
@pytest.mark.parametrize("role", ["Supervisor", "Admin", "Agent", "Support", None])
def test_options_on_every_api_route_never_answers_5xx(api, one_of_everything, role, real_ids):
    user = factories.agent_for("nossa") if role == "Agent" else role and factories.role_user(role)
    client = api(user)
    failures = {}
    for route in api_routes():
        path = concrete(route, real_ids=real_ids)
        resolve(path)  # the walk builds paths the API really serves
        response = client.options(path)
        if response.status_code >= 500:
            failures[path] = response.status_code
    assert failures == {}


@pytest.mark.parametrize(
    ("path", "body_field"),
    [("/api/ingest/nossa/", "nossa_number"), ("/api/ingest/ivr-gamas/", "call_id")],
)
def test_options_on_the_ingestion_endpoints_describes_their_post_body(
    api, supervisor_user, path, body_field
):
    response = api(supervisor_user).options(path)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert "POST" in body["actions"]
    assert body_field in body["actions"]["POST"]
    assert "service_number" in body["actions"]["POST"]


def test_options_on_ingestion_without_credentials_is_401_not_500(api):
    assert api(None).options("/api/ingest/nossa/").status_code == 401


# --- Unmatched API paths: JSON 404 -------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    ["/api/nope/", "/api/tickets/abc/def/", "/api/tickets/1/nope/", "/api/v2/tickets/"],
)
@pytest.mark.parametrize("method", ["get", "post", "options", "delete"])
@pytest.mark.parametrize("signed_in", [True, False], ids=["supervisor", "anonymous"])
def test_an_unmatched_api_path_is_a_json_404(api, supervisor_user, path, method, signed_in):
    client = api(supervisor_user if signed_in else None)
    response = getattr(client, method)(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == "NotFound"
    assert isinstance(body["detail"], str)
    assert body["detail"]


@pytest.mark.parametrize("path", ["/nope/", "/tickets/abc/", "/apix/nope/"])
def test_an_unmatched_console_path_keeps_the_html_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_an_api_path_without_its_trailing_slash_still_redirects_to_it(api, supervisor_user):
    response = api(supervisor_user).get("/api/campaigns")
    assert response.status_code == 301
    assert response["Location"] == "/api/campaigns/"


# --- Deleting a campaign that tickets use --------------------------------------------------------
def campaign_with_tickets(count: int, code: str = "ideas-juni") -> Campaign:
    """A campaign `count` Ideas tickets use: one arrives through the services, the rest are
    copies of its row (bulk_create, for speed)."""
    campaign = Campaign.objects.create(code=code, name=code, flow="ideas")
    first = factories.flow_ticket("ideas", campaign=campaign)
    row = Ticket.objects.filter(pk=first.pk).values().get()
    row.pop("id")
    row["source_ref"] = ""
    Ticket.objects.bulk_create([Ticket(**row) for _ in range(count - 1)], batch_size=500)
    assert Ticket.objects.filter(campaign=campaign).count() == count
    return campaign


def _delete(api, user_id, campaign):
    """DELETE as a freshly loaded user (no permission cache), capturing the SQL."""
    client = api(User.objects.get(pk=user_id))
    with CaptureQueriesContext(connection) as queries:
        response = client.delete(f"/api/campaigns/{campaign.pk}/")
    return response, [query["sql"] for query in queries.captured_queries]


def _loads_tickets(sql: list[str]) -> list[str]:
    """Queries that read ticket rows (anything on the ticket table but a COUNT)."""
    return [query for query in sql if "tickets_ticket" in query and "COUNT(" not in query.upper()]


def test_deleting_a_campaign_300_tickets_use_is_409_deleting_nothing(
    api, supervisor_user, django_assert_max_num_queries
):
    campaign = campaign_with_tickets(300)
    client = api(User.objects.get(pk=supervisor_user.pk))
    with django_assert_max_num_queries(12):
        response = client.delete(f"/api/campaigns/{campaign.pk}/")
    assert response.status_code == 409
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == "Protected"
    assert "300 tickets" in body["detail"]
    assert body["tickets"] == "300"
    assert Campaign.objects.filter(pk=campaign.pk).exists()
    assert Ticket.objects.filter(campaign=campaign).count() == 300


def test_the_refusal_counts_rows_instead_of_loading_them_so_its_cost_is_constant(
    api, supervisor_user
):
    small = campaign_with_tickets(1, code="kecil")
    large = campaign_with_tickets(300, code="besar")
    small_response, small_sql = _delete(api, supervisor_user.pk, small)
    large_response, large_sql = _delete(api, supervisor_user.pk, large)
    assert (small_response.status_code, large_response.status_code) == (409, 409)
    assert len(large_sql) == len(small_sql)
    assert _loads_tickets(large_sql) == []


def test_a_campaign_only_an_import_uses_is_409_too(api, supervisor_user):
    campaign = Campaign.objects.create(code="c4-juni", name="C4 Juni", flow="c4_caring")
    ImportJob.objects.create(
        kind="c4_caring",
        campaign=campaign,
        file_name="a.csv",
        content="",
        uploaded_by=supervisor_user,
    )
    response = api(supervisor_user).delete(f"/api/campaigns/{campaign.pk}/")
    assert response.status_code == 409
    assert response.json()["tickets"] == "0"
    assert Campaign.objects.filter(pk=campaign.pk).exists()


def test_an_unused_campaign_is_deleted_204(api, supervisor_user):
    campaign = Campaign.objects.create(code="ideas-juli", name="Ideas Juli", flow="ideas")
    response = api(supervisor_user).delete(f"/api/campaigns/{campaign.pk}/")
    assert response.status_code == 204
    assert not Campaign.objects.filter(pk=campaign.pk).exists()


def test_agents_may_not_delete_campaigns_and_unknown_ones_are_404(api, supervisor_user):
    campaign = Campaign.objects.create(code="ideas-agt", name="Ideas Agt", flow="ideas")
    assert (
        api(factories.agent_for("ideas")).delete(f"/api/campaigns/{campaign.pk}/").status_code
        == 403
    )
    assert Campaign.objects.filter(pk=campaign.pk).exists()
    assert api(supervisor_user).delete(f"/api/campaigns/{MISSING_ID}/").status_code == 404


# --- The same rule in the Django admin ----------------------------------------------------------
@pytest.fixture
def superuser_client(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-123456789"))
    return client


def test_the_admin_refuses_at_once_to_delete_a_campaign_tickets_use(superuser_client):
    campaign = campaign_with_tickets(300)
    url = f"/admin/tickets/campaign/{campaign.pk}/delete/"
    with CaptureQueriesContext(connection) as queries:
        page = superuser_client.get(url)
    assert page.status_code == 200
    assert "300 tickets" in page.content.decode()
    assert _loads_tickets([query["sql"] for query in queries.captured_queries]) == []

    posted = superuser_client.post(url, {"post": "yes"})
    assert posted.status_code == 200  # the refusal again, not the redirect after a delete
    assert Campaign.objects.filter(pk=campaign.pk).exists()
    assert Ticket.objects.filter(campaign=campaign).count() == 300


def test_the_admin_bulk_delete_refuses_used_campaigns_and_deletes_nothing(superuser_client):
    used = campaign_with_tickets(3)
    unused = Campaign.objects.create(code="ideas-sept", name="Ideas Sept", flow="ideas")
    response = superuser_client.post(
        "/admin/tickets/campaign/",
        {"action": "delete_selected", "_selected_action": [used.pk, unused.pk], "post": "yes"},
    )
    assert response.status_code == 200
    assert "3 tickets" in response.content.decode()
    assert Campaign.objects.filter(pk__in=[used.pk, unused.pk]).count() == 2


def test_the_admin_deletes_an_unused_campaign(superuser_client):
    campaign = Campaign.objects.create(code="ideas-okt", name="Ideas Okt", flow="ideas")
    response = superuser_client.post(
        f"/admin/tickets/campaign/{campaign.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Campaign.objects.filter(pk=campaign.pk).exists()
