"""Authentication (session and token) and the error classes every endpoint shares."""

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import factories

pytestmark = pytest.mark.django_db


def test_a_token_is_exchanged_for_username_and_password_and_then_authenticates(supervisor_user):
    response = APIClient().post(
        "/api/auth/token/",
        {"username": supervisor_user.username, "password": "secret-pass-123"},
        format="json",
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert token == Token.objects.get(user=supervisor_user).key

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/tickets/").status_code == 200


def test_a_wrong_password_is_400_with_a_message(supervisor_user):
    response = APIClient().post(
        "/api/auth/token/", {"username": supervisor_user.username, "password": "nope"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "ValidationError"
    assert response.json()["errors"]["non_field_errors"]


def test_without_credentials_the_answer_is_401_asking_for_a_token(db):
    response = APIClient().get("/api/tickets/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "NotAuthenticated"


def test_a_bad_token_is_401(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef")
    response = client.get("/api/tickets/")
    assert response.status_code == 401
    assert response.json()["code"] == "AuthenticationFailed"


def test_session_login_works_and_writes_need_the_csrf_token(nossa_agent):
    client = APIClient(enforce_csrf_checks=True)
    client.login(username=nossa_agent.username, password="secret-pass-123")
    assert client.get("/api/tickets/").status_code == 200

    refused = client.post("/api/tickets/next/")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]


def test_a_user_without_a_role_is_403_everywhere(api):
    nobody = User.objects.create_user("nobody", password="secret-pass-123")
    client = api(nobody)
    for url in ("/api/tickets/", "/api/customers/", "/api/campaigns/", "/api/escalations/"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert response.json()["code"] == "PermissionDenied"


def test_a_malformed_json_body_is_400_not_500(api, nossa_agent):
    ticket = factories.flow_ticket("nossa")
    response = api(nossa_agent).post(
        f"/api/tickets/{ticket.pk}/transitions/",
        data='{"name": "claim",',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "ParseError"


def test_an_unsupported_method_is_405(api, nossa_agent):
    response = api(nossa_agent).delete("/api/tickets/")
    assert response.status_code == 405
    assert response.json()["code"] == "MethodNotAllowed"


def test_the_schema_and_the_docs_page_are_served(api, nossa_agent):
    client = api(nossa_agent)
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    assert "/api/tickets/{id}/transitions/" in schema.json()["paths"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
