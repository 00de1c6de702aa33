"""Domain errors raised by the services; the API and the console map each to HTTP once."""

from django.utils.translation import gettext_lazy as _


class TicketError(Exception):
    """Base of the errors a user can cause; `message` is safe to show them."""

    default_message = _("The action could not be carried out.")

    def __init__(self, message=None, **context):
        self.message = message or self.default_message
        self.context = context
        super().__init__(str(self.message))


class TransitionNotAllowed(TicketError):
    """The transition does not exist for the ticket's flow or not from its current state."""

    default_message = _("This action is not possible in the ticket's current state.")


class TransitionForbidden(TicketError):
    """The user's role, site or ownership of the ticket does not allow the action."""

    default_message = _("You are not allowed to do this on this ticket.")


class ConditionNotMet(TicketError):
    """A rule of the SOP is not satisfied yet (e.g. fewer failed calls than the policy asks)."""

    default_message = _("A condition of this action is not met.")


class InvalidInput(TicketError):
    """Inputs are missing or wrong; `errors` maps each field to its messages."""

    default_message = _("Some inputs are missing or wrong.")

    def __init__(self, errors: dict[str, list[str]], message=None):
        self.errors = errors
        super().__init__(message)


class TicketAlreadyClaimed(TicketError):
    default_message = _("Another agent has already taken this ticket.")


class ConcurrentChange(TicketError):
    """Someone else changed the ticket since the user loaded it."""

    default_message = _("The ticket was changed by someone else. Reload to see its state now.")


class NoTicketAvailable(TicketError):
    default_message = _("No ticket is waiting in your queues.")


class Protected(TicketError):
    """Other records still use this one (e.g. tickets of a campaign), so it cannot be deleted.

    The name is the API's `code`, the same as for Django's `ProtectedError` (tickets.api.errors).
    """

    default_message = _("Other records still refer to this one; it cannot be deleted.")
