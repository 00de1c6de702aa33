"""SOP 8.4 C4 Caring: outbound caring calls from supervisor-uploaded lists, Malang site only.

new -> claimed -> contacting -> {cared | issue_found -> escalated | unreachable} -> closed
"""

from django.utils.translation import gettext_lazy as _

from ..models import EscalationStatus, Flow
from .base import (
    CLOSED,
    NOTE,
    REQUIRED_NOTE,
    FlowTicket,
    State,
    closing_step,
    condition,
    customer_reached,
    escalation_steps,
    step,
    take_step,
    unreachable_step,
)

# Closing codes, each accepted only from the state it describes.
CARED = ("CARED", _("Caring call done"))
ISSUE_ESCALATED = ("ISSUE_ESCALATED", _("Issue found and escalated"))
UNREACHABLE = ("UNREACHABLE", _("Customer unreachable"))


@condition(_("An issue found must be escalated to Support and answered before closing."))
def issue_handled(ticket) -> bool:
    if ticket.state != "issue_found":
        return True
    return ticket.escalations.filter(
        status=EscalationStatus.ANSWERED, from_state="issue_found"
    ).exists()


class C4CaringTicket(FlowTicket):
    flow_code = Flow.C4_CARING
    states = {
        "new": State(_("New"), _("The caring call waits for a Malang agent.")),
        "claimed": State(_("Claimed"), _("Read the customer panel and the campaign, then call.")),
        "contacting": State(
            _("Contacting"),
            _("Call the customer; record every attempt and how it went."),
        ),
        "cared": State(_("Cared"), _("The caring call was made: close it.")),
        "issue_found": State(
            _("Issue found"), _("The customer has a problem: escalate it to Support.")
        ),
        "unreachable": State(
            _("Unreachable"),
            _("The customer could not be reached after the attempts: close."),
        ),
        "escalated": State(_("Escalated to Support"), _("Support is looking at the issue.")),
        CLOSED: State(_("Closed"), _("Done.")),
    }
    closing_codes = (CARED, ISSUE_ESCALATED, UNREACHABLE)

    class Meta:
        proxy = True

    claim = take_step()

    @step(source="claimed", target="contacting", label=_("Start calling"))
    def start_contact(self, **inputs):
        pass

    @step(
        source="contacting",
        target="cared",
        label=_("Caring done"),
        inputs=(NOTE,),
        conditions=(customer_reached,),
    )
    def mark_cared(self, **inputs):
        pass

    @step(
        source="contacting",
        target="issue_found",
        label=_("Issue found"),
        inputs=(REQUIRED_NOTE,),
        conditions=(customer_reached,),
    )
    def report_issue(self, **inputs):
        pass

    mark_unreachable = unreachable_step()

    @closing_step(
        {
            "cared": (CARED,),
            "issue_found": (ISSUE_ESCALATED,),
            "unreachable": (UNREACHABLE,),
        },
        conditions=(issue_handled,),
    )
    def close(self, **inputs):
        self.mark_closed(inputs["closing_code"])

    escalate, answer_escalation = escalation_steps(("claimed", "contacting", "issue_found"))
