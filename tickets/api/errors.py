"""Maps the domain errors of `tickets.exceptions` to HTTP responses, once, for the whole API."""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..exceptions import (
    ConcurrentChange,
    ConditionNotMet,
    InvalidInput,
    NoTicketAvailable,
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
    (NoTicketAvailable, status.HTTP_404_NOT_FOUND),
    (TicketError, status.HTTP_400_BAD_REQUEST),
)


def exception_handler(exc, context):
    if isinstance(exc, TicketError):
        code = next(code for cls, code in STATUS_BY_ERROR if isinstance(exc, cls))
        body = {"detail": str(exc.message), "code": type(exc).__name__}
        if isinstance(exc, InvalidInput):
            body["errors"] = exc.errors
        body.update({key: value for key, value in exc.context.items() if isinstance(value, str)})
        return Response(body, status=code)
    return drf_exception_handler(exc, context)
