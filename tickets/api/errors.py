"""Maps errors to HTTP responses, once, for the whole API.

Every error body has the same shape: ``{"detail": "...", "code": "...", "errors": {...}}``.
`detail` is a sentence safe to show a user, `code` names the kind of error, `errors` (only on
400) maps each field to its messages. The domain errors of `tickets.exceptions` carry their
context (e.g. ``current_state`` on a concurrent change) as extra string keys.

| error | status |
|---|---|
| `InvalidInput`, DRF / Django validation errors, malformed bodies | 400 |
| not authenticated (no or bad token / session) | 401 |
| `TransitionForbidden` (role, site, ownership), DRF permission refusals | 403 |
| unknown object (`*.DoesNotExist`), `NoTicketAvailable` | 404 |
| `ConcurrentChange`, `TicketAlreadyClaimed`, `TransitionNotAllowed`, `ConditionNotMet`, a row
  still referenced by others (`Protected`, Django's `ProtectedError`) | 409 |

An unmatched path under /api/ answers the same JSON shape (`tickets.api.handlers.not_found`,
the root URLconf's handler404, used when DEBUG is off), not Django's HTML page.
"""

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from ..exceptions import (
    ConcurrentChange,
    ConditionNotMet,
    InvalidInput,
    NoTicketAvailable,
    Protected,
    TicketAlreadyClaimed,
    TicketError,
    TransitionForbidden,
    TransitionNotAllowed,
)

STATUS_BY_ERROR = (
    (InvalidInput, status.HTTP_400_BAD_REQUEST),
    (TransitionForbidden, status.HTTP_403_FORBIDDEN),
    (TicketAlreadyClaimed, status.HTTP_409_CONFLICT),
    (ConcurrentChange, status.HTTP_409_CONFLICT),
    (TransitionNotAllowed, status.HTTP_409_CONFLICT),
    (ConditionNotMet, status.HTTP_409_CONFLICT),
    (Protected, status.HTTP_409_CONFLICT),
    (NoTicketAvailable, status.HTTP_404_NOT_FOUND),
    (TicketError, status.HTTP_400_BAD_REQUEST),
)


def _domain_error(exc: TicketError) -> Response:
    code = next(code for cls, code in STATUS_BY_ERROR if isinstance(exc, cls))
    body = {"detail": str(exc.message), "code": type(exc).__name__}
    if isinstance(exc, InvalidInput):
        body["errors"] = exc.errors
    body.update({key: value for key, value in exc.context.items() if isinstance(value, str)})
    return Response(body, status=code)


def _translate(exc):
    """Django's own errors as the DRF exceptions that stand for them."""
    if isinstance(exc, ObjectDoesNotExist | Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return exceptions.ValidationError(exc.message_dict)
        return exceptions.ValidationError({"non_field_errors": exc.messages})
    return exc


def exception_handler(exc, context):
    if isinstance(exc, TicketError):
        set_rollback()
        return _domain_error(exc)
    if isinstance(exc, ProtectedError | RestrictedError):
        set_rollback()
        return Response(
            {
                "detail": _("Other records still refer to this one; it cannot be deleted."),
                "code": "Protected",
            },
            status=status.HTTP_409_CONFLICT,
        )
    exc = _translate(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: let Django answer 500 and log it
    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {
            "detail": str(InvalidInput.default_message),
            "code": "ValidationError",
            "errors": errors,
        }
    elif isinstance(exc, exceptions.APIException):
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        response.data = {"detail": str(detail), "code": type(exc).__name__}
    return response
