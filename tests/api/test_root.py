"""`/api/` names the API's entry points (docs/api.md), and each one it names answers."""

import pytest

pytestmark = pytest.mark.django_db

# What docs/api.md promises, written out by hand.
EXPECTED = {
    "schema": "http://testserver/api/schema/",
    "docs": "http://testserver/api/docs/",
    "token": "http://testserver/api/auth/token/",
}
EXPECTED_RESOURCES = {
    "tickets": "http://testserver/api/tickets/",
    "escalations": "http://testserver/api/escalations/",
    "gamas-incidents": "http://testserver/api/gamas-incidents/",
    "sla-policies": "http://testserver/api/sla-policies/",
    "campaigns": "http://testserver/api/campaigns/",
    "customers": "http://testserver/api/customers/",
    "services": "http://testserver/api/services/",
    "imports": "http://testserver/api/imports/",
}
EXPECTED_TMF = {
    "troubleTicket": "http://testserver/tmf-api/troubleTicket/v5/troubleTicket",
    "hub": "http://testserver/tmf-api/troubleTicket/v5/hub",
}


@pytest.mark.parametrize("signed_in", [True, False], ids=["supervisor", "anonymous"])
def test_the_api_root_lists_the_entry_points(api, supervisor_user, signed_in):
    response = api(supervisor_user if signed_in else None).get("/api/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert {name: body[name] for name in EXPECTED} == EXPECTED
    # New resources may join the list; these are the ones the docs name.
    assert EXPECTED_RESOURCES.items() <= body["resources"].items()
    assert body["tmf621"] == EXPECTED_TMF


def test_every_address_the_root_names_exists(api, supervisor_user):
    client = api(supervisor_user)
    body = client.get("/api/").json()
    links = [body["schema"], body["docs"], *body["resources"].values()]
    links += list(body["tmf621"].values())

    for link in links:
        path = link.removeprefix("http://testserver")
        assert client.get(path).status_code == 200, path
    # The token endpoint takes a POST; a GET is refused, not missing.
    assert client.get(body["token"].removeprefix("http://testserver")).status_code == 405


def test_the_root_is_not_part_of_the_openapi_contract(api):
    schema = api(None).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert "/api/" not in schema.json()["paths"]


def test_a_bad_token_is_refused_as_everywhere(api):
    response = api(None).get("/api/", HTTP_AUTHORIZATION="Token not-a-token")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_the_root_takes_only_reads(api, supervisor_user):
    assert api(supervisor_user).post("/api/", {}).status_code == 405
