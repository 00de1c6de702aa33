"""Roles (Agent, Supervisor, Support, Admin) as Django groups holding the ticket permissions.

Code asks about roles through these functions, which read `user.has_perm` (cached per user
object by Django), so a superuser passes every check.
"""

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Exists, OuterRef

from .models import AgentProfile, Flow, Role, Ticket

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.AGENT: ("work_ticket",),
    Role.SUPERVISOR: ("supervise",),
    Role.SUPPORT: ("answer_escalation",),
    Role.ADMIN: ("supervise", "configure"),
    Role.SYSTEM: ("integrate",),
}


def is_agent(user) -> bool:
    return bool(user and user.is_active and user.has_perm("tickets.work_ticket"))


def is_supervisor(user) -> bool:
    return bool(user and user.is_active and user.has_perm("tickets.supervise"))


def is_support(user) -> bool:
    return bool(user and user.is_active and user.has_perm("tickets.answer_escalation"))


def is_admin(user) -> bool:
    return bool(user and user.is_active and user.has_perm("tickets.configure"))


def is_system(user) -> bool:
    """A system client (CRM, OSS, fault management, a partner) of the TMF621 API: it creates and
    follows tickets and subscribes to their events, it never works them in the console."""
    return bool(user and user.is_active and user.has_perm("tickets.integrate"))


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


def flows_at(flows, site_code: str) -> list[str]:
    """Of `flows` (an agent profile's list), those whose tickets an agent takes at the site of
    `site_code`: every flow named, except C4 Caring away from its site (SOP 8.4)."""
    c4_here = site_code == settings.TIER2_C4_CARING_SITE
    return [
        flow for flow in flows or () if flow in Flow.values and (c4_here or flow != Flow.C4_CARING)
    ]


def flows_worked_by(agent) -> list[str]:
    """The flows whose queues the agent takes tickets from, at their own site."""
    profile = profile_of(agent)
    if profile is None or profile.site_id is None:
        return []
    # The site's row is read only when it decides something: for C4 Caring.
    c4_named = Flow.C4_CARING in (profile.flows or ())
    return flows_at(profile.flows, profile.site.code if c4_named else "")


def visible_tickets(user):
    """Tickets a user may see: agents their flows at their site, a system client its scope
    (`system_scope`); other roles everything."""
    queryset = Ticket.objects.all()
    if sees_every_ticket(user):
        return queryset
    profile = profile_of(user)
    if is_system(user):
        return system_scope(user, queryset)
    if not is_agent(user) or profile is None or profile.site_id is None:
        return queryset.none()
    return queryset.filter(site_id=profile.site_id, flow__in=flows_worked_by(user))


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


def system_scope(user, tickets):
    """The tickets a system client may read: those of its profile's site and flows when its
    profile names them (a partner of one region), every ticket otherwise (the CRM)."""
    profile = profile_of(user)
    if profile is not None and profile.site_id is not None:
        tickets = tickets.filter(site_id=profile.site_id)
    if profile is not None and profile.flows:
        tickets = tickets.filter(flow__in=profile.flows)
    return tickets


def system_may_see(user, ticket) -> bool:
    """`system_scope` for one ticket already in hand (an event about to be sent)."""
    profile = profile_of(user)
    if profile is None:
        return True
    if profile.site_id is not None and ticket.site_id != profile.site_id:
        return False
    return not profile.flows or ticket.flow in profile.flows


def works_in_console(user) -> bool:
    """Whether the user has a console role (agent, supervisor, Support, admin): system clients
    and users without a role have no console pages, and no live updates."""
    return is_agent(user) or sees_every_ticket(user)


def sees_every_ticket(user) -> bool:
    """Supervisors, Support and admins see every ticket, customer and service; an agent sees
    the tickets of their flows at their site (`selectors.visible_tickets`) and the customers and
    services of those tickets only."""
    return is_supervisor(user) or is_support(user) or is_admin(user)


# --- Phone numbers --------------------------------------------------------------------------
PHONE_SHOWN = 4  # digits kept at each end of a masked number: 081234567890 -> 0812****7890
PHONE_MASK = "*"


def may_see_phone(user, ticket=None) -> bool:
    """Whether `user` may read a customer's phone number in full, shown on `ticket` (None: on a
    customer or service outside any ticket).

    Supervisors, Support and admins always may, and so may system clients (the CRM that reported
    the fault holds the number already). An agent may only on the ticket they hold: they need
    the number to call the customer. Everywhere else agents see it masked (`mask_phone`).
    """
    if sees_every_ticket(user) or is_system(user):
        return True
    holder = getattr(ticket, "assignee_id", None)
    return bool(holder is not None and getattr(user, "is_active", False) and holder == user.pk)


def mask_phone(number) -> str:
    """The number with all but its first and last four characters masked (`0812****7890`).

    A number too short to keep eight characters and still hide four keeps its last four only
    (`****5678`); blank stays blank.
    """
    text = str(number or "").strip()
    if not text:
        return ""
    hidden = len(text) - 2 * PHONE_SHOWN
    if hidden >= PHONE_SHOWN:
        return text[:PHONE_SHOWN] + PHONE_MASK * hidden + text[-PHONE_SHOWN:]
    kept = min(PHONE_SHOWN, max(len(text) - PHONE_SHOWN, 0))
    return PHONE_MASK * (len(text) - kept) + text[len(text) - kept :]


def phone_as_seen(user, ticket, number) -> str:
    """`number` as `user` may read it on `ticket`: in full or masked (see `may_see_phone`)."""
    return str(number or "") if may_see_phone(user, ticket) else mask_phone(number)


def is_phone_key(key) -> bool:
    """A key of an external application's request or answer that holds a phone number
    (I-SISKA's `phone`, the Callback app's `caller_phone`, the SMS and WhatsApp gateways' `to`;
    not flags such as `has_phone`)."""
    return isinstance(key, str) and (key in ("phone", "to") or key.endswith("_phone"))


def mask_phones_in(data):
    """A copy of a JSON document (ticket facts, a call's request or answer) with the value of
    every phone key masked."""
    if isinstance(data, dict):
        return {
            key: mask_phone(value)
            if is_phone_key(key) and isinstance(value, str)
            else mask_phones_in(value)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [mask_phones_in(item) for item in data]
    return data


SITES = (("PST", "Pusat"), ("MLG", "Malang"))
# The business calendar a site is created with: both sites are in Java, on WIB (Monday to
# Friday, 08:00-17:00, closed on national holidays and collective leave days).
SITE_CALENDAR = "Jam kerja WIB"


def ensure_reference_data(**kwargs) -> None:
    """Create the two sites (with the calendar `SITE_CALENDAR`) and the role groups with their
    permissions. A site that exists keeps the calendar an admin gave it, or none.

    Runs after every migrate and every test-database flush, so they always exist.
    """
    from django.contrib.auth.models import Group, Permission

    from .models import BusinessCalendar, Site

    missing = [(code, name) for code, name in SITES if not Site.objects.filter(code=code).exists()]
    if missing:
        calendar, _created = BusinessCalendar.objects.get_or_create(name=SITE_CALENDAR)
        for code, name in missing:
            Site.objects.get_or_create(code=code, defaults={"name": name, "calendar": calendar})

    for role, codenames in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        permissions = Permission.objects.filter(
            content_type__app_label="tickets", codename__in=codenames
        )
        group.permissions.add(*permissions)


def agent_profiles():
    """Profiles of active users whose role lets them work tickets (dispatch's agents), one row
    per user whatever the number of such groups they are in."""
    from django.contrib.auth.models import Group

    working = Group.objects.filter(user=OuterRef("user_id"), permissions__codename="work_ticket")
    return AgentProfile.objects.filter(Exists(working), user__is_active=True)
