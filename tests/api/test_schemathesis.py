"""Property-based tests of the whole API against its committed contract (schemathesis).

A live server on PostgreSQL answers requests generated from docs/api/openapi.yaml for every
operation. Valid requests (positive mode) must get a documented status code, content type and
body; invalid ones (negative mode: wrong types, missing fields, odd strings) must at least never
get a 5xx. Path ids are random, and also pinned to real rows so the generated bodies reach the
services. Examples per operation are bounded so the whole run stays well under three minutes.
"""

import time
from pathlib import Path

import pytest
import schemathesis
from django.utils import timezone
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from integrations.models import AdapterCall, CallStatus
from tests import factories
from tests.schemathesis_runs import run_operation
from tickets.models import CalendarDay, Campaign, ImportJob, MessageTemplate, Offer, SlaPolicy
from tickets.services import imports

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi.yaml"
# About 1,400 requests in all: 1 to 2 minutes on a laptop with PostgreSQL.
POSITIVE_EXAMPLES = 15
NEGATIVE_EXAMPLES = 8
PINNED_EXAMPLES = 12

CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
NO_5XX = [not_a_server_error]
TIMINGS: list[tuple[float, str, str]] = []


def seed_rows(admin) -> dict[str, int]:
    """One row of each resource, so pinned ids reach real objects (resource -> id)."""
    scene = factories.flow_scene("nossa")
    scene.escalate_from("diagnosing")
    call = AdapterCall.objects.filter(ticket=scene.ticket).first()
    AdapterCall.objects.filter(pk=call.pk).update(status=CallStatus.FAILED, error="timeout")
    incident = factories.open_gamas(actor=admin)
    campaign = Campaign.objects.create(code="ideas-fuzz", name="Ideas fuzz", flow="ideas")
    policy = SlaPolicy.objects.create(
        flow="nossa", priority=4, claim_minutes=60, resolve_minutes=600
    )
    job = ImportJob.objects.create(
        kind="ideas", campaign=campaign, file_name="a.csv", content="service_number\n",
        uploaded_by=admin, status="failed", total_rows=1,
        errors=[{"line": 2, "field": "service_number", "message": "12 digits."}],
    )  # fmt: skip
    assert imports.progress_of(job)["phase"] == "failed"
    agent = factories.agent_for("nossa")
    offer = Offer.objects.create(
        ticket=factories.flow_ticket("nossa"), agent=agent, expires_at=timezone.now()
    )
    # After the ticket's calls are seeded: a template for its close, so closing it writes one.
    template = MessageTemplate.objects.create(
        event="closed", channel="sms", text_id="Tiket {ticket_number} ditutup."
    )
    calendar = factories.calendar("Jam kerja WITA", time_zone="Asia/Makassar")
    CalendarDay.objects.create(calendar=calendar, date=timezone.localdate(), name="Hari jadi")
    return {
        "agents": agent.pk,
        "offers": offer.pk,
        "tickets": scene.ticket.pk,
        "escalations": scene.ticket.escalations.get().pk,
        "calls": call.pk,
        "gamas-incidents": incident.pk,
        "campaigns": campaign.pk,
        "sla-policies": policy.pk,
        "customers": scene.ticket.service.customer_id,
        "services": scene.ticket.service_id,
        "imports": job.pk,
        "message-templates": template.pk,
        "calendars": calendar.pk,
    }


def resource_of(path: str) -> str:
    return path.removeprefix("/api/").split("/")[0]


def test_every_operation_answers_as_its_contract_says(live_server):
    admin = factories.user("Admin", username="schemathesis-admin")
    token = Token.objects.create(user=admin).key
    pinned_ids = seed_rows(admin)
    schema = schemathesis.openapi.from_path(SCHEMA)
    schema.config.update(base_url=live_server.url)
    headers = {"Authorization": f"Token {token}"}

    def call(case, checks):
        # A fresh connection per request: keep-alive with Django's test server waits for
        # delayed ACKs (~40 ms a request); a new connection costs a few ms.
        response = case.call(headers={**headers, "Connection": "close"}, timeout=30)
        case.validate_response(response, checks=checks, headers=headers)

    failures, operations, started = [], 0, time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        failures += [failure for failure in run_all(operation, call, pinned_ids) if failure]

    elapsed = time.monotonic() - started
    print(f"schemathesis: {operations} operations in {elapsed:.0f}s, {len(failures)} failing")
    for seconds, label, mode in sorted(TIMINGS, reverse=True)[:5]:
        print(f"  slowest: {seconds:5.1f}s {label} [{mode}]")
    assert operations >= 40
    assert not failures, "\n\n".join(failures)


def run_all(operation, call, pinned_ids):
    runs = [
        {"mode": GenerationMode.POSITIVE, "checks": CONFORMANCE, "examples": POSITIVE_EXAMPLES},
        {"mode": GenerationMode.NEGATIVE, "checks": NO_5XX, "examples": NEGATIVE_EXAMPLES},
    ]
    if "{id}" in operation.path:
        runs.append(
            {
                "mode": GenerationMode.POSITIVE,
                "checks": CONFORMANCE,
                "examples": PINNED_EXAMPLES,
                "path_parameters": {"id": str(pinned_ids[resource_of(operation.path)])},
            }
        )
    return [run_operation(operation, call=call, timings=TIMINGS, **options) for options in runs]
