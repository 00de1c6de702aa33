"""What the integrations tell the rest of the console, without knowing who listens.

`integrations/` never imports the ticket services (the layers contract in `.importlinter`): an
answer that changes a ticket is announced here, inside the transaction that records the call,
and the tickets app applies it through its services (`tickets.receivers`).
"""

from django.dispatch import Signal

# Sent with `call` (the AdapterCall row, locked, status succeeded) and `response` (JSON).
answer_received = Signal()

# Sent with `call` (the AdapterCall row, locked) when it has finished for good: succeeded or
# failed after its last attempt. Customer messages record their outcome from it.
call_finished = Signal()
