"""The seven SOP flows (section 8) as state machines, one module per flow.

`FLOWS` maps a flow code to its proxy model; `as_flow(ticket)` gives a ticket its machine.
"""

from ..models import Flow, Ticket
from .base import FlowTicket
from .c4_caring import C4CaringTicket
from .callback import CallbackTicket
from .force_close import ForceCloseTicket
from .fresh_lapul import FreshLapulTicket
from .gamas import GamasIncidentMachine, GamasTicket
from .ideas import IdeasTicket
from .nossa import NossaTicket

FLOWS: dict[str, type[FlowTicket]] = {
    Flow.CALLBACK: CallbackTicket,
    Flow.NOSSA: NossaTicket,
    Flow.GAMAS: GamasTicket,
    Flow.C4_CARING: C4CaringTicket,
    Flow.FORCE_CLOSE: ForceCloseTicket,
    Flow.FRESH_LAPUL: FreshLapulTicket,
    Flow.IDEAS: IdeasTicket,
}


def as_flow(ticket: Ticket) -> FlowTicket:
    """The same row and instance, given its flow's machine (a proxy class swap, no query)."""
    ticket.__class__ = FLOWS[ticket.flow]
    return ticket


__all__ = ["FLOWS", "FlowTicket", "GamasIncidentMachine", "as_flow"]
