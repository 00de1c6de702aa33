"""Forms of the supervisor, Support and admin pages: dashboard filters, the dashboard's reassign,
the escalation desk's answers and hand-overs, and the SLA policy editor.

As in `tickets.forms`, a form only turns HTTP into the values a service or a read takes; the
rules of a write stay in the services (`tickets.services`). The SLA
policy form is the exception that holds its rules: a policy is configuration, saved as a row.
"""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import sla
from .dashboards import DashboardFilter
from .forms import BLANK_CHOICE, TEXT_MAX
from .models import Flow, SlaPolicy

DEFAULT_DAYS = 7
MAX_RANGE_DAYS = 366
# Longest target an admin may set: 60 days. Beyond it a business calendar could not place the
# deadline within `sla.add_working_minutes`' bounded walk, and ticket arrival would fail.
MAX_TARGET_MINUTES = 60 * 24 * 60
WEEKDAYS = (
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class DashboardFilterForm(forms.Form):
    """Date range, site and flow of the dashboard, the SLG list and their CSV exports.

    Bound to the page's query string; a missing or wrong value falls back to its default (the
    last seven days, every site, every flow) and the page says what it did with it.
    """

    date_from = forms.DateField(label=_("From"), required=False, widget=DateInput())
    date_to = forms.DateField(label=_("To"), required=False, widget=DateInput())
    site = forms.ChoiceField(label=_("Site"), required=False)
    flow = forms.ChoiceField(label=_("Flow"), required=False)

    def __init__(self, data=None, *args, sites=(), **kwargs):
        if data is not None:
            # The range the page shows, in the fields too, when the query string has none.
            data = data.copy()
            today = timezone.localdate()
            if not data.get("date_to"):
                data["date_to"] = today.isoformat()
            if not data.get("date_from"):
                try:
                    end = date.fromisoformat(data["date_to"])
                except ValueError:
                    end = today
                data["date_from"] = (end - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
        super().__init__(data, *args, **kwargs)
        self.fields["site"].choices = [("", _("All sites")), *sites]
        self.fields["flow"].choices = [("", _("All flows")), *Flow.choices]

    def clean(self):
        cleaned = super().clean()
        today = timezone.localdate()
        date_to = cleaned.get("date_to") or today
        date_from = cleaned.get("date_from") or date_to - timedelta(days=DEFAULT_DAYS - 1)
        if date_from > date_to:
            self.add_error("date_from", _("The start of the range is after its end."))
        elif (date_to - date_from).days >= MAX_RANGE_DAYS:
            self.add_error(
                "date_from", _("Choose at most %(days)d days.") % {"days": MAX_RANGE_DAYS}
            )
        cleaned["date_from"], cleaned["date_to"] = date_from, date_to
        return cleaned

    def filters(self) -> DashboardFilter:
        """The filter to read with: the form's values if valid, else the defaults."""
        if self.is_valid():
            data = self.cleaned_data
            return DashboardFilter(
                date_from=data["date_from"],
                date_to=data["date_to"],
                site=data.get("site") or "",
                flow=data.get("flow") or "",
            )
        return DashboardFilter.last_days(DEFAULT_DAYS)

    def query(self) -> dict[str, str]:
        """The filter as query parameters (for export links and the pages' own links)."""
        filters = self.filters()
        params = {
            "date_from": filters.date_from.isoformat(),
            "date_to": filters.date_to.isoformat(),
        }
        if filters.site:
            params["site"] = filters.site
        if filters.flow:
            params["flow"] = filters.flow
        return params


def trailing(filters: DashboardFilter, days: int) -> DashboardFilter:
    """The `days` days ending at the filter's end date, same site and flow (trend charts)."""
    end: date = filters.date_to
    return DashboardFilter(
        date_from=end - timedelta(days=days - 1), date_to=end, site=filters.site, flow=filters.flow
    )


class ReleaseForm(forms.Form):
    note = forms.CharField(label=_("Note"), required=False, max_length=TEXT_MAX)


class ReassignForm(forms.Form):
    """Hand a ticket to another agent; the choices are the agents who may work it."""

    agent = forms.ChoiceField(label=_("Agent"))
    note = forms.CharField(label=_("Note"), required=False, max_length=TEXT_MAX)

    def __init__(self, *args, agent_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent"].choices = BLANK_CHOICE + list(agent_choices)
        self.fields["agent"].error_messages["invalid_choice"] = _(
            "This agent does not work this flow at this site."
        )


class AnswerForm(forms.Form):
    """Support's answer to the agent (answer) or what Support did to fix it (resolve)."""

    answer = forms.CharField(
        label=_("Answer to the agent"),
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, resolving: bool = False, **kwargs):
        kwargs.setdefault("prefix", "resolve" if resolving else "answer")
        super().__init__(*args, **kwargs)
        if resolving:
            self.fields["answer"].label = _("What Support did to resolve it")
            self.fields["answer"].help_text = _(
                "The ticket goes back to its agent to confirm with the customer and close it."
            )


class HandOverForm(forms.Form):
    support_user = forms.ChoiceField(label=_("Hand to"))

    def __init__(self, *args, support_choices=(), **kwargs):
        kwargs.setdefault("prefix", "handover")
        super().__init__(*args, **kwargs)
        self.fields["support_user"].choices = BLANK_CHOICE + list(support_choices)


def minutes_field(label) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        min_value=1,
        max_value=MAX_TARGET_MINUTES,
        error_messages={
            "min_value": _("Enter a positive number of minutes."),
            "max_value": _("Enter at most %(limit_value)s minutes (60 days)."),
        },
    )


class SlaPolicyForm(forms.ModelForm):
    """The targets of one flow and priority, and the calendar they count on.

    Rules: every target is a positive number of minutes (at most 60 days); a business calendar
    needs a start before its end and at least one working day; the targets must fit the
    calendar (see `MAX_TARGET_MINUTES`).
    """

    business_weekdays = forms.TypedMultipleChoiceField(
        label=_("Business days"),
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = SlaPolicy
        fields = [
            "claim_minutes",
            "resolve_minutes",
            "escalation_answer_minutes",
            "business_hours_only",
            "day_starts",
            "day_ends",
            "business_weekdays",
        ]
        widgets = {
            "day_starts": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "day_ends": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }
        labels = {
            "claim_minutes": _("Claim within (minutes)"),
            "resolve_minutes": _("Resolve within (minutes)"),
            "escalation_answer_minutes": _("Support answers escalations within (minutes)"),
            "business_hours_only": _("Count business hours only (otherwise 24x7)"),
            "day_starts": _("Business day starts"),
            "day_ends": _("Business day ends"),
        }

    MINUTE_FIELDS = ("claim_minutes", "resolve_minutes", "escalation_answer_minutes")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.MINUTE_FIELDS:
            self.fields[name] = minutes_field(self.fields[name].label)
        for name in ("day_starts", "day_ends"):
            self.fields[name].required = False

    def clean(self):
        cleaned = super().clean()
        claim, resolve = cleaned.get("claim_minutes"), cleaned.get("resolve_minutes")
        if claim and resolve and claim > resolve:
            self.add_error(
                "claim_minutes", _("The claim target cannot be longer than the resolve target.")
            )
        if not cleaned.get("business_hours_only"):
            # 24x7: the calendar fields mean nothing; do not keep stale values around.
            cleaned["day_starts"], cleaned["day_ends"], cleaned["business_weekdays"] = (
                None,
                None,
                [],
            )
            return cleaned
        starts, ends = cleaned.get("day_starts"), cleaned.get("day_ends")
        if starts is None and "day_starts" not in self.errors:
            self.add_error("day_starts", _("Business hours need the time the day starts."))
        if ends is None and "day_ends" not in self.errors:
            self.add_error("day_ends", _("Business hours need the time the day ends."))
        if starts is not None and ends is not None and starts >= ends:
            self.add_error("day_ends", _("The business day must end after it starts."))
        if not cleaned.get("business_weekdays"):
            self.add_error("business_weekdays", _("Choose at least one business day."))
        if not self.errors:
            self._check_fits_calendar(cleaned)
        return cleaned

    def _check_fits_calendar(self, cleaned) -> None:
        trial = SlaPolicy(
            business_hours_only=True,
            day_starts=cleaned["day_starts"],
            day_ends=cleaned["day_ends"],
            business_weekdays=cleaned["business_weekdays"],
        )
        for name in self.MINUTE_FIELDS:
            try:
                sla.add_working_minutes(timezone.now(), cleaned[name], trial)
            except ValueError:
                self.add_error(
                    name, _("This target is too long for so few business hours: shorten it.")
                )
