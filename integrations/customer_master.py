"""I-SISKA is the customer master: how a ticket's record of its line compares with it.

A ticket carries its line's customer, address, package and network codes as they were when the
line first came in (from the demo data, a CSV list, an API push, or I-SISKA itself). I-SISKA's
profile of the line, once checked, may say otherwise: the customer gave a new number at the
front desk, the line was moved to another ODP. :func:`compare` lists the fields on which the two
disagree, so the console can say so, and decides the number to call:

**The number to call is the one I-SISKA gives**, whenever I-SISKA has answered with one: it is
the customer master, kept by the front desk, while the ticket's copy is as old as the line's
first ticket. Until I-SISKA has answered, the ticket's number is all there is.

Plain values in, plain values out: the caller maps its rows to the two dicts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

MASTER_APP = "isiska"
MASTER_NAME = "I-SISKA"

# (key in the ticket's record, key in I-SISKA's profile, label), in the order they are shown.
FIELDS: tuple[tuple[str, str, str | Promise], ...] = (
    ("customer_name", "customer_name", _("name")),
    ("phone", "phone", _("phone")),
    ("address", "address", _("address")),
    ("package", "package_name", _("package")),
    ("sto", "sto", "STO"),
    ("olt", "olt", "OLT"),
    ("odp", "odp", "ODP"),
)
_SPACES = re.compile(r"\s+")
_NOT_DIGITS = re.compile(r"\D")


def _plain(value: object) -> str:
    return _SPACES.sub(" ", str(value or "")).strip()


def same_phone(first: str, second: str) -> bool:
    """Whether two ways of writing a number dial the same line (``+62 812-…`` is ``0812…``)."""

    def digits(number: str) -> str:
        found = _NOT_DIGITS.sub("", number or "")
        return "0" + found[2:] if found.startswith("62") else found

    return digits(first) == digits(second)


def _same(field: str, first: str, second: str) -> bool:
    if field == "phone":
        return same_phone(first, second)
    return first.casefold() == second.casefold()


@dataclass(frozen=True, slots=True)
class Disagreement:
    field: str
    label: str | Promise
    on_ticket: str
    in_master: str


@dataclass(frozen=True, slots=True)
class MasterCheck:
    """What I-SISKA and the ticket say about a line, and the number to call."""

    checked: bool  # I-SISKA's profile of the line is on the ticket
    disagreements: tuple[Disagreement, ...]
    number_to_call: str
    number_from_master: bool  # the number to call is I-SISKA's
    ticket_phone: str

    @property
    def disagrees(self) -> bool:
        return bool(self.disagreements)

    @property
    def phone_differs(self) -> bool:
        return any(item.field == "phone" for item in self.disagreements)

    @property
    def fields(self) -> list[str | Promise]:
        """The labels of the fields in dispute, in the order of :data:`FIELDS`."""
        return [item.label for item in self.disagreements]


def compare(*, on_ticket: dict, master: dict | None) -> MasterCheck:
    """Compare the ticket's record of its line (keys: the first column of :data:`FIELDS`) with
    I-SISKA's profile (the second column), or with nothing when I-SISKA has not answered.

    A field either side leaves empty is not in dispute: it is unknown there, not different.
    Names, addresses and codes are compared without regard to case and spacing, phone numbers
    by the digits they dial.
    """
    ticket_phone = _plain(on_ticket.get("phone"))
    if not isinstance(master, dict) or not master:
        return MasterCheck(
            checked=False,
            disagreements=(),
            number_to_call=ticket_phone,
            number_from_master=False,
            ticket_phone=ticket_phone,
        )
    disagreements = []
    for ticket_key, master_key, label in FIELDS:
        here, there = _plain(on_ticket.get(ticket_key)), _plain(master.get(master_key))
        if here and there and not _same(ticket_key, here, there):
            disagreements.append(Disagreement(ticket_key, label, here, there))
    master_phone = _plain(master.get("phone"))
    return MasterCheck(
        checked=True,
        disagreements=tuple(disagreements),
        number_to_call=master_phone or ticket_phone,
        number_from_master=bool(master_phone),
        ticket_phone=ticket_phone,
    )
