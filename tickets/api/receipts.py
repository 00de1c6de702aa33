"""Receipts pushed by the message gateways: one webhook per gateway, signed, not a user endpoint.

`POST /api/hooks/sms/receipts/` and `POST /api/hooks/whatsapp/receipts/` take a batch of
receipts (`{"receipts": [{"message_id", "status", "at"?, "error"?}]}`, the body of
`integrations.adapters.receipts`) and record them through `services.messages.record_receipts`.

- **Who**: the gateway alone. No user, token or session counts here: the call is authenticated
  by `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of the exact body bytes with the
  secret the console shares with that gateway (`TIER2_SMS_WEBHOOK_SECRET`,
  `TIER2_WHATSAPP_WEBHOOK_SECRET`). No signature: 401, whoever calls; a wrong one (another
  body, the other gateway's secret): 401; a signature while no secret is set (the webhook is
  off): 403. Nothing is parsed, read or written before the signature is checked.
- **What**: a body that is not a batch of well-formed receipts is 400 with the messages of
  each field, and nothing of it is recorded. A receipt of a message id the console does not
  know is accepted and ignored (logged), so the gateway does not send it again for ever. A
  duplicate or late receipt changes nothing (a status only moves forward).
- **How often**: `TIER2_API_RATE_RECEIPTS` calls per calling address (429 beyond).

The sweep still asks the gateways (`poll_receipts`): the webhooks are the fast path, the poll
the fallback for receipts lost on the way.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import RequestDataTooBig
from django.http.request import RawPostDataException
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from integrations.adapters.receipts import SIGNATURE_HEADER, DeliveryReceipt, verify

from ..models import MessageChannel
from ..services import messages
from . import serializers as s

SECRETS = {
    MessageChannel.SMS: "TIER2_SMS_WEBHOOK_SECRET",
    MessageChannel.WHATSAPP: "TIER2_WHATSAPP_WEBHOOK_SECRET",
}


class GatewaySignature(BaseAuthentication):
    """The body signed with the view's gateway's shared secret. Succeeds with no user (an
    anonymous one) and the gateway's code as `request.auth`."""

    def authenticate(self, request):
        header = request.META.get("HTTP_" + SIGNATURE_HEADER.upper().replace("-", "_"))
        if not header:
            return None  # not authenticated: 401 from the permission check, for everyone
        gateway = request.parser_context["view"].gateway
        secret = getattr(settings, SECRETS[gateway])
        if not secret:
            raise exceptions.PermissionDenied(
                _("Receipts by webhook are off for this gateway: no shared secret is set.")
            )
        try:
            body = request.body
        except RequestDataTooBig:
            raise exceptions.ParseError(_("The body is too large.")) from None
        except RawPostDataException:  # read already (never here: nothing reads it before)
            raise exceptions.AuthenticationFailed() from None
        if not verify(body, secret=secret, header=header):
            raise exceptions.AuthenticationFailed(
                _("The signature does not match the body and this gateway's secret.")
            )
        return (AnonymousUser(), gateway)

    def authenticate_header(self, request) -> str:
        return f'HMAC-SHA256 header="{SIGNATURE_HEADER}"'


class SignedByGateway(BasePermission):
    message = _("Sign the body with this gateway's secret (the X-Hub-Signature-256 header).")

    def has_permission(self, request, view) -> bool:
        return request.auth == view.gateway


class GatewaySignatureScheme(OpenApiAuthenticationExtension):
    """The signature, in the OpenAPI schema (security scheme `gatewaySignature`)."""

    target_class = GatewaySignature
    name = "gatewaySignature"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": SIGNATURE_HEADER,
            "description": (
                "`sha256=<hex>`: the HMAC-SHA256 of the exact body bytes with the secret the "
                "console shares with the gateway (one per gateway)."
            ),
        }


class ReceiptsView(APIView):
    """A gateway's receipts (`gateway` and `body` are set by each subclass)."""

    gateway: str = ""
    receipts_serializer: type[s.serializers.Serializer]
    authentication_classes = [GatewaySignature]
    permission_classes = [SignedByGateway]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "receipts"
    parser_classes = [JSONParser]

    def post(self, request):
        body = self.receipts_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        recorded = messages.record_receipts(
            channel=self.gateway,
            receipts=[
                DeliveryReceipt(
                    message_id=item["message_id"],
                    status=item["status"],
                    at=item.get("at"),
                    error=item.get("error", ""),
                )
                for item in body.validated_data["receipts"]
            ],
        )
        return Response(s.ReceiptsRecordedSerializer(recorded).data)


DESCRIPTION = (
    "Called by the {name} gateway, not by users: a batch of receipts (what became of messages "
    "it was given), signed with the secret it shares with the console (`X-Hub-Signature-256: "
    "sha256=<hex>`, the HMAC-SHA256 of the exact body). Applied in one go: a malformed body or "
    "receipt is 400 and nothing is recorded. A receipt of an unknown message id is ignored "
    "(counted in `unknown`); a duplicate or late one changes nothing (a status only moves "
    "forward: a `delivered` after `read` stays `read`, `failed` is final)."
)
ERRORS = dict.fromkeys((400, 401, 403, 429), s.ErrorSerializer)
RECORDED = OpenApiExample(
    "Recorded",
    response_only=True,
    status_codes=["200"],
    value={"received": 2, "changed": 1, "unknown": 1},
)

SMS_EXAMPLE = OpenApiExample(
    "Delivered and failed",
    request_only=True,
    value={"receipts": [
        {"message_id": "SMS123456789012", "status": "delivered", "at": "2026-12-01T03:05:00Z"},
        {"message_id": "SMS210987654321", "status": "failed", "at": "2026-12-01T03:06:00Z",
         "error": "absent subscriber"},
    ]},
)  # fmt: skip
WHATSAPP_EXAMPLE = OpenApiExample(
    "Delivered then read",
    request_only=True,
    value={"receipts": [
        {"message_id": "wamid.12345678901234567890", "status": "delivered",
         "at": "2026-12-01T03:05:00Z"},
        {"message_id": "wamid.12345678901234567890", "status": "read",
         "at": "2026-12-01T03:09:00Z"},
    ]},
)  # fmt: skip


class SmsReceiptsView(ReceiptsView):
    gateway = MessageChannel.SMS
    receipts_serializer = s.SmsReceiptsSerializer

    @extend_schema(
        summary="Receipts pushed by the SMS gateway",
        description=DESCRIPTION.format(name="SMS"),
        request=s.SmsReceiptsSerializer,
        responses={200: s.ReceiptsRecordedSerializer, **ERRORS},
        examples=[
            SMS_EXAMPLE,
            RECORDED,
        ],
    )
    def post(self, request):
        return super().post(request)


class WhatsAppReceiptsView(ReceiptsView):
    gateway = MessageChannel.WHATSAPP
    receipts_serializer = s.WhatsAppReceiptsSerializer

    @extend_schema(
        summary="Receipts pushed by WhatsApp Business",
        description=DESCRIPTION.format(name="WhatsApp"),
        request=s.WhatsAppReceiptsSerializer,
        responses={200: s.ReceiptsRecordedSerializer, **ERRORS},
        examples=[
            WHATSAPP_EXAMPLE,
            RECORDED,
        ],
    )
    def post(self, request):
        return super().post(request)
