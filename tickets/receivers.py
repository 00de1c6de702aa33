"""The tickets app's answers to what other apps announce (connected in `TicketsConfig.ready`).

Receivers are entry points like views and tasks: they translate a signal into one service call.
"""

from . import services


def record_call_answer(sender, *, call, response, **kwargs) -> None:
    """An external application answered: its effect on the ticket goes through the services."""
    services.apply_call_answer(call=call, response=response)
