"""The committed OpenAPI contract (docs/api/openapi.yaml) is what the code generates."""

import difflib
import io
from pathlib import Path

from django.core.management import call_command

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi.yaml"
REGENERATE = "python manage.py spectacular --lang en --validate --file docs/api/openapi.yaml"


def generated_schema() -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("spectacular", "--lang", "en", "--validate", stdout=out, stderr=err)
    return out.getvalue()


def test_the_committed_schema_matches_the_code():
    committed = COMMITTED.read_text(encoding="utf-8").rstrip("\n")
    generated = generated_schema().rstrip("\n")
    if committed != generated:
        diff = "\n".join(
            list(
                difflib.unified_diff(
                    committed.splitlines(),
                    generated.splitlines(),
                    "docs/api/openapi.yaml (committed)",
                    "generated from the code",
                    lineterm="",
                )
            )[:80]
        )
        raise AssertionError(
            f"The API changed but its contract did not. Review the change, then run\n"
            f"    {REGENERATE}\nand commit the file.\n\n{diff}"
        )


def test_the_schema_generates_without_warnings():
    # --fail-on-warn turns any drf-spectacular warning or error into a CommandError.
    call_command(
        "spectacular", "--lang", "en", "--validate", "--fail-on-warn", stdout=io.StringIO()
    )
