"""SOP 8.7 Ideas: campaign offers ("campaigns change with operational conditions": data).

new -> claimed -> checking_offer (Webcare offers, I-SISKA package, E-payment arrears) ->
  contacting -> {accepted -> order_entered (Starclick, Dashboard My Indihome) -> closed
                 | declined -> closed | unreachable -> closed}
Customers in arrears are not eligible: they go checking_offer -> declined (not eligible).
"""

from django.utils.translation import gettext_lazy as _

from ..models import Flow
from .base import (
    CLOSED,
    ESCALATED_STATE,
    NOTE,
    Call,
    FlowTicket,
    Input,
    State,
    closing_step,
    condition,
    customer_reached,
    escalation_steps,
    step,
    take_step,
    unreachable_step,
)

# Closing codes, each accepted only from the state it describes (`declined` is reached both by
# the customer declining and by arrears, so it takes either code).
ORDER_ENTERED = ("ORDER_ENTERED", _("Order entered"))
DECLINED = ("DECLINED", _("Customer declined"))
NOT_ELIGIBLE = ("NOT_ELIGIBLE", _("Not eligible (arrears)"))
UNREACHABLE = ("UNREACHABLE", _("Customer unreachable"))

OFFER_CODE = Input("offer_code", _("Offer accepted"), kind="offer")


def arrears_of(ticket):
    """Unpaid total from the E-payment check, or None when not checked yet."""
    return (ticket.facts.get("epayment") or {}).get("arrears_total")


@condition(_("E-payment and Webcare checks have not returned yet."))
def offer_checked(ticket) -> bool:
    return arrears_of(ticket) is not None and "webcare" in ticket.facts


@condition(_("The customer has arrears and is not eligible for offers."))
def no_arrears(ticket) -> bool:
    return arrears_of(ticket) == 0


@condition(_("The customer has no arrears: offer the campaign instead."))
def has_arrears(ticket) -> bool:
    arrears = arrears_of(ticket)
    return arrears is not None and arrears > 0


class IdeasTicket(FlowTicket):
    flow_code = Flow.IDEAS
    states = {
        "new": State(_("New"), _("A campaign contact waits for an agent.")),
        "claimed": State(_("Claimed"), _("Check the offers and the customer's eligibility.")),
        "checking_offer": State(
            _("Checking the offer"),
            _(
                "Read the Webcare offers, the I-SISKA package and E-payment arrears; customers in "
                "arrears are not eligible."
            ),
        ),
        "contacting": State(_("Contacting"), _("Call the customer and present the offer.")),
        "accepted": State(_("Accepted"), _("Enter the order in Starclick and My Indihome.")),
        "order_entered": State(_("Order entered"), _("The order is in: close.")),
        "declined": State(_("Declined"), _("The customer declined or is not eligible: close.")),
        "unreachable": State(
            _("Unreachable"),
            _("The customer could not be reached after the attempts: close."),
        ),
        "escalated": ESCALATED_STATE,
        CLOSED: State(_("Closed"), _("Done.")),
    }
    closing_codes = (ORDER_ENTERED, DECLINED, NOT_ELIGIBLE, UNREACHABLE)

    class Meta:
        proxy = True

    claim = take_step()

    @step(
        source="claimed",
        target="checking_offer",
        label=_("Check offer and eligibility"),
        calls=(
            Call("webcare", "offers"),
            Call("isiska", "profile"),
            Call("epayment", "arrears"),
        ),
    )
    def check_offer(self, **inputs):
        pass

    @step(
        source="checking_offer",
        target="contacting",
        label=_("Eligible: call the customer"),
        conditions=(offer_checked, no_arrears),
    )
    def start_contact(self, **inputs):
        pass

    @step(
        source="checking_offer",
        target="declined",
        label=_("Not eligible (arrears)"),
        inputs=(NOTE,),
        conditions=(offer_checked, has_arrears),
    )
    def mark_not_eligible(self, **inputs):
        pass

    @step(
        source="contacting",
        target="accepted",
        label=_("Customer accepts"),
        inputs=(OFFER_CODE, NOTE),
        conditions=(customer_reached, no_arrears),
    )
    def accept(self, **inputs):
        self.facts = {**self.facts, "accepted_offer": inputs["offer_code"]}

    @step(
        source="accepted",
        target="order_entered",
        label=_("Enter the order"),
        inputs=(NOTE,),
        calls=(Call("starclick", "enter_order"), Call("myindihome", "register")),
    )
    def enter_order(self, **inputs):
        pass

    @step(
        source="contacting",
        target="declined",
        label=_("Customer declines"),
        inputs=(NOTE,),
        conditions=(customer_reached,),
    )
    def decline(self, **inputs):
        pass

    mark_unreachable = unreachable_step()

    @closing_step(
        {
            "order_entered": (ORDER_ENTERED,),
            "declined": (DECLINED, NOT_ELIGIBLE),
            "unreachable": (UNREACHABLE,),
        }
    )
    def close(self, **inputs):
        self.mark_closed(inputs["closing_code"])

    escalate, answer_escalation = escalation_steps(
        ("claimed", "checking_offer", "contacting", "accepted")
    )
