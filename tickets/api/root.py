"""`/api/`: where the API's entry points are, for a person or a client finding their way.

It names the OpenAPI schema and its browsable docs, the token endpoint, every resource of the
console API and the TMF621 API, as absolute links. Only addresses: anyone may read it (each
address still asks for its own credentials), and it is not part of the OpenAPI contract.
"""

from django.urls import NoReverseMatch, reverse
from drf_spectacular.utils import extend_schema
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


@extend_schema(exclude=True)
class ApiRootView(APIView):
    # As every endpoint: a bad token answers 401 with WWW-Authenticate (tickets.api.views.ApiView).
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [AllowAny]
    # Set by tickets.api.urls: the resources' (prefix, basename) pairs of its router.
    registry: tuple[tuple[str, str], ...] = ()

    def get(self, request, *args, **kwargs):
        def link(name: str) -> str:
            return request.build_absolute_uri(reverse(name))

        resources = {}
        for prefix, basename in self.registry:
            try:
                resources[prefix] = link(f"{basename}-list")
            except NoReverseMatch:  # a resource with no list of its own (ingest/<source>/)
                continue
        return Response(
            {
                "schema": link("api-schema"),
                "docs": link("api-docs"),
                "token": link("api-token"),
                "resources": resources,
                "tmf621": {
                    "troubleTicket": link("tmf-trouble-ticket-list"),
                    "hub": link("tmf-hub-list"),
                },
            }
        )
