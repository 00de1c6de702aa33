"""Two-factor sign-in: who must use it, and its writes (enrol, verify, recovery codes, remove).

The second factor is a code from an authenticator app, a TOTP (RFC 6238: six digits, a new one
every 30 seconds, from a secret the app and the console share), kept as django-otp's
`TOTPDevice`. Beside it the user gets ten single-use recovery codes, django-otp's `StaticDevice`
and its `StaticToken`s, for the day the phone is lost. A user who has either device must pass
one of its codes after the password in every new session (`sign_in_step`).

Who must enrol is a setting: the roles in `TIER2_2FA_REQUIRED_ROLES` (production: Supervisor,
Support and Admin) and agents when `TIER2_2FA_AGENTS` is "required". API tokens are not
affected: a token is a credential of its own.

Sign-in lockouts after failed passwords are django-axes' (settings `AXES_*`), not this module's.
"""

from __future__ import annotations

import base64
import binascii
import enum
import math
import os
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp import devices_for_user, user_has_device
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .. import roles
from ..exceptions import ConditionNotMet, InvalidInput, TransitionForbidden
from ..models import Role

RECOVERY_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
TOTP_DIGITS = 6
SECRET_BYTES = 20  # 160 bits, as RFC 4226 recommends for HMAC-SHA1

ROLE_CHECKS = {
    Role.SUPERVISOR: roles.is_supervisor,
    Role.SUPPORT: roles.is_support,
    Role.ADMIN: roles.is_admin,
}


class TwoFactor(enum.StrEnum):
    """What the rules say about a user's second factor."""

    REQUIRED = "required"  # must enrol before any console page
    OPTIONAL = "optional"  # may enrol
    OFF = "off"  # not offered (agents with TIER2_2FA_AGENTS=off)


class SignInStep(enum.StrEnum):
    """What a signed-in user who has not passed a second factor in this session must do."""

    ENROL = "enrol"
    VERIFY = "verify"


def two_factor_policy(user) -> TwoFactor:
    """Required for the roles of `TIER2_2FA_REQUIRED_ROLES` (an admin also passes the
    Supervisor check, a superuser every one); agents follow `TIER2_2FA_AGENTS`; anyone else
    may enrol."""
    if any(ROLE_CHECKS[Role(name)](user) for name in settings.TIER2_2FA_REQUIRED_ROLES):
        return TwoFactor.REQUIRED
    if roles.is_agent(user):
        agents = TwoFactor(settings.TIER2_2FA_AGENTS)
        if agents is not TwoFactor.OFF or not any(check(user) for check in ROLE_CHECKS.values()):
            return agents
    return TwoFactor.OPTIONAL


def has_two_factor(user) -> bool:
    """The user has a confirmed device (an app, or recovery codes left over)."""
    return user_has_device(user, confirmed=True)


def sign_in_step(user) -> SignInStep | None:
    """For a signed-in user who has not passed a second factor in this session: verify a code
    if they have a device (whatever the rules say now), enrol if the rules require it, else
    nothing."""
    if has_two_factor(user):
        return SignInStep.VERIFY
    if two_factor_policy(user) is TwoFactor.REQUIRED:
        return SignInStep.ENROL
    return None


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


# --- Enrolment ------------------------------------------------------------------------------
def new_totp_secret() -> str:
    """A fresh random secret, hex as `TOTPDevice.key` stores it (no row yet: the device is
    written only once the user proves their app has it)."""
    return binascii.hexlify(os.urandom(SECRET_BYTES)).decode()


def totp_secret_base32(key: str) -> str:
    """The secret as an authenticator app takes it when typed in (RFC 4648 base32)."""
    return base64.b32encode(binascii.unhexlify(key)).decode().rstrip("=")


def provisioning_uri(*, user, key: str) -> str:
    """The otpauth:// URI the QR code carries (the Key Uri Format of authenticator apps)."""
    return TOTPDevice(user=user, key=key, digits=TOTP_DIGITS).config_url


def check_may_enrol(*, user) -> None:
    """Raise if the user may not set up an app now: not offered to them, or one is set up."""
    if two_factor_policy(user) is TwoFactor.OFF:
        raise TransitionForbidden(_("Two-factor sign-in is not offered to agents here."))
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise ConditionNotMet(
            _("Two-factor sign-in is already set up. Remove it first to set up another app.")
        )


def confirm_enrolment(*, user, key: str, code: str) -> tuple[TOTPDevice, list[str]]:
    """Write the user's app (TOTP device) once `code` shows their app holds the secret `key`,
    and give them their recovery codes (returned here, and never shown again).

    Any earlier recovery codes are replaced. The code used is spent: the same code cannot then
    pass a verification (the device remembers its time step).
    """
    code = _digits(code)
    totp = TOTP(key=binascii.unhexlify(key), step=30, t0=0, digits=TOTP_DIGITS, drift=0)
    totp.time = time.time()
    if not (len(code) == TOTP_DIGITS and totp.verify(int(code), tolerance=1)):
        raise InvalidInput(
            {"code": [_("This code does not match. Enter the code your app shows now.")]}
        )
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()  # one at a time
        check_may_enrol(user=user)
        TOTPDevice.objects.filter(user=user).delete()  # none confirmed (checked): leftovers
        device = TOTPDevice.objects.create(
            user=user,
            name=TOTP_DEVICE_NAME,
            key=key,
            digits=TOTP_DIGITS,
            confirmed=True,
            last_t=totp.t(),
        )
        codes = _replace_recovery_codes(user)
    return device, codes


# --- Verification ---------------------------------------------------------------------------
def verify_second_factor(*, user, code: str):
    """The device that accepts `code`: the app for six digits, else the recovery codes (a
    recovery code is used up). Raises `InvalidInput` for a wrong code and `ConditionNotMet`
    while django-otp holds the device back after wrong codes (1, 2, 4, 8… seconds)."""
    totp = _digits(code)
    if len(totp) == TOTP_DIGITS:
        device_class, token = TOTPDevice, totp
    else:
        device_class, token = StaticDevice, _recovery_code(code)
    accepted, held_until = None, None
    with transaction.atomic():  # the throttle's failure count commits with the attempt
        devices = device_class.objects.devices_for_user(user, confirmed=True)
        for device in devices.select_for_update():
            allowed, details = device.verify_is_allowed()
            if not allowed:
                held_until = (details or {}).get("locked_until") or timezone.now()
                continue
            if device.verify_token(token):
                accepted = device
                break
    if accepted is not None:
        return accepted
    if held_until is not None:
        seconds = max(1, math.ceil((held_until - timezone.now()).total_seconds()))
        raise ConditionNotMet(
            _("Too many wrong codes. Wait %(seconds)d seconds, then try again.")
            % {"seconds": seconds}
        )
    raise InvalidInput(
        {
            "code": [
                _(
                    "This code is not valid. Enter the code your app shows now, or one of your "
                    "recovery codes."
                )
            ]
        }
    )


# --- Recovery codes and removal ---------------------------------------------------------------
def regenerate_recovery_codes(*, user) -> list[str]:
    """Ten new recovery codes in place of the old ones (which stop working at once)."""
    with transaction.atomic():
        if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            raise ConditionNotMet(_("Set up two-factor sign-in first."))
        return _replace_recovery_codes(user)


def remove_two_factor(*, user, code: str) -> None:
    """Remove the user's app and recovery codes, after one more valid code (a session left
    open is not enough). If the rules require a second factor, they must enrol again."""
    verify_second_factor(user=user, code=code)
    with transaction.atomic():
        for device in devices_for_user(user, confirmed=None):
            device.delete()


def _replace_recovery_codes(user) -> list[str]:
    device, _created = StaticDevice.objects.get_or_create(
        user=user, name=RECOVERY_DEVICE_NAME, defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def _digits(code: str) -> str:
    """A TOTP as typed: spaces allowed ("123 456"); anything but digits makes it no TOTP."""
    compact = "".join((code or "").split())
    return compact if compact.isdigit() else ""


def _recovery_code(code: str) -> str:
    """A recovery code as typed: any case, spaces or dashes allowed."""
    return "".join(ch for ch in (code or "").lower() if ch not in " -\t")
