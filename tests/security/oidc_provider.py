"""A small OpenID Connect provider for tests, on 127.0.0.1 in a thread of the test process.

It serves what a login through the authorization code flow touches: discovery, authorize
(which logs the test's chosen person in at once and redirects back with a code and the state),
token (an RS256 id token signed with a key made for the test, and an access token), JWKS and
userinfo. It checks what a real provider checks (client id and secret, redirect URI, PKCE), and
can be told to misbehave: sign with a key it does not publish, or address another audience.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

KEY_ID = "test-key-1"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Person:
    """Who the provider logs in at the next authorize, and what it says about them."""

    sub: str
    claims: dict = field(default_factory=dict)  # preferred_username, email, groups, ...


@dataclass
class _Grant:
    person: Person
    nonce: str | None
    redirect_uri: str
    code_challenge: str | None


class OidcProvider:
    def __init__(self, *, client_id: str, client_secret: str):
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = new_key()  # published in the JWKS
        self.signing_key = self.key  # what id tokens are signed with (a test may swap it)
        self.id_token_changes: dict = {}  # claims a test overrides in the next id tokens
        self.person: Person | None = None
        self.requests: list[str] = []  # "METHOD /path" of every request served
        self._grants: dict[str, _Grant] = {}
        self._access: dict[str, Person] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def issuer(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> OidcProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def log_in_as(self, sub: str, **claims) -> None:
        self.person = Person(sub=sub, claims=claims)

    # --- What each endpoint answers -----------------------------------------------------------
    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def authorize(self, query: dict[str, str]) -> tuple[int, dict]:
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            return 400, {"error": "unauthorized_client"}
        if self.person is None or "openid" not in query.get("scope", "").split():
            return 400, {"error": "invalid_request"}
        code = secrets.token_urlsafe(16)
        self._grants[code] = _Grant(
            person=self.person,
            nonce=query.get("nonce"),
            redirect_uri=query["redirect_uri"],
            code_challenge=query.get("code_challenge"),
        )
        back = urlencode({"code": code, "state": query["state"]})
        return 302, {"Location": f"{query['redirect_uri']}?{back}"}

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict]:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization.startswith("Basic "):
            client_id, _sep, client_secret = (
                base64.b64decode(authorization[6:]).decode().partition(":")
            )
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return 401, {"error": "invalid_client"}
        grant = self._grants.pop(form.get("code", ""), None)
        if grant is None or form.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant"}
        if grant.code_challenge is not None:
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.code_challenge:
                return 400, {"error": "invalid_grant"}
        now = int(time.time())
        id_claims = {
            "iss": self.issuer,
            "sub": grant.person.sub,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "preferred_username": grant.person.claims.get("preferred_username"),
            **({"nonce": grant.nonce} if grant.nonce else {}),
            **self.id_token_changes,
        }
        id_token = jwt.encode(
            {name: value for name, value in id_claims.items() if value is not None},
            self.signing_key,
            algorithm="RS256",
            headers={"kid": KEY_ID},
        )
        access_token = secrets.token_urlsafe(24)
        self._access[access_token] = grant.person
        return 200, {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
        }

    def jwks(self) -> dict:
        public = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": KEY_ID, "alg": "RS256", "use": "sig"}]}

    def userinfo(self, authorization: str) -> tuple[int, dict]:
        person = self._access.get(authorization.removeprefix("Bearer "))
        if person is None:
            return 401, {"error": "invalid_token"}
        return 200, {"sub": person.sub, **person.claims}

    # --- HTTP ---------------------------------------------------------------------------------
    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # quiet test output
                pass

            def _answer(self, status: int, body: dict) -> None:
                if status == 302:
                    self.send_response(302)
                    self.send_header("Location", body["Location"])
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlsplit(self.path)
                provider.requests.append(f"GET {url.path}")
                query = {name: values[0] for name, values in parse_qs(url.query).items()}
                authorization = self.headers.get("Authorization", "")
                if url.path == "/.well-known/openid-configuration":
                    self._answer(200, provider.discovery())
                elif url.path == "/authorize":
                    self._answer(*provider.authorize(query))
                elif url.path == "/jwks":
                    self._answer(200, provider.jwks())
                elif url.path == "/userinfo":
                    self._answer(*provider.userinfo(authorization))
                else:
                    self._answer(404, {"error": "not_found"})

            def do_POST(self):
                url = urlsplit(self.path)
                provider.requests.append(f"POST {url.path}")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                form = {name: values[0] for name, values in parse_qs(body).items()}
                if url.path == "/token":
                    self._answer(*provider.token(form, self.headers.get("Authorization", "")))
                else:
                    self._answer(404, {"error": "not_found"})

        return Handler
