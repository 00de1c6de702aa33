"""How the console words the applications' operations and the values their answers carry.

An operation's code (``connection_status``) and a value's code (``los``) stay what the
application and the records use; people read the labels below, in their language. Technical
words agents know from the applications (LOS, ONT, PPPoE) stay in the labels, with their
meaning next to them.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from .ibooster import LineStatus

# (app, operation) -> what the call did, as the ticket timeline and the evidence list name it.
OPERATION_LABELS = {
    ("mycx", "open_case"): _("open a case"),
    ("mycx", "follow_up"): _("follow up the case"),
    ("ibooster", "connection_status"): _("check the connection"),
    ("ibooster", "usage_history"): _("usage history"),
    ("mykiss", "search_articles"): _("search articles"),
    ("nossa", "fetch_new_tickets"): _("fetch new tickets"),
    ("nossa", "fetch_force_closed"): _("fetch force-closed tickets"),
    ("nossa", "take_ticket"): _("take the ticket"),
    ("nossa", "update_status"): _("update the status"),
    ("nossa", "create_ticket"): _("create a ticket"),
    ("nossa", "escalate"): _("escalate"),
    ("nossa", "reopen"): _("reopen the ticket"),
    ("nossa", "close_ticket"): _("close the ticket"),
    ("isiska", "profile"): _("customer profile"),
    ("epayment", "bills"): _("bills"),
    ("epayment", "arrears"): _("arrears"),
    ("starclick", "enter_order"): _("enter the order"),
    ("callback", "fetch_records"): _("fetch callback requests"),
    ("callback", "mark_done"): _("mark the callback done"),
    ("webcare", "offers"): _("offers for the customer"),
    ("minitools", "review_network"): _("review the network settings"),
    ("minitools", "update_network"): _("update the network settings"),
    ("sephia", "internal_escalation"): _("internal escalation"),
    ("sephia", "log_event"): _("log the event"),
    ("acs", "diagnose"): _("diagnose the device"),
    ("acs", "remote_fix"): _("remote fix"),
    ("myindihome", "register"): _("register the customer"),
    ("myindihome", "create_account"): _("create the account"),
    ("myindihome", "unregister"): _("unregister the customer"),
    ("sms", "send"): _("send an SMS"),
    ("sms", "delivery_status"): _("check the SMS delivery"),
    ("whatsapp", "template_status"): _("check the message template"),
    ("whatsapp", "send_template"): _("send a WhatsApp message"),
    ("whatsapp", "message_status"): _("check the WhatsApp delivery"),
}

# Ibooster's line status: the code agents know, and what it means.
LINE_STATUS_LABELS = {
    LineStatus.ONLINE: _("Online: the line is up"),
    LineStatus.LOS: _("LOS: no optical signal on the fibre"),
    LineStatus.OFFLINE: _("Offline: the ONT does not answer (off or hung)"),
}

# ACS's view of the device's WiFi (``CpeDiagnosis.wifi_status``).
WIFI_STATUS_LABELS = {
    "on": _("WiFi on"),
    "off": _("WiFi off"),
    "unknown": _("WiFi unknown (device not reachable)"),
}


def operation_label(app: str, operation: str) -> str:
    """The words for an operation; an operation without a label shows its code, readably."""
    label = OPERATION_LABELS.get((app, operation))
    return str(label) if label else operation.replace("_", " ")


def line_status_label(status: str) -> str:
    label = LINE_STATUS_LABELS.get(status)
    return str(label) if label else status


def wifi_status_label(status: str) -> str:
    label = WIFI_STATUS_LABELS.get(status)
    return str(label) if label else status
