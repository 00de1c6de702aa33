"""Keyset pagination for the queues: pages of 50 by (sort key, id), never OFFSET, never COUNT.

A page link carries the id of the row it continues from (`?after=123` or `?before=123`); the
sort values of that row are read by primary key and the next page is the rows strictly after
(or before) them in the queue's order. Cost stays the same on page 1 and page 20,000, and a
ticket that arrives or leaves while an agent pages does not shift the others.
NULLs sort last in both directions on every database, so the order is the same on SQLite and
PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce
from operator import and_, or_

from django.db.models import F, Q, QuerySet

from ..filtersets import SORT_EXPRESSIONS, with_sort_keys

PAGE_SIZE = 50


@dataclass
class KeysetPage:
    rows: list = field(default_factory=list)
    after: int | None = None  # id to continue from for the next page
    before: int | None = None  # id to go back from for the previous page
    is_first: bool = True


def _parse(order: tuple[str, ...], model) -> list[tuple[str, bool, bool]]:
    """(field name, descending, nullable) for each key of the order."""
    keys = []
    for key in order:
        name = key.lstrip("-")
        column = "pk" if name in ("id", "pk") else name
        # An expression key (the running deadline) may be NULL, like a nullable column.
        nullable = column in SORT_EXPRESSIONS or (
            column != "pk" and model._meta.get_field(column).null
        )
        keys.append((column, key.startswith("-"), nullable))
    return keys


def _ordering(keys, *, reverse: bool):
    exprs = []
    for name, descending, nullable in keys:
        down = descending != reverse
        expr = F(name)
        if nullable:
            # NULLs last in the forward order, hence first when walking backwards.
            exprs.append(
                expr.desc(nulls_first=True) if down and reverse else
                expr.desc(nulls_last=True) if down else
                expr.asc(nulls_first=True) if reverse else
                expr.asc(nulls_last=True)
            )  # fmt: skip
        else:
            exprs.append(expr.desc() if down else expr.asc())
    return exprs


def _beyond(name, descending, nullable, value, *, backwards: bool) -> Q | None:
    """Rows strictly beyond `value` on one key in the walking direction (None: no such rows)."""
    forward_greater = not descending
    if backwards:
        # Before a value: smaller (ascending) or larger (descending) non-null values; before a
        # NULL every non-null value comes.
        if value is None:
            return Q(**{f"{name}__isnull": False})
        return Q(**{f"{name}__lt" if forward_greater else f"{name}__gt": value})
    if value is None:
        return None  # nothing comes after NULL but other NULLs, which tie
    beyond = Q(**{f"{name}__gt" if forward_greater else f"{name}__lt": value})
    return beyond | Q(**{f"{name}__isnull": True}) if nullable else beyond


def _equal(name, value) -> Q:
    return Q(**{f"{name}__isnull": True}) if value is None else Q(**{name: value})


def _keyset_filter(keys, values: dict, *, backwards: bool) -> Q:
    alternatives = []
    for index, (name, descending, nullable) in enumerate(keys):
        beyond = _beyond(name, descending, nullable, values[name], backwards=backwards)
        if beyond is None:
            continue
        ties = [_equal(other, values[other]) for other, _d, _n in keys[:index]]
        alternatives.append(reduce(and_, [*ties, beyond]))
    return reduce(or_, alternatives) if alternatives else Q(pk__in=[])


def _cursor_values(queryset: QuerySet, keys, cursor) -> dict | None:
    try:
        cursor_id = int(cursor)
    except (TypeError, ValueError):
        return None
    names = [name for name, _d, _n in keys]
    rows = queryset.model._base_manager.filter(pk=cursor_id)
    expressions = {name: SORT_EXPRESSIONS[name]() for name in names if name in SORT_EXPRESSIONS}
    return rows.annotate(**expressions).values(*names).first()


def keyset_page(
    queryset: QuerySet,
    order: tuple[str, ...],
    *,
    after=None,
    before=None,
    size: int = PAGE_SIZE,
) -> KeysetPage:
    """One page of `queryset` in `order` (whose last key must be unique, e.g. id)."""
    queryset = with_sort_keys(queryset, order)
    keys = _parse(order, queryset.model)
    if "pk" not in [name for name, _d, _n in keys]:
        keys.append(("pk", False, False))
    backwards = before not in (None, "") and after in (None, "")
    cursor = before if backwards else after
    values = _cursor_values(queryset, keys, cursor) if cursor not in (None, "") else None

    rows_query = queryset.order_by(*_ordering(keys, reverse=backwards))
    if values is not None:
        rows_query = rows_query.filter(_keyset_filter(keys, values, backwards=backwards))
    rows = list(rows_query[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if backwards and not more:
        return keyset_page(queryset, order, size=size)  # back at the start: a full first page
    if backwards:
        rows.reverse()
        has_previous, has_next = more, values is not None
    else:
        has_previous, has_next = values is not None, more
    return KeysetPage(
        rows=rows,
        after=rows[-1].pk if rows and has_next else None,
        before=rows[0].pk if rows and has_previous else None,
        is_first=not has_previous,
    )
