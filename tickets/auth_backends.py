"""Single sign-on's entry points (OpenID Connect, through mozilla-django-oidc): the
authentication backend, and the views that start a login and receive the provider's answer.

The library runs the authorization code flow: state, nonce, PKCE, the token request, the id
token's signature against the provider's published keys. This module adds what the library
leaves out, and stays thin otherwise:

- the id token must be meant for this console (audience, `azp`), come from the configured
  issuer, and be unexpired; the userinfo answer must be about the same subject;
- the endpoints come from the issuer's discovery document when they are not set one by one,
  fetched only when a login needs them (Django builds every backend for every password login,
  and those must not wait on the provider);
- the verified claims go to `tickets.services.sso`, which decides who the user is and which
  roles they hold; a refusal or a failure becomes a message on the login page.

Only `tier2.settings` lists `SsoBackend` and `tier2.urls` routes these views, both only when
SSO is configured (docs/sso.md).
"""

from __future__ import annotations

import logging
import threading
import time

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.http import HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils.translation import gettext_lazy as _
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from .services import sso

logger = logging.getLogger(__name__)

# Clock difference tolerated between the provider and the console when checking expiry.
CLOCK_SKEW_SECONDS = 60
# How long a discovery document is trusted before it is fetched again.
DISCOVERY_TTL_SECONDS = 3600
# Each endpoint setting and its key in the discovery document.
DISCOVERY_KEYS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}

FAILED = _("Single sign-on did not complete. Try again, or log in with your password.")
UNVERIFIED = _("Single sign-on failed: the identity provider's answer could not be verified.")
UNREACHABLE = _("Single sign-on failed: the identity provider cannot be reached. Try again later.")

_discovered: dict[str, tuple[float, dict]] = {}
_discovery_lock = threading.Lock()


class UnverifiedAnswer(Exception):
    """The provider's answer is not one the console may trust (not a SuspiciousOperation: the
    library would swallow that one on its way out and hide the reason)."""


class SsoFailed(Exception):
    """No login: `message` tells the person why; `username` is whom the provider named, if
    it named anyone the console may believe."""

    def __init__(self, message, *, username: str | None = None):
        super().__init__(str(message))
        self.message = message
        self.username = username or ""


def provider_configuration() -> dict:
    """The issuer's discovery document (`.well-known/openid-configuration`), cached a while;
    empty when no issuer is configured (the endpoints are then all set one by one)."""
    issuer = settings.TIER2_OIDC_ISSUER
    if not issuer:
        return {}
    with _discovery_lock:
        fetched = _discovered.get(issuer)
        if fetched and time.monotonic() - fetched[0] < DISCOVERY_TTL_SECONDS:
            return fetched[1]
    response = requests.get(
        issuer.rstrip("/") + "/.well-known/openid-configuration",
        timeout=settings.OIDC_TIMEOUT,
    )
    response.raise_for_status()
    document = response.json()
    if document.get("issuer") != issuer:  # OpenID Connect Discovery 1.0, section 4.3
        raise UnverifiedAnswer(f"discovery names issuer {document.get('issuer')!r}, not {issuer!r}")
    with _discovery_lock:
        _discovered[issuer] = (time.monotonic(), document)
    return document


def forget_provider_configuration() -> None:
    """Fetch the discovery document again at the next login (the provider changed)."""
    with _discovery_lock:
        _discovered.clear()


def endpoint(setting: str) -> str:
    """An endpoint of the provider: as set, else from its discovery document."""
    value = getattr(settings, setting, "") or provider_configuration().get(DISCOVERY_KEYS[setting])
    if not value and setting != "OIDC_OP_USER_ENDPOINT":
        raise ImproperlyConfigured(f"Single sign-on has no {setting} (set it, or the issuer).")
    return value or ""


def _endpoint_property(setting: str) -> property:
    return property(lambda self: endpoint(setting))


class SsoBackend(OIDCAuthenticationBackend):
    """Logs in the person the provider vouches for, as `tickets.services.sso` provisions them.

    The console's callback calls `log_in`; through Django's `authenticate()` it answers only an
    SSO callback (one that passes a nonce), so password logins and the API's tokens pass it by,
    and never wait on the provider. Sessions are loaded as ModelBackend loads them: a user
    disabled meanwhile is logged out.
    """

    OIDC_OP_TOKEN_ENDPOINT = _endpoint_property("OIDC_OP_TOKEN_ENDPOINT")
    OIDC_OP_USER_ENDPOINT = _endpoint_property("OIDC_OP_USER_ENDPOINT")
    OIDC_OP_JWKS_ENDPOINT = _endpoint_property("OIDC_OP_JWKS_ENDPOINT")

    def __init__(self, *args, **kwargs):
        # Not the library's __init__: it reads the endpoints, which may need the network.
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None
        self.UserModel = get_user_model()

    get_user = ModelBackend.get_user

    def authenticate(self, request, **kwargs):
        if request is None or "nonce" not in kwargs:
            return None  # not the SSO callback: a password login, or no request at all
        try:
            return self.log_in(request, **kwargs)
        except SsoFailed:
            return None

    def log_in(self, request, *, nonce, code_verifier=None):
        """The user of the provider's answer on `request` (its code and state), or `SsoFailed`
        saying why not."""
        try:
            user = super().authenticate(request, nonce=nonce, code_verifier=code_verifier)
        except sso.SsoLoginRefused as refusal:
            raise SsoFailed(refusal.message, username=refusal.context.get("username")) from None
        except (UnverifiedAnswer, SuspiciousOperation) as error:
            logger.warning("SSO login refused, the provider's answer is not trusted: %s", error)
            raise SsoFailed(UNVERIFIED) from None
        except requests.RequestException as error:
            logger.error("SSO login failed, the provider cannot be reached: %s", error)
            raise SsoFailed(UNREACHABLE) from None
        if user is None:  # the library logged why
            raise SsoFailed(FAILED)
        return user

    def _verify_jws(self, payload, key):
        """The token's signature, and that it is meant for this console, by this issuer, now."""
        try:
            algorithm = jwt.get_unverified_header(payload).get("alg")
        except jwt.PyJWTError as error:
            raise UnverifiedAnswer(f"unreadable token: {error}") from None
        if algorithm != self.OIDC_RP_SIGN_ALGO:
            raise UnverifiedAnswer(f"token signed with {algorithm!r}, not {self.OIDC_RP_SIGN_ALGO}")
        try:
            claims = jwt.decode(
                payload,
                key,
                algorithms=[self.OIDC_RP_SIGN_ALGO],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=settings.TIER2_OIDC_ISSUER or None,
                leeway=CLOCK_SKEW_SECONDS,
            )
        except jwt.PyJWTError as error:
            raise UnverifiedAnswer(f"token refused: {error}") from None
        audience = claims.get("aud")
        several = isinstance(audience, list) and len(audience) > 1
        if several and claims.get("azp") != self.OIDC_RP_CLIENT_ID:  # OIDC Core 3.1.3.7
            raise UnverifiedAnswer("token for several audiences, authorized for another")
        return claims

    def get_or_create_user(self, access_token, id_token, payload):
        if not payload.get("sub") or "exp" not in payload:
            raise UnverifiedAnswer("id token without sub or exp")
        userinfo = {}
        if self.OIDC_OP_USER_ENDPOINT:
            userinfo = self.get_userinfo(access_token, id_token, payload)
            if userinfo.get("sub") != payload["sub"]:  # OpenID Connect Core 5.3.2
                raise UnverifiedAnswer("userinfo is about another subject than the id token")
        return sso.provision_sso_user(claims={**payload, **userinfo})


class SsoStartView(OIDCAuthenticationRequestView):
    """`oidc/authenticate/`: sends the browser to the provider's login page."""

    OIDC_OP_AUTH_ENDPOINT = _endpoint_property("OIDC_OP_AUTHORIZATION_ENDPOINT")

    def __init__(self, *args, **kwargs):
        # Not the library's __init__: it reads the endpoint, which may need the network.
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    def get(self, request):
        try:
            return super().get(request)
        except (requests.RequestException, UnverifiedAnswer) as error:
            logger.error("SSO login not started, no discovery document: %s", error)
            messages.error(request, UNREACHABLE)
            return HttpResponseRedirect(resolve_url(settings.LOGIN_URL))


class SsoCallbackView(OIDCAuthenticationCallbackView):
    """`oidc/callback/`: the provider's answer. A success logs the user in as a password login
    does; a failure goes back to the login page with a message that says why.

    The answer goes to `SsoBackend` directly, not through `django.contrib.auth.authenticate`:
    there, django-axes would count every refusal under an empty user name, and after a few
    refusals (anyone's) lock single sign-on for everybody. A refusal still announces
    `user_login_failed`, under the user name the provider sent, for the lockouts and the
    security log, as a wrong password does.
    """

    def get(self, request):
        state = request.GET.get("state")
        if request.GET.get("error") or not (request.GET.get("code") and state):
            return super().get(request)  # the provider's error (say, cancelled), or nothing
        pending = request.session.get("oidc_states")
        if not isinstance(pending, dict) or state not in pending:
            logger.warning("SSO callback with a state this session did not start")
            return self.login_failure()
        expected = pending.pop(state)  # used once: a replayed answer finds nothing
        request.session.save()
        # As the library does: read the session again after the slow exchange with the
        # provider, so that what other tabs stored meanwhile is not overwritten.
        request.session = request.session.__class__(request.session.session_key)
        try:
            self.user = SsoBackend().log_in(
                request, nonce=expected.get("nonce"), code_verifier=expected.get("code_verifier")
            )
        except SsoFailed as failure:
            user_login_failed.send(
                sender=__name__, credentials={"username": failure.username}, request=request
            )
            return self.login_failure(failure.message)
        self.user.backend = f"{SsoBackend.__module__}.{SsoBackend.__qualname__}"
        return self.login_success()

    def login_failure(self, message=None):
        messages.error(self.request, message or FAILED)
        return HttpResponseRedirect(resolve_url(settings.LOGIN_URL))
