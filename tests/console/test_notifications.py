"""A user's notifications in the console: the unread badge, the list, marking read, the toast
the live console fetches; and nobody reads or marks another user's."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests import factories
from tests.console.conftest import nossa_ticket
from tickets import selectors, services
from tickets.models import Notification

pytestmark = pytest.mark.django_db


def notify(user, message, *, kind="sla_at_risk", ticket=None, minutes_ago=0, read=False):
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return Notification.objects.create(
        user=user, ticket=ticket, kind=kind, message=message, created_at=at,
        read_at=at if read else None,
    )  # fmt: skip


def badge(html: str) -> str:
    found = re.search(r'<span id="notif-count">(\d+)</span>', html)
    assert found, "the top bar has the unread badge"
    return found.group(1)


def test_every_console_page_shows_the_unread_count(agent_client, agent, other_agent):
    notify(agent, "Ticket T2-1 is at risk of breaching its SLA.")
    notify(agent, "Support answered the escalation of T2-2.", kind="escalation_answered")
    notify(agent, "An old one.", read=True)
    notify(other_agent, "Not yours.")

    page = agent_client.get("/queues/").content.decode()

    assert badge(page) == "2"
    assert 'href="/notifications/"' in page


def test_no_unread_notification_hides_the_badge(agent_client, agent):
    notify(agent, "Already read.", read=True)

    page = agent_client.get("/queues/").content.decode()

    assert badge(page) == "0"
    assert '<span class="badge" hidden>' in page


def test_the_list_shows_only_the_users_own_notifications_newest_first(
    agent_client, agent, other_agent
):
    ticket = nossa_ticket()
    notify(agent, "First: at risk.", minutes_ago=30, ticket=ticket)
    notify(agent, "Second: breached.", kind="sla_breached", minutes_ago=5, ticket=ticket)
    notify(other_agent, "Someone else's secret.")

    page = agent_client.get("/notifications/").content.decode()

    assert page.index("Second: breached.") < page.index("First: at risk.")
    assert "Someone else's secret." not in page
    assert "SLA breached" in page and "SLA at risk" in page  # the kinds, worded
    assert f'href="/tickets/{ticket.pk}/"' in page
    assert "2 unread." in page


def test_marking_one_read_leaves_the_others_unread(agent_client, agent):
    first = notify(agent, "One.")
    second = notify(agent, "Two.")

    response = agent_client.post("/notifications/", {"id": [first.pk]}, follow=True)

    assert response.redirect_chain[-1][0] == "/notifications/"
    assert "1 notification marked read." in response.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.read_at is not None and second.read_at is None
    assert badge(response.content.decode()) == "1"


def test_marking_all_read_marks_only_the_users_own(agent_client, agent, other_agent):
    notify(agent, "One.")
    notify(agent, "Two.")
    theirs = notify(other_agent, "Theirs.")

    response = agent_client.post("/notifications/", {"all": "1"}, follow=True)

    assert "2 notifications marked read." in response.content.decode()
    assert not Notification.objects.filter(user=agent, read_at__isnull=True).exists()
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_a_user_cannot_mark_another_users_notification_read(agent_client, other_agent):
    theirs = notify(other_agent, "Theirs.")

    agent_client.post("/notifications/", {"id": [theirs.pk]})

    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_the_service_marks_the_given_ids_or_all_and_says_how_many(agent, other_agent):
    one, two, three = notify(agent, "1"), notify(agent, "2"), notify(agent, "3")
    notify(agent, "old", read=True)
    theirs = notify(other_agent, "x")

    assert services.mark_notifications_read(user=agent, ids=[one.pk, theirs.pk]) == 1
    assert services.mark_notifications_read(user=agent, ids=[one.pk]) == 0  # already read
    assert services.mark_notifications_read(user=agent) == 2
    assert selectors.unread_notification_count(agent) == 0
    assert selectors.unread_notification_count(other_agent) == 1
    assert {two.pk, three.pk} <= set(
        Notification.objects.filter(read_at__isnull=False).values_list("pk", flat=True)
    )


def test_the_toast_is_a_fragment_with_the_message_and_the_ticket(agent_client, agent):
    ticket = nossa_ticket()
    note = notify(agent, "supervisor1 assigned you T2-9.", kind="ticket_reassigned", ticket=ticket)

    response = agent_client.get(f"/notifications/{note.pk}/toast/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'class="toast toast-ticket_reassigned"' in html
    assert "supervisor1 assigned you T2-9." in html
    assert f'href="/tickets/{ticket.pk}/"' in html
    assert "data-toast-close" in html


def test_another_users_toast_is_not_found(agent_client, other_agent):
    theirs = notify(other_agent, "Private to the other agent.")

    response = agent_client.get(f"/notifications/{theirs.pk}/toast/")

    assert response.status_code == 404
    assert "Private to the other agent." not in response.content.decode()


def test_anonymous_visitors_are_sent_to_log_in(client, agent):
    note = notify(agent, "Hidden.")

    for url in ("/notifications/", f"/notifications/{note.pk}/toast/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_page_carries_the_live_connection_for_logged_in_users_only(agent_client, agent):
    page = agent_client.get("/queues/").content.decode()
    assert 'ws-connect="/ws/live/"' in page and f'data-user-id="{agent.pk}"' in page
    assert "js/live.js" in page and "js/htmx-ext-ws.min.js" in page
    assert 'id="toasts"' in page and 'aria-live="polite"' in page

    login = Client().get("/login/").content.decode()
    assert "ws-connect" not in login and "js/live.js" not in login


def test_supervisors_see_notifications_too(client):
    supervisor = factories.user("Supervisor", username="sup.notif")
    notify(supervisor, "Ticket T2-5 breached its SLA.", kind="sla_breached")
    client.force_login(supervisor)

    page = client.get("/notifications/").content.decode()

    assert "Ticket T2-5 breached its SLA." in page
    assert badge(page) == "1"
