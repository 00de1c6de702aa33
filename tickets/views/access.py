"""Who may open the supervisor, Support and admin pages: one decorator per page family.

A user without the role gets the 403 page with the reason (not a redirect to the login page:
they are logged in, just not allowed). Anonymous users go to the login page first.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _

from .. import roles
from ..flows.gamas import incident_managers


def role_required(check: Callable[[object], bool], reason: str):
    """Log in first, then let through only users for whom `check(user)` holds."""

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not check(request.user):
                raise PermissionDenied(str(reason))
            return view(request, *args, **kwargs)

        return login_required(wrapper)

    return decorate


def may_see_incidents(user) -> bool:
    """The gamas incident pages: supervisors, Support and admins, who manage the incidents (the
    incident machine's `incident_managers`, also the API's rule). Agents meet an incident on
    the tickets linked to it."""
    return incident_managers(None, user)


def may_see_escalation_desk(user) -> bool:
    """Support works the desk; supervisors (and admins) read it."""
    return roles.is_support(user) or roles.is_supervisor(user)


supervisor_required = role_required(
    roles.is_supervisor, _("Only supervisors and admins open the dashboards.")
)
desk_required = role_required(
    may_see_escalation_desk, _("Only Support and supervisors open the escalation desk.")
)
incidents_required = role_required(
    may_see_incidents, _("The gamas incidents are for supervisors, Support and admins.")
)
admin_required = role_required(roles.is_admin, _("Only admins edit the SLA policies."))
