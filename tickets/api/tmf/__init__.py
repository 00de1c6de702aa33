"""The TM Forum Open API TMF621 Trouble Ticket v5 (`/tmf-api/troubleTicket/v5/`).

The same tickets, services and roles as the console's own API, in the shape and vocabulary of
the standard (docs/tmf621.md): `base` holds what every TMF endpoint shares (authentication, the
system-client role, per-client rate limits, the spec's error shape), `resource` the
`troubleTicket` resource, `hub` the event subscriptions.
"""
