"""Console pages. Views translate HTTP to service and selector calls and back, nothing more."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.translation import gettext as _

from ..diagrams import diagram_of
from ..flows import FLOWS, GamasIncidentMachine
from ..models import Flow


@login_required
def home(request):
    return render(request, "home.html")


def flow_diagrams(request):
    """SOP section 8, restored: every flow drawn from its machine (public: it is the SOP)."""
    diagrams = [
        {
            "code": code,
            "number": f"8.{index}",
            "diagram": diagram_of(machine, Flow(code).label),
        }
        for index, (code, machine) in enumerate(FLOWS.items(), start=1)
    ]
    diagrams.insert(
        3,
        {
            "code": "gamas_incident",
            "number": "8.3",
            "diagram": diagram_of(GamasIncidentMachine, _("IVR Gamas: the incident (parent)")),
        },
    )
    return render(request, "tickets/flows.html", {"diagrams": diagrams})
