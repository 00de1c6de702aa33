"""The query of `GET /troubleTicket`: attribute selection, paging, sorting and filters.

TMF630's conventions, the part we serve (docs/tmf621.md, "Listing"):

- `fields=a,b`: top-level attributes to return (`id`, `href`, `@type` always); a nested name
  (`note.text`) selects its top-level attribute; names we do not produce are ignored.
- `offset` (default 0) / `limit` (default 50, at most 1000, 0 answers only the counts).
- `sort=-creationDate,priority`: the keys of `SORT_KEYS`, `-` for descending; ties are broken by
  id, so pages never overlap. Default: newest first by id.
- filters: `status`, `severity`, `priority`, `ticketType`, `channel.id`, `externalIdentifier.id`
  (alias `externalIdentifier`), `id`, each a value or a comma list (any of them); and
  `creationDate` / `lastUpdate` equal to a date-time or compared with `.gt` `.gte` `.lt`
  `.lte`. Filters on different attributes must all hold.
- Anything else is refused with 400: `filter` (JSONPath), `before` / `after` (cursor paging)
  are not implemented, and an unknown attribute filter would otherwise be silently ignored and
  answer tickets the client did not ask for.

Values are checked here and answered as 400 with each parameter's messages, so nothing a client
sends reaches the database in a shape it cannot take.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError

from ... import tmf
from ...models import Flow

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000_000  # beyond any table; keeps OFFSET inside the database's integers
NUMBER = re.compile(r"[0-9]{1,18}")

# Sort key -> the column it orders by; each has an index (ticket_created_at, ticket_updated_at,
# ticket_priority; resolve_by: ticket_open_due, for open tickets) so a sort is an index range.
SORT_KEYS: dict[str, str] = {
    "id": "id",
    "creationDate": "created_at",
    "lastUpdate": "updated_at",
    "expectedResolutionDate": "resolve_by",
    "priority": "priority",  # by urgency: Critical first when ascending
    "severity": "priority",
}
DEFAULT_ORDER = ("-id",)

DATE_FILTERS: dict[str, str] = {"creationDate": "created_at", "lastUpdate": "updated_at"}
COMPARISONS = {"": "", "gt": "__gt", "gte": "__gte", "lt": "__lt", "lte": "__lte"}
LIST_FILTERS = (
    "status",
    "severity",
    "priority",
    "ticketType",
    "channel.id",
    "externalIdentifier.id",
    "externalIdentifier",
    "id",
)
PAGING = ("fields", "offset", "limit", "sort")
NOT_IMPLEMENTED = ("filter", "before", "after")
KNOWN = frozenset(
    [
        *PAGING,
        *LIST_FILTERS,
        *(f"{name}.{op}" if op else name for name in DATE_FILTERS for op in COMPARISONS),
    ]
)


@dataclass
class TicketQuery:
    """A parsed query string: what to return, which page, in which order, filtered how."""

    fields: set[str] | None = None
    offset: int = 0
    limit: int = DEFAULT_LIMIT
    order: tuple[str, ...] = DEFAULT_ORDER
    conditions: list[Q] = field(default_factory=list)
    empty: bool = False  # a filter no ticket can match (e.g. status=cancelled)
    open_only: bool = False  # the status filter names no closed status

    def apply(self, queryset: QuerySet) -> QuerySet:
        if self.empty:
            return queryset.none()
        for condition in self.conditions:
            queryset = queryset.filter(condition)
        if self.open_only and self.order[0].lstrip("-") == "resolve_by":
            # Open tickets by deadline: the deadline index (ticket_open_due) holds open tickets
            # only, so say "open" in its own terms. Not for other orders: the planner takes
            # state and closed_at as independent and would then pick a worse plan.
            queryset = queryset.filter(closed_at__isnull=True)
        return queryset.order_by(*self.order)


def parse(params) -> TicketQuery:
    """The query of `params` (a QueryDict); raises ValidationError (400) naming each bad one."""
    errors: dict[str, list[str]] = {}
    query = TicketQuery()

    for name in params:
        if name in NOT_IMPLEMENTED:
            errors[name] = [_("This query parameter is not supported by this server.")]
        elif name not in KNOWN:
            errors[name] = [_("Unknown query parameter.")]

    def check(name, parser):
        raw = params.getlist(name)
        if not raw:
            return None
        if len(raw) > 1:
            errors[name] = [_("Give this parameter once (a comma list for several values).")]
            return None
        try:
            return parser(raw[0])
        except ValueError as error:
            errors[name] = [str(error)]
            return None

    fields = check("fields", _fields)
    query.fields = fields or None
    offset = check("offset", lambda raw: _integer(raw, 0, MAX_OFFSET))
    query.offset = 0 if offset is None else offset
    limit = check("limit", lambda raw: _integer(raw, 0, MAX_LIMIT))
    query.limit = DEFAULT_LIMIT if limit is None else limit
    query.order = check("sort", _order) or DEFAULT_ORDER

    statuses = check("status", lambda raw: _choices(raw, tmf.STATUSES))
    if statuses is not None:
        condition = _status_condition(statuses)
        if condition is None:
            query.empty = True
        else:
            query.conditions.append(condition)
            query.open_only = not {tmf.CLOSED, tmf.REJECTED, tmf.CANCELLED} & set(statuses)
    severities = check("severity", lambda raw: _choices(raw, ("Critical", "Major", "Minor")))
    if severities is not None:
        levels = {level for name in severities for level in tmf.priorities_of_severity(name)}
        query.conditions.append(Q(priority__in=sorted(levels)))
    priorities = check("priority", _priorities)
    if priorities is not None:
        query.conditions.append(Q(priority__in=sorted(priorities)))
    flows = check("ticketType", lambda raw: _choices(raw, tuple(Flow.values)))
    if flows is not None:
        query.conditions.append(Q(flow__in=flows))
    channels = check("channel.id", _values)
    if channels is not None:
        sources = [tmf.source_system_of_channel(value) for value in channels]
        query.conditions.append(Q(source_system__in=sources))
    for name in ("externalIdentifier.id", "externalIdentifier"):
        references = check(name, _values)
        if references is not None:
            query.conditions.append(Q(nossa_number__in=references) | Q(source_ref__in=references))
    ids = check("id", _ids)
    if ids is not None:
        query.conditions.append(Q(pk__in=ids))
    for name, column in DATE_FILTERS.items():
        for op, lookup in COMPARISONS.items():
            key = f"{name}.{op}" if op else name
            moment = check(key, _moment)
            if moment is not None:
                query.conditions.append(Q(**{f"{column}{lookup}": moment}))

    if errors:
        raise ValidationError(errors)
    return query


def parse_fields(params) -> set[str] | None:
    """The query of `GET /troubleTicket/{id}`: `fields` only."""
    errors = {name: [_("Unknown query parameter.")] for name in params if name != "fields"}
    raw = params.getlist("fields")
    if len(raw) > 1:
        errors["fields"] = [_("Give this parameter once (a comma list for several values).")]
    if errors:
        raise ValidationError(errors)
    return (_fields(raw[0]) or None) if raw else None


# --- Values ------------------------------------------------------------------------------------
def _integer(raw: str, low: int, high: int) -> int:
    text = raw.strip()
    message = _("Enter a whole number from %(low)d to %(high)d.") % {"low": low, "high": high}
    if not (text.isascii() and text.isdigit() and len(text) <= 12):
        raise ValueError(message)
    value = int(text)
    if not low <= value <= high:
        raise ValueError(message)
    return value


def _values(raw: str) -> list[str]:
    values = [value.strip() for value in raw.split(",") if value.strip()]
    if not values:
        raise ValueError(_("Enter a value."))
    if any(len(value) > 64 for value in values):
        raise ValueError(_("Keep each value under 65 characters."))
    if any(not value.isprintable() for value in values):  # NUL: the database refuses it
        raise ValueError(_("Remove the control characters."))
    return values


def _choices(raw: str, allowed: tuple[str, ...]) -> list[str]:
    values = _values(raw)
    unknown = [value for value in values if value not in allowed]
    if unknown:
        raise ValueError(_("Use one of: %(names)s.") % {"names": ", ".join(allowed)})
    return values


def _priorities(raw: str) -> set[int]:
    found = set()
    for value in _values(raw):
        level = tmf.priority_of_name(value)
        if level is None:
            names = ", ".join([*tmf.PRIORITY_NAMES.values(), "Normal"])
            raise ValueError(_("Use one of: %(names)s.") % {"names": names})
        found.add(level)
    return found


def _ids(raw: str) -> list[int]:
    values = _values(raw)
    if not all(NUMBER.fullmatch(value) for value in values):
        raise ValueError(_("Ticket ids are whole numbers."))
    return [int(value) for value in values]


def _fields(raw: str) -> set[str]:
    # `note.text` selects `note`: we return whole top-level attributes.
    return {name.strip().split(".", 1)[0] for name in raw.split(",") if name.strip()}


def _order(raw: str) -> tuple[str, ...]:
    keys = [key.strip() for key in raw.split(",") if key.strip()]
    if not keys:
        raise ValueError(_("Name an attribute to sort by."))
    order, seen = [], set()
    for key in keys:
        descending = key.startswith("-")
        name = key.lstrip("+-")
        if name not in SORT_KEYS:
            raise ValueError(
                _("Sort by one of: %(names)s (a leading - sorts descending).")
                % {"names": ", ".join(SORT_KEYS)}
            )
        column = SORT_KEYS[name]
        if column in seen:
            continue
        seen.add(column)
        order.append(f"-{column}" if descending else column)
    if "id" not in seen:  # ties broken by id, in the direction of the last key
        order.append("-id" if order[-1].startswith("-") else "id")
    return tuple(order)


def _moment(raw: str) -> datetime:
    """An RFC 3339 date-time (a naive one is UTC) or a date (its midnight, UTC)."""
    text = raw.strip()
    try:
        moment = parse_datetime(text)
        if moment is None:
            day = parse_date(text)
            moment = datetime.combine(day, time.min) if day is not None else None
    except ValueError:
        moment = None
    if moment is None:
        raise ValueError(_("Enter a date-time such as 2025-01-31T08:00:00Z, or a date."))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(_("Enter a date-time such as 2025-01-31T08:00:00Z, or a date.")) from None
    return moment


def _status_condition(statuses: list[str]) -> Q | None:
    """TMF statuses as SOP states: `closed` rows split on their closing codes."""
    states, closed_plain, special = tmf.states_for(statuses)
    conditions = []
    if states:
        conditions.append(Q(state__in=sorted(states)))
    specials = Q()
    for flow, code in sorted(tmf.REJECTED_CLOSINGS | tmf.CANCELLED_CLOSINGS):
        specials |= Q(flow=flow, closing_code=code)
    if closed_plain:
        conditions.append(Q(state="closed") & ~specials if specials else Q(state="closed"))
    if special:
        wanted = Q()
        for flow, code in sorted(tmf.special_closings(statuses)):
            wanted |= Q(flow=flow, closing_code=code)
        if wanted:
            conditions.append(Q(state="closed") & wanted)
    if not conditions:
        return None
    combined = conditions[0]
    for condition in conditions[1:]:
        combined |= condition
    return combined
