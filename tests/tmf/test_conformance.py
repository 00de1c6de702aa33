"""Conformance of the TMF621 API with the official TMF621 v5.0.1 document itself (schemathesis).

The vendored document (docs/api/tmf621/, never edited, not a schema of ours) drives schemathesis
against a live server on PostgreSQL, for the operations we implement: the troubleTicket resource
(list, retrieve, create, patch, delete) and the event hub (createHub, hubGet, hubDelete). Each
runs as a system client and as a supervisor. Valid requests (positive mode, the document's own
examples included) must get no server error, a status code the document lists, its content type
and a body its response schema accepts; invalid ones (negative mode) must never get a 5xx.
Path ids are random, and pinned to real tickets (and each client's own subscription) so the
generated requests reach the services. Known bodies that succeed (a ticket created, a note added)
are checked the same way, so the 201 and 200 bodies are validated whatever hypothesis draws.

Where the document and this server part ways on purpose, it is said here and asserted, not
skipped:

- The document's `PartyRefOrPartyRoleRef` is a `oneOf` of `PartyRef` and `PartyRoleRef` told
  apart by a `discriminator` on `@type`; the two shapes overlap, so without the discriminator a
  `PartyRef` matches both branches and fails `oneOf`. The document's own example responses fail
  so (`test_the_document_needs_its_discriminators_to_accept_its_own_examples`). Schemathesis
  4.32.5 ignores discriminators when it validates a response (later releases pin them), so the
  document is loaded with each discriminated branch pinned to its `@type` value, which is what
  its `discriminator.mapping` says (`tests.tmf.spec.pin_discriminators`); nothing else of
  it is changed, and every check runs on every operation.
- `patchTroubleTicket` lists `application/json-patch+json` and `application/json-patch-query+json`
  bodies; we implement JSON Merge Patch (the spec: "When PATCH is implemented merge syntax is
  mandatory") and plain JSON, and answer the JSON Patch media types 415, which the operation's
  responses do not list. For those cases `status_code_conformance` is not run; the test asserts
  the 415 in the Error shape instead, and runs the other checks.

Events that ticket changes cause are delivered by a stub sender here: schemathesis subscribes
random callback URLs, which must not be dialled (the hub's own tests deliver to a real listener).
"""

import copy
import time
from types import SimpleNamespace

import jsonschema
import pytest
import schemathesis
import yaml
from django.utils import timezone
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from integrations import hub as hub_delivery
from tests import factories
from tests.schemathesis_runs import run_operation
from tests.tmf.spec import SPEC, pin_discriminators
from tickets import services
from tickets.models import Site

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BASE_PATH = "/tmf-api/troubleTicket/v5"
IMPLEMENTED = frozenset(
    {
        "listTroubleTicket",
        "retrieveTroubleTicket",
        "createTroubleTicket",
        "patchTroubleTicket",
        "deleteTroubleTicket",
        "createHub",
        "hubGet",
        "hubDelete",
    }
)
JSON_PATCH_TYPES = frozenset({"application/json-patch+json", "application/json-patch-query+json"})
# About 800 requests in all: a minute or two on a laptop with PostgreSQL.
POSITIVE_EXAMPLES = 20
NEGATIVE_EXAMPLES = 10
PINNED_EXAMPLES = 8

CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# A JSON Patch body: everything but the status code list (see the module docstring).
JSON_PATCH_CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]
NO_5XX = [not_a_server_error]
TIMINGS: list[tuple[float, str, str]] = []


class DeliveredSender:
    """Takes every event as a receiver answering 204 would."""

    def post(self, url, body, **headers):
        return SimpleNamespace(status=204, duration_ms=1)


@pytest.fixture(autouse=True)
def no_event_leaves(monkeypatch):
    monkeypatch.setattr(hub_delivery, "_sender", DeliveredSender)


@pytest.fixture(autouse=True)
def sites():
    """The sites a flush may have emptied (transactional tests flush the tables after each)."""
    for code, name in (("PST", "Pusat"), ("MLG", "Malang")):
        Site.objects.get_or_create(code=code, defaults={"name": name})


def load_document(*, pinned: bool) -> dict:
    document = yaml.safe_load(SPEC.read_text())
    if pinned:
        document = copy.deepcopy(document)
        pin_discriminators(document)
    return document


def example_problems(document: dict, schema_name: str, value) -> list[str]:
    registry = Registry().with_resource(
        "urn:tmf621", Resource(contents=document, specification=DRAFT4)
    )
    validator = jsonschema.Draft4Validator(
        {"$ref": f"urn:tmf621#/components/schemas/{schema_name}"}, registry=registry
    )
    return [error.message for error in validator.iter_errors(value)]


@pytest.mark.django_db(transaction=False)
def test_the_document_needs_its_discriminators_to_accept_its_own_examples():
    """Why the document is loaded with its discriminators pinned (see the module docstring)."""
    plain, pinned = load_document(pinned=False), load_document(pinned=True)
    examples = plain["components"]["examples"]
    for name in (
        "TroubleTicket_create_example_response",
        "TroubleTicket_retrieve_example_response",
        "TroubleTicket_partialupdate_example_application_merge_json_response",
    ):
        example = examples[name]["value"]
        problems = example_problems(plain, "TroubleTicket_RES", example)
        assert problems, name
        assert all("is valid under each of" in p or "more than one" in p for p in problems), (
            problems
        )
        assert example_problems(pinned, "TroubleTicket_RES", example) == [], name


def seed_tickets(supervisor) -> list[str]:
    """Tickets that show every part of the resource: notes, contact attempts, an assignee, an
    escalation in the history, a Fresh Lapul predecessor, a gamas incident, a closing code."""
    worked = factories.flow_scene("nossa")
    worked.walk_to("diagnosing")
    services.add_note(ticket_id=worked.ticket.pk, author=supervisor, text="Customer works nights")
    worked.escalate_from("diagnosing")

    line = factories.service_at("PST")
    earlier = factories.arrive("nossa", service=line)
    factories.put_in_state(earlier, "closed", closed_at=timezone.now(), closing_code="FIXED_REMOTE")
    lapul = factories.arrive("nossa", service=line, nossa_number="IN10000009")

    area = factories.service_at("PST")
    factories.open_gamas(actor=supervisor, area_level="odp", area_code=area.odp)
    linked = factories.arrive("gamas", service=area, source_system="ivr", source_ref="IVR-77")

    called = factories.flow_scene("callback")
    called.walk_to("closed")
    return [str(ticket.pk) for ticket in (worked.ticket, lapul, linked, called.ticket)]


def valid_ticket(owner_id: str) -> dict:
    """A body that creates a ticket (the document's own example is a bill dispute: a 400)."""
    return {
        "@type": "TroubleTicket",
        "description": "No internet since the storm",
        "severity": "Minor",
        "ticketType": "gamas",
        "externalIdentifier": [{"@type": "ExternalIdentifier", "owner": "IVR", "id": owner_id}],
        "relatedEntity": [
            {
                "@type": "RelatedEntity",
                "role": "service",
                "entity": {"@type": "EntityRef", "id": factories.service_at("PST").service_number},
            }
        ],
        "note": [{"@type": "Note", "text": "Customer calls from a neighbour's phone"}],
    }


def runs_of(operation, pinned_ids: list[str]) -> list[dict]:
    runs = [
        {"mode": GenerationMode.POSITIVE, "checks": CONFORMANCE, "examples": POSITIVE_EXAMPLES},
        {"mode": GenerationMode.NEGATIVE, "checks": NO_5XX, "examples": NEGATIVE_EXAMPLES},
    ]
    if "{id}" in operation.path:
        runs += [
            {
                "mode": GenerationMode.POSITIVE,
                "checks": CONFORMANCE,
                "examples": PINNED_EXAMPLES,
                "path_parameters": {"id": pinned},
            }
            for pinned in pinned_ids
        ]
    return runs


def caller(headers):
    def call(case, checks):
        # A fresh connection per request: keep-alive with Django's test server waits for
        # delayed ACKs (~40 ms a request); a new connection costs a few ms.
        response = case.call(headers={**headers, "Connection": "close"}, timeout=30)
        if case.media_type in JSON_PATCH_TYPES and checks is CONFORMANCE:
            assert response.status_code in (415, 401, 403, 404), response.text[:300]
            if response.status_code == 415:
                assert response.json()["@type"] == "Error"
            checks = JSON_PATCH_CHECKS
        case.validate_response(response, checks=checks, headers=headers)

    return call


def known_cases(operations, pinned_ticket: str, identity: str) -> list:
    """Requests that succeed, so their 201 / 200 bodies are checked whatever is drawn."""
    create, patch = operations["createTroubleTicket"], operations["patchTroubleTicket"]
    owner_id = f"IVR-KNOWN-{identity}"
    path = {"id": pinned_ticket}
    note = {"@type": "TroubleTicket", "note": [{"@type": "Note", "text": f"From {identity}"}]}
    return [
        (create.Case(body=valid_ticket(owner_id), media_type="application/json"), 201),
        (create.Case(body=valid_ticket(owner_id), media_type="application/json"), 201),
        (
            create.Case(
                body=valid_ticket(f"{owner_id}-2"),
                media_type="application/json",
                query={"fields": "status,ticketType,note"},
            ),
            201,
        ),
        (
            patch.Case(path_parameters=path, body=note, media_type="application/merge-patch+json"),
            200,
        ),
        (patch.Case(path_parameters=path, body=note, media_type="application/json"), 200),
    ]


def test_the_api_answers_as_the_tmf621_document_says(live_server):
    supervisor = factories.role_user("Supervisor")
    crm = factories.user("System", username="conformance-crm")
    pinned_tickets = seed_tickets(supervisor)
    identities = {}
    for name, user in (("system", crm), ("supervisor", supervisor)):
        subscription, _secret = services.create_subscription(
            owner=user, callback="http://127.0.0.1:9/events"
        )
        identities[name] = (Token.objects.create(user=user).key, str(subscription.pk))

    schema = schemathesis.openapi.from_dict(load_document(pinned=True))
    schema.config.update(base_url=f"{live_server.url}{BASE_PATH}")
    operations = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.definition.raw.get("operationId") in IMPLEMENTED:
            operations[operation.definition.raw["operationId"]] = operation
    assert set(operations) == IMPLEMENTED

    failures, requests_started = [], time.monotonic()
    for identity, (token, subscription_id) in identities.items():
        headers = {"Authorization": f"Token {token}"}
        call = caller(headers)
        for case, expected in known_cases(operations, pinned_tickets[0], identity):
            response = case.call(headers={**headers, "Connection": "close"}, timeout=30)
            try:
                assert response.status_code == expected, response.text[:500]
                case.validate_response(response, checks=CONFORMANCE, headers=headers)
            except (AssertionError, FailureGroup) as failure:
                failures.append(f"{case.operation.label} [{identity} known case]\n{failure}")
        for name, operation in sorted(operations.items()):
            pinned = [subscription_id] if name.startswith("hub") else pinned_tickets
            for options in runs_of(operation, pinned):
                failure = run_operation(operation, call=call, timings=TIMINGS, **options)
                if failure:
                    failures.append(f"[{identity}] {failure}")

    elapsed = time.monotonic() - requests_started
    print(f"TMF621 conformance: {len(operations)} operations x 2 clients in {elapsed:.0f}s")
    for seconds, label, mode in sorted(TIMINGS, reverse=True)[:5]:
        print(f"  slowest: {seconds:5.1f}s {label} [{mode}]")
    assert not failures, "\n\n".join(failures)
