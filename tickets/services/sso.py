"""Single sign-on: who a person vouched for by the identity provider is in the console.

The provider (OpenID Connect) says who the person is and which of its groups they belong to;
the console decides, on every login, what that makes them here:

- the user is found by user name (the `preferred_username` claim, else the email) or created,
  with no usable password: they log in through the provider only;
- their roles become exactly the ones their groups map to (`TIER2_OIDC_ROLE_MAP`); groups that
  are not roles are left alone, and so are `is_staff` and `is_superuser`;
- a person whose groups map to no role is refused, and loses the roles they had;
- an agent's site and flows follow the provider only when it sends them (`TIER2_OIDC_SITE_CLAIM`,
  `TIER2_OIDC_FLOWS_CLAIM`); otherwise the profile stays as a supervisor set it.

The claims come verified (signature, audience, issuer, expiry) from `tickets.auth_backends`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from ..exceptions import TicketError
from ..models import AgentProfile, Flow, Role, Site

logger = logging.getLogger(__name__)


class SsoLoginRefused(TicketError):
    """The provider vouched for the person, but the console does not let them in."""

    default_message = _("Single sign-on refused: your account has no role in this console.")


NO_ROLE = _(
    "Single sign-on refused: your account has no role in this console. Ask your administrator "
    "to add you to a group of the console."
)
NO_NAME = _("Single sign-on refused: the identity provider sent no user name or email.")
INACTIVE = _("Single sign-on refused: your account is disabled in this console.")
# User fields kept up to date from the provider's standard claims.
PROFILE_CLAIMS = (("email", "email"), ("first_name", "given_name"), ("last_name", "family_name"))


def claim(claims: Mapping, name: str):
    """A claim by name; a dotted name reaches into objects (`realm_access.roles`) unless the
    provider uses the whole name as one key (`https://example.com/groups`)."""
    if not name:
        return None
    if name in claims:
        return claims[name]
    value = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _as_list(value) -> list[str]:
    """A claim holding a list of names; a single string counts as one name."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, Iterable):
        return [str(item) for item in value if str(item).strip()]
    return [str(value)]


def roles_for_groups(groups: Iterable[str], *, role_map: Mapping[str, list[str]] | None = None):
    """The console roles that the provider's groups map to, in the console's order of roles.

    A role name that is not one of the console's roles is a configuration error, not a reason
    to let someone in with less (or more) than intended.
    """
    role_map = settings.TIER2_OIDC_ROLE_MAP if role_map is None else role_map
    unknown = sorted({role for roles in role_map.values() for role in roles} - set(Role.values))
    if unknown:
        raise ImproperlyConfigured(
            f"TIER2_OIDC_ROLE_MAP names roles the console does not have: {unknown}; "
            f"the roles are {Role.values}."
        )
    wanted = {role for group in groups for role in role_map.get(group, ())}
    return [role for role in Role.values if role in wanted]


def username_from(claims: Mapping) -> str:
    """`preferred_username`, else the email: the console's user name for this person."""
    for name in ("preferred_username", "email"):
        value = claims.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()[: get_user_model()._meta.get_field("username").max_length]
    return ""


def _set_roles(user, roles: list[str]) -> None:
    """Role groups become exactly `roles`; the user's other groups stay."""
    role_groups = Group.objects.filter(name__in=Role.values)
    user.groups.remove(*[group for group in role_groups if group.name not in roles])
    user.groups.add(*[group for group in role_groups if group.name in roles])


def _update_agent_profile(user, claims: Mapping) -> None:
    """Site and flows from the provider, each only when it is configured and sent."""
    fields = {}
    site_code = claim(claims, settings.TIER2_OIDC_SITE_CLAIM)
    if isinstance(site_code, str) and site_code.strip():
        site = Site.objects.filter(code__iexact=site_code.strip()).first()
        if site is None:
            logger.warning("SSO login of %s: unknown site %r, profile kept", user, site_code)
        else:
            fields["site"] = site
    if settings.TIER2_OIDC_FLOWS_CLAIM:
        sent = claim(claims, settings.TIER2_OIDC_FLOWS_CLAIM)
        if sent is not None:
            names = _as_list(sent)
            if len(names) == 1 and "," in names[0]:
                names = [name.strip() for name in names[0].split(",")]
            unknown = sorted(set(names) - set(Flow.values))
            if unknown:
                logger.warning("SSO login of %s: unknown flows %s ignored", user, unknown)
            fields["flows"] = [flow for flow in Flow.values if flow in names]
    if fields:
        AgentProfile.objects.update_or_create(user=user, defaults=fields)


def provision_sso_user(*, claims: Mapping):
    """The user for a person the provider has vouched for, created or brought up to date.

    Raises `SsoLoginRefused` (with a message for the person) when the console does not let
    them in: no user name, no role, or an account disabled here. A refusal for want of a role
    still commits the loss of the roles the user had.
    """
    user, refusal = _provision(claims)
    if refusal is not None:
        raise refusal
    return user


@transaction.atomic
def _provision(claims: Mapping):
    username = username_from(claims)
    if not username:
        return None, SsoLoginRefused(NO_NAME)
    groups = _as_list(claim(claims, settings.TIER2_OIDC_GROUPS_CLAIM))
    roles = roles_for_groups(groups)
    user_model = get_user_model()
    user = user_model.objects.select_for_update().filter(username=username).first()
    if not roles:
        if user is not None:
            _set_roles(user, [])  # the provider took their groups away: so does the console
        logger.warning("SSO login of %s refused: groups %s map to no role", username, groups)
        return None, SsoLoginRefused(NO_ROLE, username=username, groups=groups)
    if user is None:
        user, created = user_model.objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()
            logger.info("SSO login created user %s", username)
    if not user.is_active:
        logger.warning("SSO login of %s refused: the account is disabled", username)
        return None, SsoLoginRefused(INACTIVE, username=username)
    for field, name in PROFILE_CLAIMS:
        value = claims.get(name)
        if isinstance(value, str):
            setattr(user, field, value[: user_model._meta.get_field(field).max_length])
    user.save()
    _set_roles(user, roles)
    if Role.AGENT in roles:
        _update_agent_profile(user, claims)
    logger.info("SSO login of %s with roles %s (groups %s)", username, roles, groups)
    return user_model.objects.get(pk=user.pk), None  # fresh object: no stale permission cache
