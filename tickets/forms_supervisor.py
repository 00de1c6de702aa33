"""Forms of the supervisor, Support and admin pages: dashboard filters, the dashboard's reassign,
the escalation desk's answers and hand-overs, the SLA policy editor, the business calendars of the
admin, the call-list upload, the Callback record entered by hand and the message templates.

As in `tickets.forms`, a form only turns HTTP into the values a service or a read takes; the
rules of a write stay in the services (`tickets.services`). The SLA
policy and calendar forms are the exception that holds their rules: they are configuration,
saved as rows.
"""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import sla
from .dashboards import DashboardFilter
from .forms import BLANK_CHOICE, TEXT_MAX
from .models import (
    BusinessCalendar,
    Campaign,
    Flow,
    ImportKind,
    MessageChannel,
    MessageEvent,
    Site,
    SlaHours,
    SlaPolicy,
)
from .services import imports

DEFAULT_DAYS = 7
MAX_RANGE_DAYS = 366
# Longest target an admin may set: 60 days (a target must also fit in the working time of the
# calendars it counts on, `sla.targets_that_do_not_fit`, or ticket arrival would fail).
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
    """The targets of one flow and priority, and the hours they count on.

    Rules: every target is a positive number of minutes (at most 60 days), the claim target no
    longer than the resolve target; "a business calendar" needs the calendar (any other choice
    drops it); every target must fit in the working time of each calendar the policy may count
    on (the named one, or every site's: `sla.targets_that_do_not_fit`).
    """

    class Meta:
        model = SlaPolicy
        fields = [
            "claim_minutes",
            "resolve_minutes",
            "escalation_answer_minutes",
            "hours",
            "calendar",
        ]
        widgets = {"hours": forms.RadioSelect}
        labels = {
            "claim_minutes": _("Claim within (minutes)"),
            "resolve_minutes": _("Resolve within (minutes)"),
            "escalation_answer_minutes": _("Support answers escalations within (minutes)"),
            "hours": _("The minutes count"),
            "calendar": _("Business calendar"),
        }
        help_texts = {
            "hours": _(
                "On a site's calendar, a ticket counts the hours and time zone of the site it "
                "arrived at; a site without a calendar counts 24x7."
            ),
            "calendar": _(
                "The calendar of “A business calendar”. Calendars and their holidays are "
                "kept in the admin."
            ),
        }

    MINUTE_FIELDS = ("claim_minutes", "resolve_minutes", "escalation_answer_minutes")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.MINUTE_FIELDS:
            self.fields[name] = minutes_field(self.fields[name].label)
        self.fields["hours"].choices = list(SlaHours.choices)
        self.fields["calendar"].required = False
        self.fields["calendar"].empty_label = "—"

    def clean(self):
        cleaned = super().clean()
        claim, resolve = cleaned.get("claim_minutes"), cleaned.get("resolve_minutes")
        if claim and resolve and claim > resolve:
            self.add_error(
                "claim_minutes", _("The claim target cannot be longer than the resolve target.")
            )
        hours = cleaned.get("hours")
        if hours != SlaHours.CALENDAR:
            cleaned["calendar"] = None  # no stale calendar on a 24x7 or site policy
        elif cleaned.get("calendar") is None and "calendar" not in self.errors:
            self.add_error("calendar", _("Choose the business calendar."))
        if not self.errors:
            targets = {name: cleaned[name] for name in self.MINUTE_FIELDS}
            calendars = sla.calendars_counted(hours, cleaned.get("calendar"))
            for name, calendar in sla.targets_that_do_not_fit(targets, calendars).items():
                self.add_error(
                    name,
                    _("This target is too long for the working time of %(calendar)s: shorten it.")
                    % {"calendar": calendar.name},
                )
        return cleaned


class BusinessCalendarForm(forms.ModelForm):
    """A business calendar in the admin.

    Rules: the day ends after it starts; at least one working weekday; and when SLA policies
    count on the calendar (named, or through a site), their targets still fit in its working
    time, so no arrival can fail on it.
    """

    weekdays = forms.TypedMultipleChoiceField(
        label=_("Working weekdays"),
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = BusinessCalendar
        fields = [
            "name",
            "time_zone",
            "day_starts",
            "day_ends",
            "weekdays",
            "national_holidays",
            "collective_leave",
        ]
        widgets = {
            "day_starts": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "day_ends": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }
        help_texts = {
            "national_holidays": _("Hari libur nasional, from the holidays library."),
            "collective_leave": _(
                "Cuti bersama (SKB 3 Menteri), from the holidays library. Days of this "
                "calendar below close or open a date whatever these say."
            ),
        }

    def clean(self):
        cleaned = super().clean()
        starts, ends = cleaned.get("day_starts"), cleaned.get("day_ends")
        if starts is not None and ends is not None and starts >= ends:
            self.add_error("day_ends", _("The working day must end after it starts."))
        if not cleaned.get("weekdays") and "weekdays" not in self.errors:
            self.add_error("weekdays", _("Choose at least one working day."))
        if not self.errors and self.instance.pk:
            self._check_policies_fit(cleaned)
        return cleaned

    def _check_policies_fit(self, cleaned) -> None:
        fields = BusinessCalendarForm.Meta.fields  # the admin's subclass lists more
        trial = BusinessCalendar(pk=self.instance.pk, **{name: cleaned[name] for name in fields})
        calendar = sla.WorkingCalendar.of(trial, self.instance.days.values_list("date", "kind"))
        counting = Q(hours=SlaHours.CALENDAR, calendar=self.instance)
        if self.instance.sites.exists():
            counting |= Q(hours=SlaHours.SITE)
        for policy in SlaPolicy.objects.filter(counting):
            targets = {name: getattr(policy, name) for name in SlaPolicyForm.MINUTE_FIELDS}
            if sla.targets_that_do_not_fit(targets, [calendar]):
                self.add_error(
                    None,
                    _(
                        "The SLA policy %(policy)s counts on this calendar, and its targets "
                        "would not fit in so little working time."
                    )
                    % {"policy": policy},
                )


class SiteForm(forms.ModelForm):
    """A site in the admin: the SLA policies that count on the site's calendar must fit in the
    working time of the calendar chosen for it."""

    class Meta:
        model = Site
        fields = ["code", "name", "calendar", "dispatch_mode", "offer_seconds"]

    def clean(self):
        cleaned = super().clean()
        chosen = cleaned.get("calendar")
        if chosen is None or self.errors:
            return cleaned
        calendar = sla.compiled(chosen)
        for policy in SlaPolicy.objects.filter(hours=SlaHours.SITE):
            targets = {name: getattr(policy, name) for name in SlaPolicyForm.MINUTE_FIELDS}
            if sla.targets_that_do_not_fit(targets, [calendar]):
                self.add_error(
                    "calendar",
                    _(
                        "The SLA policy %(policy)s counts on the site's calendar, and its "
                        "targets would not fit in this calendar's working time."
                    )
                    % {"policy": policy},
                )
        return cleaned


# --- Call lists and Callback records (tickets/views/imports.py) --------------------------------
class ImportUploadForm(forms.Form):
    """A CSV call list to import: its kind, its campaign (C4 Caring, Ideas) and the file.

    Only the size is checked here, before the file is read; whether it is a CSV list of the
    kind (UTF-8, line 1 naming the columns, rows under it) is `imports.start_import`'s call,
    the same as for `POST /api/imports/`.
    """

    kind = forms.ChoiceField(label=_("List"), choices=BLANK_CHOICE + list(ImportKind.choices))
    campaign = forms.ModelChoiceField(
        label=_("Campaign"),
        queryset=Campaign.objects.none(),
        required=False,
        to_field_name="code",
        empty_label="—",
        help_text=_(
            "C4 Caring and Ideas lists: the campaign of every row, unless a row names its own "
            "in a campaign column. Force Close lists have none."
        ),
    )
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "UTF-8 CSV (Excel: CSV UTF-8), at most 20 MB; line 1 names the columns. "
            "See the columns below."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        campaigns = Campaign.objects.filter(
            active=True, flow__in=(Flow.C4_CARING, Flow.IDEAS)
        ).order_by("flow", "code")
        self.fields["campaign"].queryset = campaigns
        self.fields["campaign"].label_from_instance = lambda campaign: (
            f"{campaign.name} ({campaign.code}, {campaign.get_flow_display()})"
        )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > imports.MAX_FILE_BYTES:
            raise forms.ValidationError(
                _("The file is over %(mb)d MB.") % {"mb": imports.MAX_FILE_BYTES // 2**20}
            )
        return upload


def _rule(rule):
    """A form field check from one of the intake's field rules (ValueError -> form error)."""

    def check(value):
        try:
            return rule(value)
        except ValueError as problem:
            raise forms.ValidationError(str(problem)) from problem

    return check


class CallbackRecordForm(forms.Form):
    """One Callback record typed in by a supervisor (a record the pull has not brought in).

    The fields follow the intake's rules (`services.imports` field rules, as the CSV lists and
    the ingestion API check them). The customer fields are for a line the console does not know
    yet: all empty, and I-SISKA is asked for them, as the Callback pull does.
    """

    record_id = forms.CharField(
        label=_("Callback record"), max_length=12, help_text=_("CB and 10 digits.")
    )
    service_number = forms.CharField(label=_("Service number"), max_length=12)
    summary = forms.CharField(
        label=_("Reason for the callback"),
        max_length=255,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    reported_at = forms.DateTimeField(
        label=_("Recorded at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("When the customer called; empty: now."),
    )
    customer_name = forms.CharField(label=_("Customer name"), required=False, max_length=128)
    phone = forms.CharField(label=_("Phone"), required=False, max_length=32)
    sto = forms.CharField(label=_("STO"), required=False, max_length=16)
    olt = forms.CharField(label=_("OLT"), required=False, max_length=16)
    odp = forms.CharField(label=_("ODP"), required=False, max_length=16)
    address = forms.CharField(label=_("Address"), required=False, max_length=255)
    package = forms.CharField(label=_("Package"), required=False, max_length=64)

    LINE_FIELDS = ("customer_name", "phone", "sto", "olt", "odp", "address", "package")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["record_id"].validators.append(_rule(imports.clean_callback_record))
        self.fields["service_number"].validators.append(_rule(imports.clean_service_number))
        rules = {**imports.SERVICE_FIELDS, **imports.OPTIONAL_SERVICE_FIELDS}
        for name in self.LINE_FIELDS:
            self.fields[name].validators.append(_rule(rules[name]))

    def clean_record_id(self):
        return imports.clean_callback_record(self.cleaned_data["record_id"])

    def clean_phone(self):
        phone = self.cleaned_data.get("phone", "")
        return imports.clean_phone(phone) if phone else ""

    def clean_reported_at(self):
        reported_at = self.cleaned_data.get("reported_at")
        if reported_at and reported_at > timezone.now():
            raise forms.ValidationError(_("A record cannot be from the future."))
        return reported_at

    def service_fields(self) -> dict | None:
        """The new line's fields as given, or None (none given: ask I-SISKA)."""
        given = {name: (self.cleaned_data.get(name) or "").strip() for name in self.LINE_FIELDS}
        return given if any(given.values()) else None


# --- Message templates (tickets/views/customer_messages.py) -------------------------------------
class MessageTemplateForm(forms.Form):
    """A message template as an administrator writes it. Only the shape is read here (a known
    event, flow and channel, text of a sane length); what a text may say (its placeholders, its
    SMS parts, WhatsApp's rules) is `services.save_template`'s, whose refusals land beside the
    fields they name."""

    event = forms.ChoiceField(label=_("Event"), choices=BLANK_CHOICE + list(MessageEvent.choices))
    flow = forms.ChoiceField(
        label=_("Flow"),
        required=False,
        help_text=_(
            "Messages are sent for NOSSA, IVR Gamas and Fresh Lapul reports; a flow's own "
            "template wins over the one for every flow."
        ),
    )
    channel = forms.ChoiceField(label=_("Channel"), choices=MessageChannel.choices)
    text_id = forms.CharField(
        label=_("Text in Indonesian"),
        required=False,
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    text_en = forms.CharField(
        label=_("Text in English"),
        required=False,
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Empty: customers who want English get the Indonesian text."),
    )
    whatsapp_name = forms.CharField(
        label=_("WhatsApp template name"),
        required=False,
        max_length=64,
        help_text=_("WhatsApp only: the name under which WhatsApp approved this text."),
    )
    active = forms.BooleanField(label=_("Active"), required=False)

    # What a template may leave empty; the event and the Indonesian text it needs (the service
    # says so: the form asks nothing twice, the page marks them required).
    OPTIONAL = ("text_en", "whatsapp_name")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["flow"].choices = [("", _("Every flow")), *Flow.choices]
        self.fields["event"].required = False
        self.fields["event"].help_text = _("The placeholders a text may use depend on the event.")
        for name in ("event", "text_id"):
            self.fields[name].widget.attrs["aria-required"] = "true"
