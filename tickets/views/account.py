"""The user's own sign-in: two-factor pages, the middleware that asks for them, and the hooks
django-axes calls (the client's address, the lockout answer, the backend that refuses locked
sign-ins).

The rules (who must use two-factor sign-in, what a code proves) are in
`tickets.services.accounts`; these views translate HTTP to those calls and back. See
docs/security.md.
"""

from __future__ import annotations

import time

import segno
from axes.backends import AxesStandaloneBackend
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME, SESSION_KEY
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import AnonymousUser
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice
from rest_framework.views import APIView

from .. import services
from ..exceptions import InvalidInput, TicketError
from ..services import accounts
from .mixins import form_errors, redirect_to, safe_next

# The secret being enrolled lives in the session until the user proves their app holds it.
ENROL_SECRET_SESSION_KEY = "tier2_2fa_enrol_key"  # noqa: S105 - a session key name
# Recovery codes just made, shown once by the page the enrolment or regeneration leads to.
NEW_CODES_SESSION_KEY = "tier2_2fa_new_codes"
# Pages a user who still owes a second factor may open: the steps themselves, leaving, the
# language switch and the login page (to sign in as someone else).
OPEN_URL_NAMES = {"two_factor_verify", "two_factor_enrol", "login", "logout", "set_language"}


# --- django-axes: address, backend, lockout answer -------------------------------------------
def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, or behind `TIER2_PROXY_COUNT` proxies the address
    the outermost of them saw (the same rule as DRF's throttles with `NUM_PROXIES`)."""
    proxies = settings.TIER2_PROXY_COUNT
    forwarded = [
        hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop
    ]
    if proxies and forwarded:
        return forwarded[-min(proxies, len(forwarded))]
    return request.META.get("REMOTE_ADDR")


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' check, first in AUTHENTICATION_BACKENDS: a locked user name or address
    is refused before any password is compared, and every failure is counted.

    Every sign-in page passes the request (the console and admin logins, the API's token
    endpoint); code that authenticates without one (the test client's `login()`, a shell) is
    no sign-in from outside and is let through to the password check, where axes' own
    backend would raise.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_message() -> str:
    minutes = settings.TIER2_LOCKOUT_MINUTES
    return ngettext(
        "Too many failed sign-ins: signing in is locked for %(minutes)d minute. Wait, then "
        "try again, or ask an admin to unlock it.",
        "Too many failed sign-ins: signing in is locked for %(minutes)d minutes. Wait, then "
        "try again, or ask an admin to unlock it.",
        minutes,
    ) % {"minutes": minutes}


def lockout_response(request, original_response=None, credentials=None):
    """What a locked-out sign-in gets (django-axes' AXES_LOCKOUT_CALLABLE): 429 with the API's
    error shape on the API's token endpoint, else the login page with the message."""
    if _is_api_request(request):
        response = JsonResponse({"detail": lockout_message(), "code": "LockedOut"}, status=429)
    else:
        username = (credentials or {}).get("username") or request.POST.get("username", "")
        form = AuthenticationForm(request, initial={"username": username})
        context = {
            "form": form,
            "locked_message": lockout_message(),
            REDIRECT_FIELD_NAME: request.POST.get(REDIRECT_FIELD_NAME)
            or request.GET.get(REDIRECT_FIELD_NAME, ""),
        }
        response = render(request, "registration/login.html", context, status=429)
    response["Retry-After"] = str(settings.TIER2_LOCKOUT_MINUTES * 60)
    return response


def _is_api_request(request) -> bool:
    match = getattr(request, "resolver_match", None)
    view_class = getattr(getattr(match, "func", None), "cls", None)
    return isinstance(view_class, type) and issubclass(view_class, APIView)


# --- The middleware -------------------------------------------------------------------------
# The user id whose sign-in owes no second factor, decided once when they signed in (or after
# they remove their app), so that ordinary requests do not look their devices up every time.
SECOND_FACTOR_SETTLED = "tier2_2fa_settled"
# When the session was last kept alive (epoch seconds); see SessionIdleMiddleware.
SESSION_SEEN = "tier2_seen"
SESSION_REFRESH_SECONDS = 60


def settle_sign_in(request, user) -> None:
    """At sign-in: remember in the session whether this user owes a second factor, and start
    the idle clock. (A role that starts to require 2FA applies from the user's next sign-in.)"""
    session = getattr(request, "session", None)
    if session is None:
        return
    session[SESSION_SEEN] = int(time.time())
    services.agent_seen(user.pk)
    if accounts.sign_in_step(user) is None:
        session[SECOND_FACTOR_SETTLED] = user.pk


class SessionIdleMiddleware:
    """Sessions end after TIER2_SESSION_IDLE_MINUTES without a request (SESSION_COOKIE_AGE).

    A session in use is saved again, which moves its expiry on, at most once a minute rather
    than on every request: an idle timeout precise to the minute, without a session write per
    page or poll. The same minute tick tells dispatch the agent is still at the console (the
    idle rule of "available", docs/dispatch.md). Must come after SessionMiddleware.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if session is not None and session.session_key:
            now = int(time.time())
            if now - session.get(SESSION_SEEN, 0) >= SESSION_REFRESH_SECONDS:
                session[SESSION_SEEN] = now
                user_id = session.get(SESSION_KEY)
                if user_id is not None and str(user_id).isdigit():
                    services.agent_seen(int(user_id))
        return self.get_response(request)


class TwoFactorMiddleware:
    """Sends a signed-in user who owes a second factor to it before any other page.

    Owing one means: not verified in this session (django-otp's `OTPMiddleware`, which must come
    before), and either having a device (verify) or a role that requires one (enrol). On the API
    such a session does not count (the request goes on as anonymous), so a password alone never
    opens the API through the browser's session; tokens are not affected.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or user.is_verified():
            return None
        if request.resolver_match.url_name in OPEN_URL_NAMES:
            return None
        if request.session.get(SECOND_FACTOR_SETTLED) == user.pk:
            return None
        step = accounts.sign_in_step(user)
        if step is None:
            return None
        if _is_api_request(request):
            request.user = AnonymousUser()
            return None
        target = "two_factor_verify" if step is accounts.SignInStep.VERIFY else "two_factor_enrol"
        here = request.get_full_path() if request.method in ("GET", "HEAD") else ""
        query = f"?{urlencode({REDIRECT_FIELD_NAME: here})}" if here else ""
        return redirect_to(request, reverse(target) + query)


# --- Pages ----------------------------------------------------------------------------------
class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}
        ),
    )


def _next_url(request) -> str:
    return safe_next(request, reverse(settings.LOGIN_REDIRECT_URL))


def _with_next(request, name: str) -> str:
    wanted = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME)
    return reverse(name) + (f"?{urlencode({REDIRECT_FIELD_NAME: wanted})}" if wanted else "")


@login_required
def two_factor(request):
    """The user's two-factor sign-in: whether it is set up, and what they can do about it."""
    user = request.user
    context = {
        "policy": accounts.two_factor_policy(user),
        "enabled": accounts.has_two_factor(user),
        "codes_left": accounts.recovery_codes_left(user),
        "remove_form": CodeForm(),
    }
    return render(request, "account/two_factor.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def enrol(request):
    """Set up an authenticator app: scan the QR code (or type the secret), confirm with a code,
    then see the recovery codes once."""
    user = request.user
    try:
        accounts.check_may_enrol(user=user)
    except TicketError as error:
        messages.error(request, str(error.message))
        return redirect("two_factor")
    key = request.session.get(ENROL_SECRET_SESSION_KEY)
    if not key:
        key = request.session[ENROL_SECRET_SESSION_KEY] = accounts.new_totp_secret()
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with form_errors(form):
            device, codes = accounts.confirm_enrolment(
                user=user, key=key, code=form.cleaned_data["code"]
            )
            del request.session[ENROL_SECRET_SESSION_KEY]
            otp_login(request, device)  # the code just given is this session's second factor
            request.session.cycle_key()
            request.session[NEW_CODES_SESSION_KEY] = codes
            messages.success(request, _("Two-factor sign-in is on."))
            return redirect(_with_next(request, "two_factor_recovery_codes"))
    uri = accounts.provisioning_uri(user=user, key=key)
    context = {
        "form": form,
        "qr_svg": mark_safe(  # noqa: S308 - segno's own markup of our URI, no user HTML
            segno.make(uri, error="m").svg_inline(
                light="#fff",
                scale=5,
                title=_("QR code for your authenticator app"),
                svgclass="qr-code",
            )
        ),
        "secret": " ".join(_groups_of(accounts.totp_secret_base32(key), 4)),
        "required": accounts.two_factor_policy(user) is accounts.TwoFactor.REQUIRED,
        REDIRECT_FIELD_NAME: request.POST.get(REDIRECT_FIELD_NAME)
        or request.GET.get(REDIRECT_FIELD_NAME, ""),
    }
    return render(request, "account/enrol.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def verify(request):
    """The second step of signing in: a code from the app, or a recovery code."""
    user = request.user
    if user.is_verified() or accounts.sign_in_step(user) is not accounts.SignInStep.VERIFY:
        return redirect(_next_url(request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = accounts.verify_second_factor(user=user, code=form.cleaned_data["code"])
        except InvalidInput as error:
            for message in error.errors.get("code", []):
                form.add_error("code", str(message))
        except TicketError as error:
            form.add_error("code", str(error.message))
        else:
            otp_login(request, device)
            request.session.cycle_key()
            if isinstance(device, StaticDevice):
                left = accounts.recovery_codes_left(user)
                messages.warning(
                    request,
                    ngettext(
                        "You used a recovery code: %(left)d is left. Make new ones if you "
                        "lost your phone.",
                        "You used a recovery code: %(left)d are left. Make new ones if you "
                        "lost your phone.",
                        left,
                    )
                    % {"left": left},
                )
            return redirect(_next_url(request))
    context = {
        "form": form,
        REDIRECT_FIELD_NAME: request.POST.get(REDIRECT_FIELD_NAME)
        or request.GET.get(REDIRECT_FIELD_NAME, ""),
    }
    return render(request, "account/verify.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def recovery_codes(request):
    """GET: the codes just made, once. POST: make ten new ones (the old ones stop working)."""
    if request.method == "POST":
        try:
            request.session[NEW_CODES_SESSION_KEY] = accounts.regenerate_recovery_codes(
                user=request.user
            )
        except TicketError as error:
            messages.error(request, str(error.message))
            return redirect("two_factor")
        return redirect("two_factor_recovery_codes")
    codes = request.session.pop(NEW_CODES_SESSION_KEY, None)
    if not codes:
        return redirect("two_factor")
    context = {"codes": codes, "continue_url": _next_url(request)}
    response = render(request, "account/recovery_codes.html", context)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def remove(request):
    """Remove the app and the recovery codes; one more valid code is asked for."""
    form = CodeForm(request.POST)
    if form.is_valid():
        try:
            accounts.remove_two_factor(user=request.user, code=form.cleaned_data["code"])
        except TicketError as error:
            messages.error(request, _message_of(error))
        else:
            request.session.pop(SECOND_FACTOR_SETTLED, None)  # the rules decide again
            messages.success(request, _("Two-factor sign-in is off."))
    else:
        messages.error(request, _("Enter a code to remove two-factor sign-in."))
    return redirect("two_factor")


def _message_of(error: TicketError) -> str:
    if isinstance(error, InvalidInput):
        return " ".join(str(message) for field in error.errors.values() for message in field)
    return str(error.message)


def _groups_of(text: str, size: int) -> list[str]:
    return [text[start : start + size] for start in range(0, len(text), size)]
