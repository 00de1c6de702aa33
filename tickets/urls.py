"""Console URLs: queues, the ticket workspace and its panels, gamas incidents, the flows."""

from django.urls import path

from .views import (
    console,
    customer_messages,
    dispatch,
    incidents,
    notifications,
    panel,
    queues,
    workspace,
)

urlpatterns = [
    path("", console.home, name="home"),
    path("flows/", console.flow_diagrams, name="flows"),
    # Queues and the Next ticket button.
    path("queues/", queues.queue, name="queue"),
    path("queues/<slug:slug>/", queues.queue, name="queue"),
    path("next/", queues.next_ticket, name="next_ticket"),
    # Dispatch (push): the agent's availability and the offers waiting for their answer.
    path("availability/", dispatch.availability, name="availability"),
    path("offers/<int:pk>/accept/", dispatch.accept, name="offer_accept"),
    path("offers/<int:pk>/decline/", dispatch.decline, name="offer_decline"),
    # The ticket workspace and what it posts.
    path("tickets/<int:pk>/", workspace.workspace, name="ticket"),
    path("tickets/<int:pk>/take/", workspace.take, name="ticket_take"),
    path("tickets/<int:pk>/actions/<slug:name>/", workspace.action, name="ticket_action"),
    path("tickets/<int:pk>/contact/", workspace.contact, name="ticket_contact"),
    path("tickets/<int:pk>/notes/", workspace.note, name="ticket_note"),
    path(
        "tickets/<int:pk>/calls/<int:call_id>/retry/",
        workspace.retry_call,
        name="ticket_call_retry",
    ),
    # Panels loaded by htmx after the workspace.
    path("tickets/<int:pk>/panel/", panel.customer_panel, name="ticket_panel"),
    path(
        "tickets/<int:pk>/panel/refresh/",
        panel.refresh_customer_panel,
        name="ticket_panel_refresh",
    ),
    path("tickets/<int:pk>/articles/", panel.articles, name="ticket_articles"),
    # The customer's wishes for messages (the customer card).
    path(
        "tickets/<int:pk>/message-wishes/",
        customer_messages.message_wishes,
        name="ticket_message_wishes",
    ),
    # Gamas incidents.
    path("incidents/", incidents.incidents, name="incidents"),
    path("incidents/new/", incidents.open_incident, name="incident_open"),
    path("incidents/<int:pk>/", incidents.incident, name="incident"),
    path(
        "incidents/<int:pk>/actions/<slug:name>/",
        incidents.incident_action,
        name="incident_action",
    ),
    path("incidents/<int:pk>/bulk/", incidents.incident_bulk, name="incident_bulk"),
    path("incidents/<int:pk>/inform/", customer_messages.inform_customers, name="incident_inform"),
    # A user's notifications: the list, and one as a toast (the live console fetches it).
    path("notifications/", notifications.notifications, name="notifications"),
    path(
        "notifications/<int:pk>/toast/",
        notifications.notification_toast,
        name="notification_toast",
    ),
]
