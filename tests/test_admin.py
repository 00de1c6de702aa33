import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    User.objects.create_superuser("root", "root@example.com", "secret-pass-123")
    client.login(username="root", password="secret-pass-123")
    return client


def test_every_admin_page_renders_with_a_ticket_in_the_database(admin_client):
    ticket = factories.arrive("nossa")
    for model in admin.site._registry:
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        assert admin_client.get(url).status_code == 200, url
    change = reverse("admin:tickets_ticket_change", args=[ticket.pk])
    page = admin_client.get(change)
    assert page.status_code == 200
    assert b"arrive" in page.content  # the transition log is shown inline


def test_ticket_state_cannot_be_edited_in_the_admin(admin_client):
    ticket = factories.arrive("nossa")
    page = admin_client.get(reverse("admin:tickets_ticket_change", args=[ticket.pk]))
    assert b'name="state"' not in page.content


def test_admin_refuses_an_sla_policy_whose_business_day_ends_before_it_starts(admin_client):
    from tickets.models import SlaPolicy

    response = admin_client.post(
        reverse("admin:tickets_slapolicy_add"),
        {
            "flow": "nossa",
            "priority": 3,
            "claim_minutes": 30,
            "resolve_minutes": 600,
            "escalation_answer_minutes": 120,
            "business_hours_only": "on",
            "day_starts": "17:00",
            "day_ends": "08:00",
            "business_weekdays": ["0", "1"],
        },
    )
    assert response.status_code == 200
    assert b"must end after it starts" in response.content
    assert not SlaPolicy.objects.exists()


def test_the_admin_cannot_change_a_ticket_and_the_ticket_stays_as_it_was(admin_client):
    """Writes to tickets go through the services: the admin's change form is view-only, and a
    forged POST changes nothing (no flow, assignee, deadline or attempt edited without a log)."""
    from tickets.models import Ticket, TransitionLog

    ticket = factories.arrive("nossa")
    someone = factories.agent(flows=("nossa",))
    before = Ticket.objects.values().get(pk=ticket.pk)
    logs_before = TransitionLog.objects.count()
    url = reverse("admin:tickets_ticket_change", args=[ticket.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    for field in ("flow", "assignee", "resolve_by", "failed_attempts", "claim_by"):
        assert f'name="{field}"'.encode() not in page.content, field
    forged = admin_client.post(
        url, {"flow": "ideas", "assignee": someone.pk, "failed_attempts": 9, "priority": 1}
    )
    assert forged.status_code == 403
    assert Ticket.objects.values().get(pk=ticket.pk) == before
    assert TransitionLog.objects.count() == logs_before


@pytest.mark.parametrize(
    "model", ["ticket", "gamasincident", "escalation", "transitionlog"], ids=str
)
def test_service_owned_rows_cannot_be_added_or_deleted_in_the_admin(admin_client, model):
    assert admin_client.get(reverse(f"admin:tickets_{model}_add")).status_code == 403
