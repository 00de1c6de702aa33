"""Filters shared by the console's queues and the API's ticket list (one definition of each)."""

import django_filters
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from .models import Customer, Flow, Priority, Service, SlaStatus, Ticket, running_deadline

# Sort keys that are not columns but expressions, by the name the sorts use. "Most urgent" is
# the deadline that runs now (`models.running_deadline`: claim-by while the ticket waits for its
# first agent, resolve-by once taken, none while paused with Support or closed, which sort
# last), then priority, then number; indexes hold the same expression (docs/console.md).
RUNNING_DEADLINE = "running_deadline"
SORT_EXPRESSIONS = {RUNNING_DEADLINE: running_deadline}

SORTS = {
    "urgent": (RUNNING_DEADLINE, "priority", "id"),
    "resolve_by": ("resolve_by", "id"),
    "priority": ("priority", RUNNING_DEADLINE, "id"),
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
}


def sort_keys(sort: str, *, closed_only: bool = False) -> tuple[str, ...]:
    """The keys of the sort named `sort` (unknown: "urgent"). Among closed tickets alone the
    running deadline is NULL on every row, so it is left out: the same order (then priority,
    then number), which an index of the columns serves without the open tickets' expression."""
    keys = SORTS.get(sort, SORTS["urgent"])
    if closed_only:
        keys = tuple(key for key in keys if key.lstrip("-") != RUNNING_DEADLINE)
    return keys


def with_sort_keys(queryset, order):
    """The queryset with the expression keys of `order` available to sort and filter on."""
    wanted = {key.lstrip("-") for key in order} & SORT_EXPRESSIONS.keys()
    present = queryset.query.annotations
    return queryset.alias(**{name: SORT_EXPRESSIONS[name]() for name in wanted - present.keys()})


def sorted_queryset(queryset, order):
    """`queryset` in `order`, NULLs last (a paused or closed ticket has no running deadline)."""
    queryset = with_sort_keys(queryset, order)
    keys = []
    for key in order:
        name = key.lstrip("-")
        if name in SORT_EXPRESSIONS:
            expr = F(name)
            keys.append(
                expr.desc(nulls_last=True) if key.startswith("-") else expr.asc(nulls_last=True)
            )
        else:
            keys.append(key)
    return queryset.order_by(*keys)


def ticket_number_to_id(text: str) -> int | None:
    """`T2-0001234`, `t2-1234` or `1234` → 1234; anything else → None."""
    digits = text.upper().removeprefix("T2-").removeprefix("T2")
    return int(digits) if digits.isascii() and digits.isdigit() and len(digits) < 12 else None


class TicketQueueFilter(django_filters.FilterSet):
    flow = django_filters.ChoiceFilter(choices=Flow.choices)
    state = django_filters.CharFilter(max_length=32)
    priority = django_filters.TypedChoiceFilter(choices=Priority.choices, coerce=int)
    sla_status = django_filters.ChoiceFilter(choices=SlaStatus.choices)
    site = django_filters.CharFilter(field_name="site__code", max_length=8)
    assignee = django_filters.CharFilter(method="filter_assignee", max_length=32)
    open = django_filters.BooleanFilter(field_name="closed_at", lookup_expr="isnull")
    q = django_filters.CharFilter(method="filter_text", max_length=64, label=_("Search"))
    sort = django_filters.ChoiceFilter(
        choices=[(key, key) for key in SORTS], method="filter_sort", empty_label=None
    )

    class Meta:
        model = Ticket
        fields = ["flow", "state", "priority", "sla_status", "site"]

    def filter_assignee(self, queryset, name, value):
        """`me`, `none`, or a user id."""
        if value == "me":
            return queryset.filter(assignee=self.request.user) if self.request else queryset
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        if value.isascii() and value.isdigit() and len(value) < 12:
            return queryset.filter(assignee_id=int(value))
        return queryset.none()

    def filter_text(self, queryset, name, value):
        """Text with a digit: a ticket, service or NOSSA number (exact); otherwise part of a
        customer's name. Every number holds digits, so a name search is the name alone: the
        customers found by the name's trigram index (PostgreSQL), then their lines' tickets,
        instead of testing every ticket's joined customer."""
        value = value.strip()
        if not value:
            return queryset
        if not any(ch.isdigit() for ch in value):
            customers = Customer.objects.filter(name__icontains=value).values("pk")
            return queryset.filter(service__in=Service.objects.filter(customer__in=customers))
        # The line's id read first: three conditions on the ticket's own indexes, which the
        # database can combine, rather than an OR across a join it would test on every ticket.
        lines = list(Service.objects.filter(service_number=value).values_list("pk", flat=True))
        exact = Q(service_id__in=lines) | Q(nossa_number=value.upper())
        ticket_id = ticket_number_to_id(value)
        if ticket_id is not None:
            exact |= Q(pk=ticket_id)
        return queryset.filter(exact)

    def filter_sort(self, queryset, name, value):
        closed_only = self.form.cleaned_data.get("open") is False
        return sorted_queryset(queryset, sort_keys(value, closed_only=closed_only))
