"""The admins' SLA policy pages: the list with defaults, the editor and its validation."""

from datetime import time
from html import unescape

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
    "hours": "24x7",
}


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def office(db):
    return factories.calendar("Kantor Pusat")


@pytest.fixture
def business(office):
    """The form's fields for a policy on the calendar "Kantor Pusat"."""
    return {**VALID, "hours": "calendar", "calendar": str(office.pk)}


def edit_url(flow="nossa", priority=3):
    return reverse("sla_policy_edit", args=[flow, priority])


def test_list_shows_every_flow_and_priority_with_defaults_where_none_is_saved(admin_client, office):
    factories.policy("callback", 2, claim=7, resolve=70, answer=45, on=office)
    factories.policy("ideas", 4, claim=60, resolve=600, hours="site")
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
    assert "Kantor Pusat · Mon, Tue, Wed, Thu, Fri 08:00–17:00 WIB" in saved
    ideas_low = block(block(html, "table", "data-flow", "ideas"), "tr", "data-priority", "4")
    assert unescape(shown(ideas_low, "calendar")) == "The site's calendar"


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
    assert (policy.hours, policy.calendar) == ("24x7", None)
    assert sla.policy_for("nossa", 3).pk == policy.pk


def test_the_editor_offers_the_hours_and_the_calendars(admin_client, office):
    form = block(page(admin_client.get(edit_url())), "form", "id", "policy-form")
    for hours in ("24x7", "calendar", "site"):
        assert f'value="{hours}"' in form
    assert f'<option value="{office.pk}">Kantor Pusat</option>' in form
    assert "Jam kerja WIB" in form  # the sites' calendar, made with the sites


def test_saving_a_calendar_then_editing_again(admin_client, business, office):
    admin_client.post(edit_url(), business)
    policy = SlaPolicy.objects.get(flow="nossa", priority=3)
    assert (policy.hours, policy.calendar) == ("calendar", office)
    admin_client.post(edit_url(), {**business, "resolve_minutes": "480"})
    assert SlaPolicy.objects.get(pk=policy.pk).resolve_minutes == 480
    assert SlaPolicy.objects.count() == 1


def test_saving_the_sites_calendar(admin_client):
    admin_client.post(edit_url(), {**VALID, "hours": "site"})
    policy = SlaPolicy.objects.get(flow="nossa", priority=3)
    assert (policy.hours, policy.calendar) == ("site", None)


@pytest.mark.parametrize("hours", ["24x7", "site"])
def test_leaving_the_named_calendar_drops_it(admin_client, business, hours):
    admin_client.post(edit_url(), business)
    admin_client.post(edit_url(), {**business, "hours": hours})
    policy = SlaPolicy.objects.get(flow="nossa", priority=3)
    assert (policy.hours, policy.calendar) == (hours, None)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"claim_minutes": "0"}, "claim_minutes", "Enter a positive number of minutes."),
        ({"resolve_minutes": "-5"}, "resolve_minutes", "Enter a positive number of minutes."),
        ({"escalation_answer_minutes": ""}, "escalation_answer_minutes", "This field is required"),
        ({"claim_minutes": "abc"}, "claim_minutes", "Enter a whole number."),
        ({"resolve_minutes": "999999"}, "resolve_minutes", "Enter at most 86400 minutes"),
        ({"claim_minutes": "700"}, "claim_minutes", "cannot be longer than the resolve target"),
        ({"calendar": ""}, "calendar", "Choose the business calendar."),
        ({"calendar": "999999"}, "calendar", "Select a valid choice"),
        ({"hours": ""}, "hours", "This field is required"),
        ({"hours": "weekdays"}, "hours", "Select a valid choice"),
    ],
)
def test_bad_input_is_said_next_to_the_field_and_nothing_is_saved(
    admin_client, business, changes, field, message
):
    response = admin_client.post(edit_url(), {**business, **changes})
    assert response.status_code == 422
    form = response.context["form"]
    assert any(message in error for error in form.errors[field]), form.errors
    field_html = block(response.content.decode(), "form", "id", "policy-form")
    assert message.split("%")[0][:20] in field_html
    assert "Nothing was saved." in " ".join(messages_of(response))
    assert not SlaPolicy.objects.exists()


def test_a_target_too_long_for_a_tiny_business_calendar_is_refused(admin_client):
    # One minute a week (Sundays 08:00-08:01): three years of it hold about 157 minutes.
    tiny = factories.calendar("Tiny", day_ends=time(8, 1), weekdays=[6])
    body = {**VALID, "hours": "calendar", "calendar": str(tiny.pk), "resolve_minutes": "86400"}
    response = admin_client.post(edit_url(), body)
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert errors["resolve_minutes"] == [
        "This target is too long for the working time of Tiny: shorten it."
    ]
    assert not SlaPolicy.objects.exists()


def test_a_target_too_long_for_one_sites_calendar_is_refused(admin_client, malang):
    malang.calendar = factories.calendar("Tiny Malang", day_ends=time(8, 1), weekdays=[6])
    malang.save()
    response = admin_client.post(edit_url(), {**VALID, "hours": "site"})
    assert response.status_code == 422
    assert "working time of Tiny Malang" in str(response.context["form"].errors)
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
