"""SOP 8.2 NOSSA: trouble tickets pulled from NOSSA and worked to restoration.

new -> claimed (NOSSA: take) -> diagnosing (Ibooster + I-SISKA + ACS) ->
  {remote_fix (ACS / Minitools) -> verifying
   | escalated_field (NOSSA escalation + My CX case) -> waiting_field -> verifying
   | linked_to_gamas -> verifying when the outage is recovered};
verifying -> closed (NOSSA: close) when the customer confirms, or back to diagnosing.
"""

from django.utils.translation import gettext_lazy as _

from ..models import Flow
from .base import (
    CLOSED,
    ESCALATED_STATE,
    INCIDENT,
    NOTE,
    REQUIRED_NOTE,
    Call,
    FlowTicket,
    Input,
    State,
    agent_or_system,
    close_unreachable_step,
    closing_code,
    customer_reached,
    escalation_steps,
    step,
    system,
    take_step,
)

# Actions an agent can take remotely: ACS acts on the customer's ONT (CPE), Minitools on the
# network side (OLT port, service profile).
ACS_ACTIONS = (
    ("reboot", _("Reboot the ONT (ACS)")),
    ("reset_wifi", _("Reset the Wi-Fi settings (ACS)")),
    ("factory_reset", _("Factory reset the ONT (ACS)")),
)
MINITOOLS_ACTIONS = (
    ("resync_profile", _("Resync the service profile (Minitools)")),
    ("reset_port", _("Reset the OLT port (Minitools)")),
    ("rebind_ont", _("Rebind the ONT (Minitools)")),
)
REMOTE_FIX_ACTIONS = ACS_ACTIONS + MINITOOLS_ACTIONS


def uses_minitools(ticket) -> bool:
    return ticket.facts.get("remote_fix_action") in dict(MINITOOLS_ACTIONS)


# Closing codes. Customer confirms: how it was fixed (or that the fault was on their side);
# unreachable while Ibooster shows the line online: UNREACHABLE only.
FIXED_REMOTE = ("FIXED_REMOTE", _("Fixed remotely"))
FIXED_FIELD = ("FIXED_FIELD", _("Fixed by the field team"))
GAMAS_RECOVERED = ("GAMAS_RECOVERED", _("Recovered with the gamas"))
CUSTOMER_SIDE = ("CUSTOMER_SIDE", _("Customer-side problem (CPE, cabling, power)"))
UNREACHABLE = ("UNREACHABLE", _("Customer unreachable, service online"))

ACTION = Input("action", _("Remote action"), kind="choice", choices=REMOTE_FIX_ACTIONS)
CHECK_CONNECTION = Call("ibooster", "connection_status")


class NossaTicket(FlowTicket):
    flow_code = Flow.NOSSA
    states = {
        "new": State(_("New"), _("The NOSSA ticket waits for an agent.")),
        "claimed": State(_("Claimed"), _("The ticket is taken in NOSSA; start the diagnosis.")),
        "diagnosing": State(
            _("Diagnosing"),
            _(
                "Read Ibooster, I-SISKA and ACS results; fix remotely, send the field team, "
                "or link to a gamas."
            ),
        ),
        "remote_fix": State(
            _("Remote fix"),
            _("An ACS / Minitools action was sent; check the result, then verify."),
        ),
        "escalated_field": State(
            _("Escalated to the field"),
            _("NOSSA escalation and My CX case sent; confirm the field team has it."),
        ),
        "waiting_field": State(
            _("Waiting for the field team"),
            _("A technician works on site; verify when done."),
        ),
        "linked_to_gamas": State(
            _("Linked to a gamas"),
            _("Part of a mass outage; verified when it is recovered."),
        ),
        "verifying": State(
            _("Verifying"),
            _("Call the customer: close when they confirm, else diagnose again."),
        ),
        "escalated": ESCALATED_STATE,
        CLOSED: State(_("Closed"), _("Restored and closed in NOSSA.")),
    }
    unqueued_states = frozenset({CLOSED, "linked_to_gamas"})
    closing_codes = (FIXED_REMOTE, FIXED_FIELD, GAMAS_RECOVERED, CUSTOMER_SIDE, UNREACHABLE)

    class Meta:
        proxy = True

    claim = take_step(calls=(Call("nossa", "take_ticket"),))

    @step(
        source="claimed",
        target="diagnosing",
        label=_("Start diagnosis"),
        calls=(CHECK_CONNECTION, Call("isiska", "profile"), Call("acs", "diagnose")),
    )
    def start_diagnosis(self, **inputs):
        pass

    @step(
        source="diagnosing",
        target="remote_fix",
        label=_("Fix remotely"),
        inputs=(ACTION, NOTE),
        calls=(
            Call("acs", "remote_fix", when=lambda ticket: not uses_minitools(ticket)),
            Call("minitools", "update_network", when=uses_minitools),
        ),
    )
    def apply_remote_fix(self, **inputs):
        self.facts = {**self.facts, "remote_fix_action": inputs["action"]}

    @step(
        source="remote_fix",
        target="verifying",
        label=_("Remote fix done: verify"),
        inputs=(NOTE,),
        calls=(CHECK_CONNECTION,),
    )
    def remote_fix_done(self, **inputs):
        pass

    @step(
        source="diagnosing",
        target="escalated_field",
        label=_("Escalate to the field team"),
        inputs=(REQUIRED_NOTE,),
        calls=(Call("nossa", "escalate"), Call("mycx", "open_case")),
    )
    def escalate_to_field(self, **inputs):
        pass

    @step(
        source="escalated_field",
        target="waiting_field",
        label=_("Field team has it"),
        permission=agent_or_system,
        inputs=(NOTE,),
    )
    def await_field(self, **inputs):
        pass

    @step(
        source="waiting_field",
        target="verifying",
        label=_("Field work done: verify"),
        permission=agent_or_system,
        inputs=(NOTE,),
        calls=(CHECK_CONNECTION,),
    )
    def field_done(self, **inputs):
        pass

    @step(
        source="diagnosing",
        target="linked_to_gamas",
        label=_("Link to a gamas incident"),
        inputs=(INCIDENT, NOTE),
    )
    def link_to_gamas(self, **inputs):
        self.gamas_incident = inputs["incident"]

    @step(
        source="linked_to_gamas",
        target="verifying",
        label=_("Gamas recovered"),
        permission=system,
        calls=(CHECK_CONNECTION,),
    )
    def gamas_recovered(self, **inputs):
        pass

    @step(
        source="verifying",
        target="diagnosing",
        label=_("Not restored: diagnose again"),
        inputs=(REQUIRED_NOTE,),
        calls=(CHECK_CONNECTION, Call("acs", "diagnose")),
    )
    def not_restored(self, **inputs):
        pass

    @step(
        source="verifying",
        target=CLOSED,
        label=_("Customer confirms: close"),
        inputs=(closing_code(FIXED_REMOTE, FIXED_FIELD, GAMAS_RECOVERED, CUSTOMER_SIDE), NOTE),
        conditions=(customer_reached,),
        calls=(Call("nossa", "close_ticket"),),
    )
    def close(self, **inputs):
        self.mark_closed(inputs["closing_code"])

    close_unreachable = close_unreachable_step(UNREACHABLE, calls=(Call("nossa", "close_ticket"),))

    escalate, answer_escalation = escalation_steps(
        (
            "claimed",
            "diagnosing",
            "remote_fix",
            "escalated_field",
            "waiting_field",
            "verifying",
        )
    )
