"""Examples shown in the OpenAPI schema (and the /api/docs/ page) for the main operations."""

from drf_spectacular.utils import OpenApiExample

TRANSITION = [
    OpenApiExample(
        "Fix remotely (NOSSA)",
        request_only=True,
        value={
            "name": "apply_remote_fix",
            "inputs": {"action": "reboot", "note": "ONT rebooted from ACS"},
            "expected_state": "diagnosing",
        },
    ),
    OpenApiExample(
        "Close with a closing code",
        request_only=True,
        value={
            "name": "close",
            "inputs": {"closing_code": "FIXED_REMOTE", "note": "Customer confirms"},
            "expected_state": "verifying",
        },
    ),
    OpenApiExample(
        "Link to a gamas incident",
        request_only=True,
        value={"name": "link_to_gamas", "inputs": {"incident": "12"}},
    ),
    OpenApiExample(
        "Missing input",
        response_only=True,
        status_codes=["400"],
        value={
            "detail": "Some inputs are missing or wrong.",
            "code": "InvalidInput",
            "errors": {"closing_code": ["This field is required."]},
        },
    ),
    OpenApiExample(
        "Concurrent change",
        response_only=True,
        status_codes=["409"],
        value={
            "detail": "The ticket was changed by someone else. Reload to see its state now.",
            "code": "ConcurrentChange",
            "current_state": "verifying",
        },
    ),
    OpenApiExample(
        "Wrong state",
        response_only=True,
        status_codes=["409"],
        value={
            "detail": "“close” is not possible while the ticket is diagnosing.",
            "code": "TransitionNotAllowed",
            "current_state": "diagnosing",
        },
    ),
    OpenApiExample(
        "Condition not met",
        response_only=True,
        status_codes=["409"],
        value={
            "detail": "The customer has not been reached yet: record an answered call first.",
            "code": "ConditionNotMet",
        },
    ),
    OpenApiExample(
        "Not the agent of this ticket",
        response_only=True,
        status_codes=["403"],
        value={
            "detail": "You are not allowed to do this on this ticket.",
            "code": "TransitionForbidden",
        },
    ),
]

NO_TICKET = [
    OpenApiExample(
        "Queues empty",
        response_only=True,
        status_codes=["404"],
        value={"detail": "No ticket is waiting in your queues.", "code": "NoTicketAvailable"},
    )
]

ALREADY_CLAIMED = [
    OpenApiExample(
        "Another agent has it",
        response_only=True,
        status_codes=["409"],
        value={
            "detail": "Another agent has already taken this ticket.",
            "code": "TicketAlreadyClaimed",
            "assignee": "agent-pst-07",
        },
    )
]

INCIDENT_TRANSITION = [
    OpenApiExample("Recover", request_only=True, value={"name": "recover", "inputs": {}}),
    OpenApiExample(
        "Close",
        request_only=True,
        value={"name": "close", "inputs": {"closing_code": "RECOVERED"}},
    ),
]

_TICKET = {
    "id": 1042,
    "number": "T2-0001042",
    "flow": "nossa",
    "state": "new",
    "priority": 3,
    "sla_status": "ok",
    "site": "PST",
    "service_number": "131100012341",
    "customer_name": "Irfan Tanjung",
    "category": "INTERNET",
    "summary": "No internet, LOS light red",
    "source_system": "nossa",
    "source_ref": "IN16672489",
    "nossa_number": "IN16672489",
    "gamas_incident": None,
    "previous_ticket": None,
    "campaign": None,
    "assignee": None,
    "assignee_username": None,
    "awaiting_agent": True,
    "claim_by": "2025-06-02T10:15:00+07:00",
    "resolve_by": "2025-06-03T10:00:00+07:00",
    "slg_due": "2025-06-05T10:00:00+07:00",
    "created_at": "2025-06-02T10:00:00+07:00",
    "closed_at": None,
}

NOSSA_PUSH = [
    OpenApiExample(
        "A NOSSA ticket for a new service",
        request_only=True,
        value={
            "nossa_number": "IN16672489",
            "service_number": "131100012341",
            "customer_name": "Irfan Tanjung",
            "phone": "082142040073",
            "sto": "KBY",
            "olt": "OLT-KBY-02",
            "odp": "ODP-KBY-FAC/011",
            "category": "INTERNET",
            "summary": "No internet, LOS light red",
        },
    ),
    OpenApiExample(
        "Created",
        response_only=True,
        status_codes=["201"],
        value={"created": True, "ticket": _TICKET},
    ),
    OpenApiExample(
        "Pushed again: the same ticket",
        response_only=True,
        status_codes=["200"],
        value={"created": False, "ticket": _TICKET},
    ),
    OpenApiExample(
        "Bad fields",
        response_only=True,
        status_codes=["400"],
        value={
            "detail": "Some inputs are missing or wrong.",
            "code": "ValidationError",
            "errors": {
                "nossa_number": ["A NOSSA number is IN and 8 digits, like IN16672489."],
                "service_number": ["A service number is 12 digits."],
            },
        },
    ),
]

_CALLBACK_TICKET = {
    **_TICKET,
    "flow": "callback",
    "category": "",
    "summary": "Customer asked to be called back about slow internet",
    "source_system": "callback",
    "source_ref": "CB2941730401",
    "nossa_number": "",
}

CALLBACK_PUSH = [
    OpenApiExample(
        "A Callback record for a line I-SISKA knows",
        request_only=True,
        value={
            "record_id": "CB2941730401",
            "service_number": "131100012341",
            "summary": "Customer asked to be called back about slow internet",
        },
    ),
    OpenApiExample(
        "Created",
        response_only=True,
        status_codes=["201"],
        value={"created": True, "ticket": _CALLBACK_TICKET},
    ),
    OpenApiExample(
        "Pushed again: the same ticket",
        response_only=True,
        status_codes=["200"],
        value={"created": False, "ticket": _CALLBACK_TICKET},
    ),
]

IVR_REPORT = [
    OpenApiExample(
        "A caller from an outage area",
        request_only=True,
        value={
            "call_id": "IVR-20250602-000123",
            "service_number": "131100012341",
            "customer_name": "Irfan Tanjung",
            "phone": "082142040073",
            "sto": "KBY",
            "olt": "OLT-KBY-02",
            "odp": "ODP-KBY-FAC/011",
            "summary": "Internet down since this morning",
        },
    ),
    OpenApiExample(
        "Linked to the open incident",
        response_only=True,
        status_codes=["201"],
        value={
            "created": True,
            "ticket": {
                **_TICKET,
                "flow": "gamas",
                "state": "waiting_recovery",
                "source_system": "ivr",
                "source_ref": "IVR-20250602-000123",
                "nossa_number": "",
                "gamas_incident": 12,
                "awaiting_agent": False,
            },
        },
    ),
]

IMPORT_JOB = [
    OpenApiExample(
        "Accepted",
        response_only=True,
        status_codes=["202"],
        value={
            "id": 7,
            "kind": "ideas",
            "campaign": "ideas-juni",
            "file_name": "ideas-juni.csv",
            "uploaded_by": "supervisor1",
            "status": "pending",
            "phase": "pending",
            "total_rows": 2500,
            "processed_rows": 0,
            "progress_percent": 0,
            "created_tickets": 0,
            "errors": [],
            "created_at": "2025-06-02T10:00:00+07:00",
            "finished_at": None,
        },
    ),
    OpenApiExample(
        "Not a CSV",
        response_only=True,
        status_codes=["400"],
        value={
            "detail": "Some inputs are missing or wrong.",
            "code": "InvalidInput",
            "errors": {"file": ["The file is not UTF-8 text; save the list as CSV UTF-8."]},
        },
    ),
]
