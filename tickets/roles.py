"""Roles (Agent, Supervisor, Support, Admin) as Django groups holding the ticket permissions.

Code asks about roles through these functions, which read `user.has_perm` (cached per user
object by Django), so a superuser passes every check.
"""

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist

from .models import Role

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.AGENT: ("work_ticket",),
    Role.SUPERVISOR: ("supervise",),
    Role.SUPPORT: ("answer_escalation",),
    Role.ADMIN: ("supervise", "configure"),
}


def is_agent(user) -> bool:
    return bool(user and user.is_active and user.has_perm("tickets.work_ticket"))


def is_supervisor(user) -> bool:
    return bool(user and user.is_active and user.has_perm("tickets.supervise"))


def is_support(user) -> bool:
    return bool(user and user.is_active and user.has_perm("tickets.answer_escalation"))


def is_admin(user) -> bool:
    return bool(user and user.is_active and user.has_perm("tickets.configure"))


def profile_of(user):
    """The user's AgentProfile, or None (cached on the user object by Django)."""
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        return user.profile
    except ObjectDoesNotExist:
        return None


def works_flow(user, flow: str) -> bool:
    profile = profile_of(user)
    return bool(profile and flow in profile.flows)


def site_code_of(user) -> str | None:
    profile = profile_of(user)
    return profile.site.code if profile and profile.site_id else None


def may_work_ticket(user, ticket) -> bool:
    """An agent may take a ticket of a flow they work, at their own site.

    C4 Caring is worked by the Malang site only (SOP 8.4), whatever the agent's flows say.
    """
    if not is_agent(user) or not works_flow(user, ticket.flow):
        return False
    profile = profile_of(user)
    if ticket.flow == "c4_caring" and profile.site.code != settings.TIER2_C4_CARING_SITE:
        return False
    return profile.site_id == ticket.site_id


SITES = (("PST", "Pusat"), ("MLG", "Malang"))


def ensure_reference_data(**kwargs) -> None:
    """Create the two sites and the four role groups with their permissions.

    Runs after every migrate and every test-database flush, so they always exist.
    """
    from django.contrib.auth.models import Group, Permission

    from .models import Site

    for code, name in SITES:
        Site.objects.get_or_create(code=code, defaults={"name": name})

    for role, codenames in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        permissions = Permission.objects.filter(
            content_type__app_label="tickets", codename__in=codenames
        )
        group.permissions.add(*permissions)
