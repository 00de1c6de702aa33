"""The admins' SLA policy pages: the list with defaults, the editor and its validation."""

from datetime import time

import pytest
from django.urls import reverse

from tests import factories
from tests.supervisor.conftest import block, messages_of, page, shown
from tickets import sla
from tickets.models import SlaPolicy

pytestmark = pytest.mark.django_db

VALID = {
    "claim_minutes": "20",
    "resolve_minutes": "600",
    "escalation_answer_minutes": "90",
}
BUSINESS = {
    **VALID,
    "business_hours_only": "on",
    "day_starts": "08:00",
    "day_ends": "17:00",
    "business_weekdays": ["0", "1", "2", "3", "4"],
}


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def edit_url(flow="nossa", priority=3):
    return reverse("sla_policy_edit", args=[flow, priority])


def test_list_shows_every_flow_and_priority_with_defaults_where_none_is_saved(admin_client):
    SlaPolicy.objects.create(
        flow="callback", priority=2, claim_minutes=7, resolve_minutes=70,
        escalation_answer_minutes=45, business_hours_only=True, day_starts=time(8),
        day_ends=time(17), business_weekdays=[0, 1, 2, 3, 4],
    )  # fmt: skip
    html = page(admin_client.get(reverse("sla_policies")))
    assert html.count("<tr data-priority=") == 7 * 4
    nossa_normal = block(block(html, "table", "data-flow", "nossa"), "tr", "data-priority", "3")
    default = sla.policy_for("nossa", 3)
    assert shown(nossa_normal, "claim") == f"{default.claim_minutes} min"
    assert shown(nossa_normal, "resolve") == f"{default.resolve_minutes} min"
    assert shown(nossa_normal, "calendar") == "24x7"
    assert "default" in nossa_normal
    saved = html.split('data-flow="callback"')[1].split('data-priority="2"')[1].split("</tr>")[0]
    assert 'data-k="claim">7 min' in saved and "saved" in saved
    assert "Mon, Tue, Wed, Thu, Fri 08:00–17:00" in saved


def test_list_reads_the_policies_in_one_query(admin_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        page(admin_client.get(reverse("sla_policies")))


def test_editor_starts_from_the_default_and_saving_creates_the_policy(admin_client):
    form = page(admin_client.get(edit_url()))
    default = sla.default_policy("nossa", 3)
    assert f'value="{default.claim_minutes}"' in form
    response = admin_client.post(edit_url(), VALID, follow=True)
    assert "SLA policy saved: NOSSA, Normal." in messages_of(response)
    policy = SlaPolicy.objects.get(flow="nossa", priority=3)
    assert (policy.claim_minutes, policy.resolve_minutes, policy.escalation_answer_minutes) == (
        20, 600, 90,
    )  # fmt: skip
    assert not policy.business_hours_only
    assert sla.policy_for("nossa", 3).pk == policy.pk


def test_saving_business_hours_then_editing_again(admin_client):
    admin_client.post(edit_url(), BUSINESS)
    policy = SlaPolicy.objects.get(flow="nossa", priority=3)
    assert policy.business_hours_only
    assert (policy.day_starts, policy.day_ends) == (time(8), time(17))
    assert policy.business_weekdays == [0, 1, 2, 3, 4]
    admin_client.post(edit_url(), {**BUSINESS, "resolve_minutes": "480"})
    assert SlaPolicy.objects.get(pk=policy.pk).resolve_minutes == 480
    assert SlaPolicy.objects.count() == 1


def test_turning_business_hours_off_clears_the_calendar(admin_client):
    admin_client.post(edit_url(), BUSINESS)
    admin_client.post(edit_url(), {**BUSINESS, "business_hours_only": ""})
    policy = SlaPolicy.objects.get(flow="nossa", priority=3)
    assert not policy.business_hours_only
    assert (policy.day_starts, policy.day_ends, policy.business_weekdays) == (None, None, [])


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"claim_minutes": "0"}, "claim_minutes", "Enter a positive number of minutes."),
        ({"resolve_minutes": "-5"}, "resolve_minutes", "Enter a positive number of minutes."),
        ({"escalation_answer_minutes": ""}, "escalation_answer_minutes", "This field is required"),
        ({"claim_minutes": "abc"}, "claim_minutes", "Enter a whole number."),
        ({"resolve_minutes": "999999"}, "resolve_minutes", "Enter at most 86400 minutes"),
        ({"claim_minutes": "700"}, "claim_minutes", "cannot be longer than the resolve target"),
        ({"day_starts": "17:00", "day_ends": "08:00"}, "day_ends", "must end after it starts"),
        ({"day_starts": "09:00", "day_ends": "09:00"}, "day_ends", "must end after it starts"),
        ({"business_weekdays": []}, "business_weekdays", "Choose at least one business day."),
        ({"day_starts": ""}, "day_starts", "the time the day starts"),
        ({"day_ends": "25:00"}, "day_ends", "Enter a valid time."),
        ({"business_weekdays": ["9"]}, "business_weekdays", "Select a valid choice"),
    ],
)
def test_bad_input_is_said_next_to_the_field_and_nothing_is_saved(
    admin_client, changes, field, message
):
    response = admin_client.post(edit_url(), {**BUSINESS, **changes})
    assert response.status_code == 422
    form = response.context["form"]
    assert any(message in error for error in form.errors[field]), form.errors
    field_html = block(response.content.decode(), "form", "id", "policy-form")
    assert message.split("%")[0][:20] in field_html
    assert "Nothing was saved." in " ".join(messages_of(response))
    assert not SlaPolicy.objects.exists()


def test_a_target_too_long_for_a_tiny_business_calendar_is_refused(admin_client):
    tiny = {**BUSINESS, "day_starts": "08:00", "day_ends": "08:01", "business_weekdays": ["6"]}
    response = admin_client.post(edit_url(), {**tiny, "resolve_minutes": "86400"})
    assert response.status_code == 422
    assert "too long for so few business hours" in str(response.context["form"].errors)
    assert not SlaPolicy.objects.exists()


def test_a_bad_edit_leaves_the_saved_policy_as_it_was(admin_client):
    admin_client.post(edit_url(), VALID)
    admin_client.post(edit_url(), {**VALID, "claim_minutes": "0"})
    assert SlaPolicy.objects.get().claim_minutes == 20


def test_use_the_default_again_deletes_the_policy(admin_client):
    admin_client.post(edit_url(), VALID)
    response = admin_client.post(reverse("sla_policy_reset", args=["nossa", 3]), follow=True)
    assert "NOSSA, Normal uses the default targets again." in messages_of(response)
    assert not SlaPolicy.objects.exists()


def test_a_saved_policy_sets_the_deadlines_of_tickets_that_arrive_afterwards(admin_client):
    admin_client.post(edit_url(), VALID)
    ticket = factories.arrive("nossa")
    assert (ticket.claim_by - ticket.created_at).total_seconds() == 20 * 60
    assert (ticket.resolve_by - ticket.created_at).total_seconds() == 600 * 60


def test_unknown_flow_or_priority_is_404(admin_client):
    assert admin_client.get(edit_url("nope", 3)).status_code == 404
    assert admin_client.get(edit_url("nossa", 9)).status_code == 404


@pytest.mark.parametrize("role", ["Supervisor", "Support", "Agent"])
def test_only_admins_open_or_post_the_policies(client, role):
    client.force_login(factories.user(role, site_code="PST"))
    assert client.get(reverse("sla_policies")).status_code == 403
    assert client.get(edit_url()).status_code == 403
    assert client.post(edit_url(), VALID).status_code == 403
    assert client.post(reverse("sla_policy_reset", args=["nossa", 3])).status_code == 403
    assert not SlaPolicy.objects.exists()
