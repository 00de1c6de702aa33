"""SOP 8.3 IVR Gamas: reports from customers inside a mass outage (gamas).

Incident (parent): open -> recovered -> closed, closing only when all its children are closed.
Child report: new -> linked -> waiting_recovery -> verifying -> closed,
  or verifying -> not_recovered -> converted (a NOSSA ticket for this customer) -> closed.
A report that arrives inside an open incident's area is linked and set waiting by the arrival
rules; recovering the incident moves every waiting child to verifying in the background.
"""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .. import roles
from ..models import Flow, GamasIncident
from .base import (
    CLOSED,
    ESCALATED_STATE,
    INCIDENT,
    NOTE,
    REQUIRED_NOTE,
    Call,
    FlowTicket,
    State,
    agent_or_system,
    close_unreachable_step,
    closing_code,
    condition,
    customer_reached,
    escalation_steps,
    service_online,
    step,
    system,
)

# Closing codes, one per way a report closes.
GAMAS_RECOVERED = ("GAMAS_RECOVERED", _("Recovered with the gamas"))
CONVERTED_NOSSA = ("CONVERTED_NOSSA", _("Converted to a NOSSA ticket"))
UNREACHABLE = ("UNREACHABLE", _("Customer unreachable, service online"))
RECOVERED = ("RECOVERED", _("Outage recovered"))  # the incident's


@condition(_("The NOSSA ticket number has not come back yet."))
def nossa_number_received(ticket) -> bool:
    return ticket.state != "converted" or bool(ticket.nossa_number)


class GamasTicket(FlowTicket):
    flow_code = Flow.GAMAS
    states = {
        "new": State(
            _("New"),
            _("No open gamas covers this area: link it to an incident, or escalate."),
        ),
        "linked": State(_("Linked"), _("Linked to the gamas incident; the customer is informed.")),
        "waiting_recovery": State(
            _("Waiting for recovery"), _("Nothing to do until the gamas is recovered.")
        ),
        "verifying": State(
            _("Verifying"),
            _("The gamas is recovered: check Ibooster and call the customer to confirm."),
        ),
        "not_recovered": State(
            _("Not recovered"),
            _("The service is still down: convert to a NOSSA ticket."),
        ),
        "converted": State(
            _("Converted"),
            _("A NOSSA ticket carries this customer on; close when it has a number."),
        ),
        "escalated": ESCALATED_STATE,
        CLOSED: State(_("Closed"), _("Done.")),
    }
    unqueued_states = frozenset({CLOSED, "linked", "waiting_recovery"})
    closing_codes = (GAMAS_RECOVERED, CONVERTED_NOSSA, UNREACHABLE)

    class Meta:
        proxy = True

    @step(
        source="new",
        target="linked",
        label=_("Link to a gamas incident"),
        permission=agent_or_system,
        inputs=(INCIDENT, NOTE),
    )
    def link(self, **inputs):
        self.gamas_incident = inputs["incident"]

    @step(
        source="linked",
        target="waiting_recovery",
        label=_("Wait for recovery"),
        permission=agent_or_system,
    )
    def await_recovery(self, **inputs):
        # The agent's part is done until the outage is recovered: the ticket leaves their hands.
        self.assignee = None
        self.claimed_at = None

    @step(
        # A report still `linked` (its agent has not set it waiting yet, or was released) is
        # moved on too, so no report is stranded by a recovery.
        source=("linked", "waiting_recovery"),
        target="verifying",
        label=_("Gamas recovered"),
        permission=system,
        calls=(Call("ibooster", "connection_status"),),
    )
    def gamas_recovered(self, **inputs):
        pass

    @step(
        source="verifying",
        target=CLOSED,
        label=_("Recovered, customer confirms: close"),
        inputs=(closing_code(GAMAS_RECOVERED), NOTE),
        conditions=(customer_reached, service_online),
    )
    def close_recovered(self, **inputs):
        self.mark_closed(inputs["closing_code"])

    @step(
        source="verifying",
        target="not_recovered",
        label=_("Not recovered"),
        inputs=(REQUIRED_NOTE,),
    )
    def report_not_recovered(self, **inputs):
        pass

    @step(
        source="not_recovered",
        target="converted",
        label=_("Convert to a NOSSA ticket"),
        inputs=(NOTE,),
        calls=(Call("nossa", "create_ticket"),),
    )
    def convert(self, **inputs):
        pass

    @step(
        source="converted",
        target=CLOSED,
        label=_("Close"),
        inputs=(closing_code(CONVERTED_NOSSA), NOTE),
        conditions=(nossa_number_received,),
    )
    def close(self, **inputs):
        self.mark_closed(inputs["closing_code"])

    close_unreachable = close_unreachable_step(UNREACHABLE)

    escalate, answer_escalation = escalation_steps(("new", "verifying", "not_recovered"))


# --- The parent incident ----------------------------------------------------------------------
def incident_managers(incident, user) -> bool:
    return user is not None and (roles.is_supervisor(user) or roles.is_support(user))


def incident_managers_or_system(incident, user) -> bool:
    return user is None or incident_managers(incident, user)


incident_managers.label = _("Supervisor or Support")
incident_managers_or_system.label = _("Supervisor, Support or system")


@condition(_("Some tickets of this incident are still open."))
def all_children_closed(incident) -> bool:
    return not incident.children.filter(closed_at__isnull=True).exists()


class GamasIncidentMachine(GamasIncident):
    """The incident's machine: open -> recovered -> closed."""

    states = {
        "open": State(
            # "Open" is also a button; the state needs its own word ("Terbuka", not "Buka").
            pgettext_lazy("incident state", "Open"),
            _("The outage is on; reports from the area are linked to it."),
        ),
        "recovered": State(
            _("Recovered"),
            _("The network is back; every linked report is being verified."),
        ),
        CLOSED: State(_("Closed"), _("All linked reports are closed.")),
    }
    closing_codes = (RECOVERED,)

    class Meta:
        proxy = True

    @step(
        source="open",
        target="recovered",
        label=_("Mark recovered"),
        permission=incident_managers,
        inputs=(NOTE,),
    )
    def recover(self, **inputs):
        self.recovered_at = timezone.now()

    @step(
        source="recovered",
        target=CLOSED,
        label=_("Close incident"),
        permission=incident_managers_or_system,
        inputs=(closing_code(RECOVERED), NOTE),
        conditions=(all_children_closed,),
    )
    def close(self, **inputs):
        self.closing_code = inputs["closing_code"]
        self.closed_at = timezone.now()
