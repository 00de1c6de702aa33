"""SOP 8.1 Callback: calls recorded in the Callback app that never reached ticketing.

new -> claimed -> contacting -> {resolved_on_call | nossa_ticket_created | unreachable} -> closed
"""

from django.utils.translation import gettext_lazy as _

from ..models import Flow
from .base import (
    CLOSED,
    ESCALATED_STATE,
    REQUIRED_NOTE,
    Call,
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

# Closing codes, each accepted only from the state it describes (a duplicate record is found
# out on the call, so it closes like a request settled on the call).
RESOLVED_ON_CALL = ("RESOLVED_ON_CALL", _("Resolved on the call"))
NOSSA_TICKET = ("NOSSA_TICKET", _("Handed to NOSSA"))
UNREACHABLE = ("UNREACHABLE", _("Customer unreachable"))
DUPLICATE = ("DUPLICATE", _("Duplicate record"))


@condition(_("NOSSA has not returned the new ticket number yet."))
def nossa_number_received(ticket) -> bool:
    return ticket.state != "nossa_ticket_created" or bool(ticket.nossa_number)


class CallbackTicket(FlowTicket):
    flow_code = Flow.CALLBACK
    states = {
        "new": State(_("New"), _("The callback record waits for an agent.")),
        "claimed": State(_("Claimed"), _("Read the record and the customer panel, then call.")),
        "contacting": State(
            _("Contacting"),
            _("Call the customer back; record every attempt and what the customer needs."),
        ),
        "resolved_on_call": State(
            _("Resolved on the call"),
            _("The request was settled on the call: close it."),
        ),
        "nossa_ticket_created": State(
            _("NOSSA ticket created"),
            _("A NOSSA trouble ticket carries the fault on; close once its number is in."),
        ),
        "unreachable": State(
            _("Unreachable"),
            _("The customer could not be reached after the attempts: close."),
        ),
        "escalated": ESCALATED_STATE,
        CLOSED: State(_("Closed"), _("Done; the Callback record was marked done.")),
    }
    closing_codes = (RESOLVED_ON_CALL, NOSSA_TICKET, UNREACHABLE, DUPLICATE)

    class Meta:
        proxy = True

    claim = take_step()

    @step(source="claimed", target="contacting", label=_("Start calling"))
    def start_contact(self, **inputs):
        pass

    @step(
        source="contacting",
        target="resolved_on_call",
        label=_("Resolved on the call"),
        inputs=(REQUIRED_NOTE,),
        conditions=(customer_reached,),
    )
    def resolve_on_call(self, **inputs):
        pass

    @step(
        source="contacting",
        target="nossa_ticket_created",
        label=_("Create NOSSA ticket"),
        inputs=(REQUIRED_NOTE,),
        conditions=(customer_reached,),
        calls=(Call("nossa", "create_ticket"),),
    )
    def create_nossa_ticket(self, **inputs):
        pass

    mark_unreachable = unreachable_step()

    @closing_step(
        {
            "resolved_on_call": (RESOLVED_ON_CALL, DUPLICATE),
            "nossa_ticket_created": (NOSSA_TICKET,),
            "unreachable": (UNREACHABLE,),
        },
        conditions=(nossa_number_received,),
        calls=(Call("callback", "mark_done"),),
    )
    def close(self, **inputs):
        self.mark_closed(inputs["closing_code"])

    escalate, answer_escalation = escalation_steps(("claimed", "contacting"))
