"""The vendored TMF621 document as the judge of our answers: JSON Schema validators for its
components, shared by the TMF621 tests (the conformance test loads the same document)."""

from datetime import datetime
from functools import cache
from pathlib import Path

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC = Path(__file__).resolve().parents[2] / "docs/api/tmf621/TMF621-Trouble_Ticket-v5.0.1.oas.yaml"


def pin_discriminators(node):
    """OpenAPI's `discriminator` picks one branch of a `oneOf` by `@type`; plain JSON Schema
    does not know it, and a PartyRef (whose shape PartyRoleRef extends) would match both
    branches. Pin each mapped branch to its `@type`, as schemathesis does."""
    if isinstance(node, dict):
        mapping = (node.get("discriminator") or {}).get("mapping") or {}
        prop = (node.get("discriminator") or {}).get("propertyName")
        if mapping and "oneOf" in node:
            by_ref = {ref: name for name, ref in mapping.items()}
            node["oneOf"] = [
                {"allOf": [branch, {"properties": {prop: {"enum": [by_ref[branch["$ref"]]]}}}]}
                if branch.get("$ref") in by_ref
                else branch
                for branch in node["oneOf"]
            ]
        for value in node.values():
            pin_discriminators(value)
    elif isinstance(node, list):
        for value in node:
            pin_discriminators(value)


@cache
def spec_validator(schema_name: str):
    spec = yaml.safe_load(SPEC.read_text())
    pin_discriminators(spec)
    registry = Registry().with_resource("urn:tmf621", Resource(contents=spec, specification=DRAFT4))
    return jsonschema.Draft4Validator(
        {"$ref": f"urn:tmf621#/components/schemas/{schema_name}"}, registry=registry
    )


DATE_FIELDS = ("creationDate", "lastUpdate", "expectedResolutionDate", "resolutionDate",
               "statusChangeDate")  # fmt: skip


def assert_trouble_ticket(body: dict) -> dict:
    """`body` is a TroubleTicket as the spec defines it (its dates RFC 3339 in UTC)."""
    validator = spec_validator("TroubleTicket_RES")
    errors = [f"{list(error.path)}: {error.message}" for error in validator.iter_errors(body)]
    assert not errors, errors
    assert body["@type"] == "TroubleTicket"
    for name in DATE_FIELDS:
        if name in body:
            assert body[name].endswith("Z"), body[name]
            datetime.fromisoformat(body[name])
    return body


def assert_tmf_error(response, status: int, *params: str) -> dict:
    body = response.json()
    assert response.status_code == status, body
    errors = [f"{list(e.path)}: {e.message}" for e in spec_validator("Error").iter_errors(body)]
    assert not errors, errors
    assert body["@type"] == "Error" and body["status"] == str(status)
    for param in params:
        assert param in body["errors"], body
    return body
