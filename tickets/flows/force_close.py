"""SOP 8.5 Force Close: tickets closed in NOSSA without the customer's confirmation.

new -> claimed -> verifying (Ibooster + call) ->
  {confirmed_ok -> closed | not_ok -> reopened (NOSSA reopen or new ticket) -> closed};
unreachable after the attempts: close when Ibooster shows the service healthy, else escalate.
"""

from django.utils.translation import gettext_lazy as _

from ..models import Flow
from .base import (
    CLOSED,
    ESCALATED_STATE,
    NOTE,
    REQUIRED_NOTE,
    Call,
    FlowTicket,
    Input,
    State,
    close_unreachable_step,
    closing_step,
    customer_reached,
    escalation_steps,
    step,
    take_step,
)

# Closing codes, each accepted only from the state it describes.
CONFIRMED_OK = ("CONFIRMED_OK", _("Customer confirms the service"))
REOPENED = ("REOPENED", _("Reopened in NOSSA"))
UNREACHABLE_ONLINE = ("UNREACHABLE_ONLINE", _("Unreachable, Ibooster shows online"))

REOPEN_METHODS = (
    ("reopen", _("Reopen the NOSSA ticket")),
    ("new_ticket", _("Create a new NOSSA ticket")),
)
REOPEN_METHOD = Input("reopen_as", _("How to reopen"), kind="choice", choices=REOPEN_METHODS)


class ForceCloseTicket(FlowTicket):
    flow_code = Flow.FORCE_CLOSE
    states = {
        "new": State(
            _("New"),
            _("A NOSSA ticket closed without confirmation waits for an agent."),
        ),
        "claimed": State(_("Claimed"), _("Start the verification: Ibooster, then a call.")),
        "verifying": State(
            _("Verifying"),
            _(
                "Check Ibooster and call the customer: confirmed, not OK, or unreachable "
                "(close if online, escalate if not)."
            ),
        ),
        "confirmed_ok": State(_("Confirmed OK"), _("The customer confirms the service: close.")),
        "not_ok": State(_("Not OK"), _("The fault is still there: reopen it in NOSSA.")),
        "reopened": State(_("Reopened"), _("NOSSA carries the fault again: close this check.")),
        "escalated": ESCALATED_STATE,
        CLOSED: State(_("Closed"), _("Done.")),
    }
    closing_codes = (CONFIRMED_OK, REOPENED, UNREACHABLE_ONLINE)

    class Meta:
        proxy = True

    claim = take_step()

    @step(
        source="claimed",
        target="verifying",
        label=_("Start verification"),
        calls=(Call("ibooster", "connection_status"),),
    )
    def start_verification(self, **inputs):
        pass

    @step(
        source="verifying",
        target="confirmed_ok",
        label=_("Customer confirms OK"),
        inputs=(NOTE,),
        conditions=(customer_reached,),
    )
    def confirm_ok(self, **inputs):
        pass

    @step(
        source="verifying",
        target="not_ok",
        label=_("Still not OK"),
        inputs=(REQUIRED_NOTE,),
        conditions=(customer_reached,),
    )
    def report_not_ok(self, **inputs):
        pass

    @step(
        source="not_ok",
        target="reopened",
        label=_("Reopen in NOSSA"),
        inputs=(REOPEN_METHOD, NOTE),
        calls=(
            Call(
                "nossa",
                "reopen",
                when=lambda t: t.facts.get("reopen_method") == "reopen",
            ),
            Call(
                "nossa",
                "create_ticket",
                when=lambda t: t.facts.get("reopen_method") != "reopen",
            ),
        ),
    )
    def reopen(self, **inputs):
        self.facts = {**self.facts, "reopen_method": inputs["reopen_as"]}

    @closing_step({"confirmed_ok": (CONFIRMED_OK,), "reopened": (REOPENED,)})
    def close(self, **inputs):
        self.mark_closed(inputs["closing_code"])

    close_unreachable = close_unreachable_step(UNREACHABLE_ONLINE)

    escalate, answer_escalation = escalation_steps(("claimed", "verifying", "not_ok"))
