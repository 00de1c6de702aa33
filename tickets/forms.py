"""Console forms. A transition's form is built from the inputs its `step(...)` declares.

Forms only turn HTTP into the values a service takes (and show the service's field errors);
the rules themselves, including whether an input is acceptable now, stay in the services.
Every ticket form carries the state the page showed (`expected_state`), so an action taken on a
stale page is refused by the service instead of applied to a ticket that has moved on.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .flows.base import Input, closing_code_choices
from .models import ContactOutcome, GamasIncident, MessageChannel, MessageLanguage

TEXT_MAX = 4000  # the services' limit on free text (services.TEXT_INPUT_MAX)
LONG_TEXT_INPUTS = {"note", "reason", "answer"}
BLANK_CHOICE = [("", "—")]


def _rupiah(amount) -> str:
    return f"Rp {int(amount):,}".replace(",", ".")


def offer_choices(machine) -> list[tuple[str, str]]:
    """The Webcare offers on the ticket's line, as the Webcare check recorded them."""
    offers = (machine.facts or {}).get("webcare") or []
    choices = []
    for offer in offers:
        if not isinstance(offer, dict) or not offer.get("code"):
            continue
        price = _rupiah(offer.get("monthly_price_idr", 0))
        choices.append((offer["code"], f"{offer.get('name', offer['code'])} (+{price})"))
    return choices


def field_for(spec: Input, machine) -> forms.Field:
    """The form field for one declared input of a transition."""
    common = {"label": spec.label, "required": spec.required}
    if spec.kind == "closing_code":
        return forms.ChoiceField(
            choices=BLANK_CHOICE + closing_code_choices(spec, machine), **common
        )
    if spec.kind == "choice":
        return forms.ChoiceField(choices=BLANK_CHOICE + list(spec.choices), **common)
    if spec.kind == "incident":
        return forms.ModelChoiceField(
            queryset=GamasIncident.objects.filter(state="open").order_by("-opened_at"),
            empty_label="—",
            **common,
        )
    if spec.kind == "offer":
        return forms.ChoiceField(
            choices=BLANK_CHOICE + offer_choices(machine),
            help_text=_("The offers Webcare returned for this line."),
            **common,
        )
    rows = 3 if spec.name in LONG_TEXT_INPUTS else 1
    widget = forms.Textarea(attrs={"rows": rows}) if rows > 1 else forms.TextInput
    return forms.CharField(max_length=TEXT_MAX, widget=widget, strip=True, **common)


class StatefulForm(forms.Form):
    """A form about a ticket as the page showed it."""

    expected_state = forms.CharField(widget=forms.HiddenInput, max_length=32)

    def __init__(self, *args, machine, **kwargs):
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("expected_state", machine.state)
        super().__init__(*args, **kwargs)
        self.machine = machine

    def inputs(self) -> dict:
        """The cleaned values the service takes (without the page's state)."""
        return {
            name: value for name, value in self.cleaned_data.items() if name != "expected_state"
        }


class TransitionForm(StatefulForm):
    """The inputs one transition asks for (note, closing code, escalation reason, ...)."""

    def __init__(self, *args, option, **kwargs):
        kwargs.setdefault("prefix", option.name)  # several action forms on one page
        super().__init__(*args, **kwargs)
        self.option = option
        for spec in option.inputs:
            self.fields[spec.name] = field_for(spec, self.machine)


class ContactAttemptForm(StatefulForm):
    """One call to the customer and how it ended."""

    outcome = forms.ChoiceField(
        label=_("Outcome"), choices=ContactOutcome.choices, widget=forms.RadioSelect
    )
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "contact")
        super().__init__(*args, **kwargs)


class NoteForm(forms.Form):
    text = forms.CharField(
        label=_("Note"), max_length=TEXT_MAX, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "note")
        super().__init__(*args, **kwargs)


class IncidentForm(forms.Form):
    """Open a gamas incident over an area."""

    title = forms.CharField(label=_("Title"), max_length=200)
    area_level = forms.ChoiceField(
        label=_("Area level"),
        choices=[("odp", "ODP"), ("olt", "OLT"), ("sto", "STO")],
    )
    area_code = forms.CharField(label=_("Area code"), max_length=32)


BULK_ACTIONS = (
    ("take", _("Take the selected tickets")),
    ("assign", _("Assign the selected tickets to an agent")),
    ("release", _("Release the selected tickets to the queue")),
)


class TicketIdsField(forms.TypedMultipleChoiceField):
    """Ticket ids ticked on the page; which of them the user may act on is the services' call."""

    def __init__(self, **kwargs):
        super().__init__(coerce=int, **kwargs)

    def valid_value(self, value) -> bool:
        return str(value).isdigit() and len(str(value)) < 12


class BulkChildrenForm(forms.Form):
    """One action on several tickets of a gamas incident."""

    action = forms.ChoiceField(label=_("Action"), choices=BLANK_CHOICE + list(BULK_ACTIONS))
    tickets = TicketIdsField(
        label=_("Tickets"), error_messages={"required": _("Select at least one ticket.")}
    )
    agent = forms.ChoiceField(label=_("Agent"), required=False)

    def __init__(self, *args, agent_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent"].choices = BLANK_CHOICE + list(agent_choices)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") == "assign" and not cleaned.get("agent"):
            self.add_error("agent", _("Choose the agent to assign the tickets to."))
        return cleaned


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", **kwargs)


class MessageWishesForm(forms.Form):
    """What the customer asked of the messages the workflow sends them (the customer panel).
    Whether the user may record it, and whether the quiet hours make sense, is
    `services.set_message_preferences`'s."""

    messages_opt_out = forms.BooleanField(
        label=_("No messages"),
        required=False,
        help_text=_("The customer asked not to receive SMS or WhatsApp messages about tickets."),
    )
    message_channel = forms.ChoiceField(
        label=_("Channel"), choices=MessageChannel.choices, widget=forms.RadioSelect
    )
    message_language = forms.ChoiceField(
        label=_("Language"), choices=MessageLanguage.choices, widget=forms.RadioSelect
    )
    quiet_from = forms.TimeField(label=_("Quiet from"), required=False, widget=TimeInput())
    quiet_until = forms.TimeField(label=_("Quiet until"), required=False, widget=TimeInput())

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "wishes")
        super().__init__(*args, **kwargs)
