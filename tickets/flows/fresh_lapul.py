"""SOP 8.6 Fresh Lapul (lapor ulang): a service reported again soon after a close.

Detected on arrival (see `tickets.services.create_ticket`); raised priority, tighter SLA.
new -> claimed -> analysing (history, Ibooster usage, ACS) -> escalated_priority (My CX + Sephia)
  -> monitoring -> verifying -> closed
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
    State,
    close_unreachable_step,
    closing_code,
    customer_reached,
    escalation_steps,
    step,
    take_step,
)

# Closing codes. Customer confirms: fixed, or the fault was on their side; unreachable while
# Ibooster shows the line online: UNREACHABLE only.
FIXED = ("FIXED", _("Fixed and confirmed"))
CUSTOMER_SIDE = ("CUSTOMER_SIDE", _("Customer-side problem"))
UNREACHABLE = ("UNREACHABLE", _("Customer unreachable, service online"))


class FreshLapulTicket(FlowTicket):
    flow_code = Flow.FRESH_LAPUL
    states = {
        "new": State(
            _("New"),
            _("A repeat report waits for an agent, ahead of ordinary tickets."),
        ),
        "claimed": State(_("Claimed"), _("Open the earlier ticket, then start the analysis.")),
        "analysing": State(
            _("Analysing"),
            _(
                "Compare with the earlier tickets, Ibooster usage and ACS; then escalate with "
                "priority."
            ),
        ),
        "escalated_priority": State(
            _("Escalated with priority"),
            _("My CX case and Sephia escalation are open; start monitoring the service."),
        ),
        "monitoring": State(
            _("Monitoring"), _("Watch the service until the fix holds, then verify.")
        ),
        "verifying": State(
            _("Verifying"),
            _("Call the customer: close when they confirm, else monitor again."),
        ),
        "escalated": ESCALATED_STATE,
        CLOSED: State(_("Closed"), _("Done.")),
    }
    closing_codes = (FIXED, CUSTOMER_SIDE, UNREACHABLE)

    class Meta:
        proxy = True

    claim = take_step()

    @step(
        source="claimed",
        target="analysing",
        label=_("Start analysis"),
        calls=(
            Call("ibooster", "usage_history"),
            Call("ibooster", "connection_status"),
            Call("acs", "diagnose"),
        ),
    )
    def start_analysis(self, **inputs):
        pass

    @step(
        source="analysing",
        target="escalated_priority",
        label=_("Escalate with priority"),
        inputs=(REQUIRED_NOTE,),
        calls=(Call("mycx", "open_case"), Call("sephia", "internal_escalation")),
    )
    def escalate_priority(self, **inputs):
        pass

    @step(
        source="escalated_priority",
        target="monitoring",
        label=_("Start monitoring"),
        inputs=(NOTE,),
        calls=(Call("mycx", "follow_up"),),
    )
    def start_monitoring(self, **inputs):
        pass

    @step(
        source="monitoring",
        target="verifying",
        label=_("Verify with the customer"),
        inputs=(NOTE,),
        calls=(Call("ibooster", "connection_status"),),
    )
    def verify(self, **inputs):
        pass

    @step(
        source="verifying",
        target="monitoring",
        label=_("Not fixed: monitor again"),
        inputs=(REQUIRED_NOTE,),
    )
    def not_fixed(self, **inputs):
        pass

    @step(
        source="verifying",
        target=CLOSED,
        label=_("Customer confirms: close"),
        inputs=(closing_code(FIXED, CUSTOMER_SIDE), NOTE),
        conditions=(customer_reached,),
    )
    def close(self, **inputs):
        self.mark_closed(inputs["closing_code"])

    close_unreachable = close_unreachable_step(UNREACHABLE)

    escalate, answer_escalation = escalation_steps(
        ("claimed", "analysing", "escalated_priority", "monitoring", "verifying")
    )
