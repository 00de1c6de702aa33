"""What every TMF621 endpoint shares: who may call, how often, what it parses, how it fails.

- **Who**: token (or session) authentication; the console's staff roles and the `System` role
  (`roles.is_system`: CRM, OSS, fault management, partners). A user with no role gets 403.
- **How often**: each client (the authenticated user) has its own budget, the `tmf` rate of
  `TIER2_API_RATES`, unless `TIER2_TMF_CLIENT_RATES` names a rate for that client's username.
- **What it parses**: `application/json` and, for PATCH, `application/merge-patch+json`.
- **How it fails**: every error in the spec's `Error` shape (`@type`, `code`, `reason`,
  `message`, `status`); a 400 also carries `errors`, each field's messages. The mapping from
  domain errors to HTTP statuses is the console API's (`tickets.api.errors`), done once.
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.throttling import UserRateThrottle

from tier2.replica import ListsFromReplica

from ... import roles
from ..errors import exception_handler as api_exception_handler
from ..permissions import is_staff_role

TMF_PREFIX = "/tmf-api/troubleTicket/v5/"  # where tier2/urls.py mounts tickets.api.tmf.urls

REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


def error_body(code: int, message: str, *, kind: str = "", errors=None) -> dict:
    """The spec's `Error`: `code` names our error (`TransitionNotAllowed`, `ValidationError`...,
    `ERR<status>` when there is no better name), `reason` is the HTTP reason, `message` the
    sentence a user can read."""
    body = {
        "@type": "Error",
        "code": kind or f"ERR{code}",
        "reason": REASONS.get(code, "Error"),
        "message": message,
        "status": str(code),
    }
    if errors:
        body["errors"] = errors
    return body


def exception_handler(exc, context):
    """The console API's mapping of errors to statuses, answered in the TMF `Error` shape."""
    response = api_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data if isinstance(response.data, dict) else {}
    extra = {
        key: value
        for key, value in data.items()
        if key not in {"detail", "code", "errors"} and isinstance(value, str)
    }
    body = error_body(
        response.status_code,
        str(data.get("detail", "")),
        kind=str(data.get("code", "")),
        errors=data.get("errors"),
    )
    response.data = {**body, **extra}
    return response


def not_found(request) -> JsonResponse:
    """An unmatched path under the TMF prefix (the root URLconf's 404 handler asks for it)."""
    body = error_body(404, _("The requested URL was not found on the server."), kind="NotFound")
    return JsonResponse(body, status=status.HTTP_404_NOT_FOUND)


class MergePatchParser(JSONParser):
    """JSON Merge Patch (RFC 7386) bodies: parsed as JSON, applied by the resource."""

    media_type = "application/merge-patch+json"


class TmfClient(BasePermission):
    """Staff roles and system clients."""

    message = gettext_lazy("Your account has no role in the console or its TMF621 API.")

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated) and (
            is_staff_role(user) or roles.is_system(user)
        )


class TmfClientThrottle(UserRateThrottle):
    """One budget per client: `TIER2_TMF_CLIENT_RATES[username]`, else the `tmf` rate.

    The rate is looked up per request (DRF reads a throttle's rate when it is built, once per
    request), so a client named in the setting never shares the default budget's numbers."""

    scope = "tmf"

    def allow_request(self, request, view):
        username = getattr(request.user, "get_username", lambda: "")()
        own = settings.TIER2_TMF_CLIENT_RATES.get(username)
        if own:
            self.rate = own
            self.num_requests, self.duration = self.parse_rate(own)
        return super().allow_request(request, view)


class TmfView(ListsFromReplica):
    """Mixed into every TMF621 view (before DRF's view class)."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [TmfClient]
    throttle_classes = [TmfClientThrottle]
    parser_classes = [JSONParser, MergePatchParser]
    renderer_classes = [JSONRenderer]
    # Not part of the console API's own OpenAPI document: the TMF621 API's contract is TM
    # Forum's document (docs/api/tmf621/), which the conformance tests check it against.
    schema = None

    def get_exception_handler(self):
        return exception_handler
