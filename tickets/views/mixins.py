"""The one place where the services' domain errors become what the console shows.

Views call services and let `TicketError`s fly; `maps_domain_errors` turns them into a message
on the fresh page (or a 403 page), so no view repeats the mapping and none ends in a 500:

- `TransitionForbidden` on a page view (GET): the 403 page with the reason;
  on an action (POST): the reason as a message, and the page again.
- `ConcurrentChange`: the page was stale; say so and show the ticket as it is now.
- `TicketAlreadyClaimed`: say who holds the ticket.
- any other `TicketError` (not allowed now, a condition not met, no ticket waiting, bad input
  the view had no form for): its message, and the page again.

`form_errors(form)` is the companion for views that have a form: `InvalidInput` raised by the
service lands next to the fields it names (or on the form when it names none of them).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django_htmx.http import HttpResponseClientRedirect

from ..exceptions import (
    ConcurrentChange,
    InvalidInput,
    TicketAlreadyClaimed,
    TicketError,
    TransitionForbidden,
)
from ..flows import FLOWS, GamasIncidentMachine
from ..models import GamasIncident, Ticket


def redirect_to(request, url: str):
    """A redirect that htmx follows as a page load (a plain 302 would be swapped in place)."""
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    return HttpResponseRedirect(url)


def safe_next(request, default: str) -> str:
    """The `next` the form carried, if it points back into this site; else `default`."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return default


def ticket_state_now(ticket_id) -> str:
    """The label of the state a ticket is in now (for the stale-page message)."""
    row = Ticket.objects.filter(pk=ticket_id).values("flow", "state").first()
    if row is None:
        return ""
    state = FLOWS[row["flow"]].states.get(row["state"])
    return str(state.label) if state else row["state"]


def incident_state_now(incident_id) -> str:
    state = GamasIncident.objects.filter(pk=incident_id).values_list("state", flat=True).first()
    info = GamasIncidentMachine.states.get(state) if state else None
    return str(info.label) if info else (state or "")


def stale_message(state: str = "") -> str:
    if state:
        return _(
            "Someone else changed this while you were looking at it: it is now “%(state)s”. "
            "Your action was not applied; here is how it is now."
        ) % {"state": state}
    return _(
        "Someone else changed this while you were looking at it. Your action was not applied; "
        "here is how it is now."
    )


def claimed_message(error: TicketAlreadyClaimed) -> str:
    who = error.context.get("assignee")
    if who:
        return _("%(who)s has already taken this ticket.") % {"who": who}
    return str(error.message)


def message_for(error: TicketError, state_now: str = "") -> str:
    if isinstance(error, ConcurrentChange):
        return stale_message(state_now)
    if isinstance(error, TicketAlreadyClaimed):
        return claimed_message(error)
    if isinstance(error, InvalidInput):
        details = "; ".join(" ".join(str(m) for m in msgs) for msgs in error.errors.values())
        return f"{error.message} {details}".strip()
    return str(error.message)


def maps_domain_errors(
    fresh_url: Callable[..., str] | str, *, state_of: Callable[[int], str] = ticket_state_now
):
    """Decorate a view so a domain error shows as a message on the fresh page, never a 500.

    `fresh_url(request, **view_kwargs)` (or a URL name) is where the user sees the state now:
    for a ticket action, the ticket's workspace. `state_of(pk)` names the state the row of the
    view's `pk` is in now, for the stale-page message.
    """

    def fresh(request, kwargs) -> str:
        if callable(fresh_url):
            return fresh_url(request, **kwargs)
        return resolve_url(fresh_url)

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                return view(request, *args, **kwargs)
            except Ticket.DoesNotExist as missing:
                raise Http404(_("No such ticket.")) from missing
            except TransitionForbidden as error:
                if request.method in ("GET", "HEAD"):
                    raise PermissionDenied(str(error.message)) from error
                messages.error(request, message_for(error))
                return redirect_to(request, fresh(request, kwargs))
            except TicketError as error:
                stale = isinstance(error, ConcurrentChange)
                state = state_of(kwargs["pk"]) if stale and "pk" in kwargs else ""
                level = messages.WARNING if stale else messages.ERROR
                messages.add_message(request, level, message_for(error, state))
                return redirect_to(request, fresh(request, kwargs))

        return wrapper

    return decorate


@contextmanager
def form_errors(form):
    """Put the service's InvalidInput on the form: each message beside the field it names."""
    try:
        yield
    except InvalidInput as error:
        for field, field_messages in error.errors.items():
            target = field if field in form.fields else None
            for message in field_messages:
                form.add_error(target, str(message))
