"""Who may call which part of the API: the console's roles, asked through `tickets.roles`.

These are the coarse gates (is this person staff, a supervisor, an admin). What a user may do
to one ticket (its flow, its site, who holds it) is decided by the services and selectors and
answered as 403 by `tickets.api.errors`, exactly as in the console.
"""

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import SAFE_METHODS, BasePermission

from .. import roles
from ..flows.gamas import incident_managers


def is_staff_role(user) -> bool:
    """An agent, supervisor, Support or admin (a user with no role sees nothing)."""
    return bool(user and user.is_authenticated and roles.works_in_console(user))


class StaffRole(BasePermission):
    message = _("Your account has no role in the console.")

    def has_permission(self, request, view) -> bool:
        return is_staff_role(request.user)


class Supervisor(BasePermission):
    """Supervisors and admins (admins hold the supervise permission too)."""

    message = _("Only supervisors may do this.")

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated) and roles.is_supervisor(
            request.user
        )


class SupervisorReadsAdminWrites(BasePermission):
    """SLA policies: supervisors read them, admins configure them."""

    message = _("Only admins may change SLA policies; supervisors may read them.")

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return roles.is_supervisor(user) or roles.is_admin(user)
        return roles.is_admin(user)


class MessageTemplates(SupervisorReadsAdminWrites):
    """Customer message templates: supervisors and admins read them, admins write them."""

    message = _("Only admins may change message templates; supervisors may read them.")


class CalendarReaders(SupervisorReadsAdminWrites):
    """Business calendars (read only in the API): whoever reads the SLA policies, supervisors
    and admins."""

    message = _("Only supervisors and admins may read business calendars.")


class StaffReadsSupervisorWrites(BasePermission):
    """Campaigns: every staff role reads them, supervisors and admins write them."""

    message = _("Only supervisors and admins may change campaigns.")

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return is_staff_role(request.user)
        return bool(request.user and request.user.is_authenticated) and roles.is_supervisor(
            request.user
        )


class IncidentManager(BasePermission):
    """Gamas incidents: supervisors, Support and admins, the people who open, recover and close
    them (`incident_managers`, the rule of the incident's machine and of the console's incident
    pages). Agents find the open incidents among the choices of their link step instead."""

    message = _("The gamas incidents are for supervisors, Support and admins.")

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated) and incident_managers(None, user)
