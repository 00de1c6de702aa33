"""The golden SOP table (docs/sop-transitions.csv) is exactly what the machines declare.

The table is the reviewed expectation, written by hand from the SOP (section 8) and DESIGN.md:
one row per transition per source state, with its target, who may take it (the permission
function's name) and the closing codes it accepts. Any difference, a row missing from the
machines or a transition the table does not know, fails with the rows spelled out.

`golden_rows()` is also the source of the table-driven expectations of test_flows_table.py,
test_flows_property.py and test_evidence.py.
"""

import csv
from functools import cache
from pathlib import Path
from typing import NamedTuple

from django.conf import settings

from tickets.flows import FLOWS, GamasIncidentMachine

GOLDEN = Path(settings.BASE_DIR) / "docs" / "sop-transitions.csv"
HEADER = ["flow", "transition", "source", "target", "permission", "closing_codes"]
MACHINES = {str(flow): machine for flow, machine in FLOWS.items()} | {
    "gamas_incident": GamasIncidentMachine
}
SEPARATOR = "|"


class Row(NamedTuple):
    """One transition from one source state. `targets` has several states only for Support's
    answer (back to where the ticket was escalated from); `codes` is empty unless it closes."""

    flow: str
    transition: str
    source: str
    targets: tuple[str, ...]
    permission: str
    codes: tuple[str, ...]

    def __str__(self) -> str:
        return ",".join(
            [*self[:3], SEPARATOR.join(self.targets), self.permission, SEPARATOR.join(self.codes)]
        )

    @property
    def target(self) -> str:
        (only,) = self.targets
        return only


def split(cell: str) -> tuple[str, ...]:
    return tuple(item for item in cell.split(SEPARATOR) if item)


@cache
def golden_lines() -> tuple[list[str], tuple[list[str], ...]]:
    with GOLDEN.open(newline="", encoding="utf-8") as handle:
        header, *lines = csv.reader(handle)
    return header, tuple(lines)


@cache
def golden_rows() -> tuple[Row, ...]:
    _header, lines = golden_lines()
    return tuple(
        Row(flow, name, source, split(targets), permission, split(codes))
        for flow, name, source, targets, permission, codes in lines
    )


def golden_of(flow: str) -> list[Row]:
    return [row for row in golden_rows() if row.flow == flow]


def golden_row(flow: str, transition: str, source: str) -> Row:
    (row,) = [r for r in golden_of(flow) if (r.transition, r.source) == (transition, source)]
    return row


def declared_rows() -> list[Row]:
    """The same table, read from the machines (django-fsm's transitions and our metadata)."""
    rows = []
    for flow, machine in MACHINES.items():
        for found in machine._meta.get_field("state").get_all_transitions(machine):
            targets = (
                (found.target,)
                if isinstance(found.target, str)
                else tuple(sorted(found.target.allowed_states))
            )
            codes = sorted(
                code
                for spec in found.custom["inputs"]
                if spec.kind == "closing_code"
                # what the services accept: the input's own codes, else the machine's list
                for code, _label in (spec.choices or machine.closing_codes)
            )
            rows.append(
                Row(
                    flow, found.name, found.source, targets, found.permission.__name__, tuple(codes)
                )
            )
    return rows


# --- The file itself ----------------------------------------------------------------------------
def test_the_golden_table_has_its_header_one_row_per_transition_and_source_and_is_sorted():
    header, lines = golden_lines()
    assert header == HEADER
    assert all(len(line) == len(HEADER) for line in lines), "every row has six cells"
    keys = [row[:3] for row in golden_rows()]
    assert len(keys) == len(set(keys)), "one row per (flow, transition, source)"
    assert list(golden_rows()) == sorted(golden_rows()), "rows sorted by flow, transition, source"
    for row in golden_rows():
        assert list(row.targets) == sorted(row.targets), row
        assert list(row.codes) == sorted(row.codes), row


# --- Equality with the machines -------------------------------------------------------------
def test_the_machines_declare_exactly_the_golden_sop_table():
    golden, declared = set(golden_rows()), set(declared_rows())
    missing = sorted(golden - declared)  # reviewed, but the machines do not do it (so)
    extra = sorted(declared - golden)  # the machines do it, but nobody reviewed it
    report = [
        "docs/sop-transitions.csv and the flow machines differ.",
        "In the table, not declared by the machines (missing):",
        *(f"  - {row}" for row in missing),
        "Declared by the machines, not in the table (extra):",
        *(f"  + {row}" for row in extra),
    ]
    assert not missing and not extra, "\n".join(report)
    assert len(declared_rows()) == len(golden), "a machine declares a transition twice"


def test_the_table_covers_every_machine():
    assert {row.flow for row in golden_rows()} == set(MACHINES)


def test_every_closing_step_offers_its_own_codes_and_the_machine_labels_them_all():
    """`closing_codes` on a machine is the union of its closing steps' codes, for labels."""
    for flow, machine in MACHINES.items():
        closing = [row for row in golden_of(flow) if "closed" in row.targets]
        assert closing and all(row.codes for row in closing), flow
        union = {code for row in closing for code in row.codes}
        assert {code for code, _label in machine.closing_codes} == union, flow
        for found in machine._meta.get_field("state").get_all_transitions(machine):
            for spec in found.custom["inputs"]:
                if spec.kind == "closing_code":  # declared, not falling back to the whole list
                    assert spec.choices, (flow, found.name, found.source)
