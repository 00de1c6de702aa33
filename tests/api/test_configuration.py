"""SLA policies (admins), campaigns (supervisors) and the read-only customers and services."""

from datetime import date, time

import pytest

from tests import factories
from tickets.models import CalendarDay, Campaign, SlaPolicy

pytestmark = pytest.mark.django_db

POLICY = {"flow": "nossa", "priority": 2, "claim_minutes": 10, "resolve_minutes": 600}


# --- SLA policies -----------------------------------------------------------------------------
def test_admins_create_change_and_delete_sla_policies(api, admin_user):
    client = api(admin_user)

    created = client.post("/api/sla-policies/", POLICY, format="json")
    assert created.status_code == 201
    policy_id = created.json()["id"]
    changed = client.patch(
        f"/api/sla-policies/{policy_id}/", {"resolve_minutes": 480}, format="json"
    )
    assert changed.status_code == 200
    assert SlaPolicy.objects.get().resolve_minutes == 480
    assert client.delete(f"/api/sla-policies/{policy_id}/").status_code == 204


def test_supervisors_read_sla_policies_but_cannot_change_them(api, supervisor_user, nossa_agent):
    SlaPolicy.objects.create(**POLICY)
    assert api(supervisor_user).get("/api/sla-policies/").json()["count"] == 1
    refused = api(supervisor_user).post("/api/sla-policies/", {**POLICY, "priority": 3})
    assert refused.status_code == 403
    assert api(nossa_agent).get("/api/sla-policies/").status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**POLICY, "flow": "teleport"}, "flow"),
        ({**POLICY, "claim_minutes": 0}, "claim_minutes"),
        ({**POLICY, "hours": "calendar"}, "calendar"),
        ({**POLICY, "hours": "calendar", "calendar": 999999}, "calendar"),
        ({**POLICY, "hours": "weekly"}, "hours"),
    ],
)  # fmt: skip
def test_a_bad_sla_policy_is_400_naming_the_field(api, admin_user, body, field):
    response = api(admin_user).post("/api/sla-policies/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_a_policy_on_a_business_calendar_shows_the_calendar(api, admin_user):
    office = factories.calendar("Kantor Pusat", day_ends=time(16, 30))
    CalendarDay.objects.create(calendar=office, date=date(2026, 4, 1), name="Rapat kerja")
    body = {**POLICY, "hours": "calendar", "calendar": office.pk}
    created = api(admin_user).post("/api/sla-policies/", body, format="json")
    assert created.status_code == 201, created.json()
    shown = api(admin_user).get(f"/api/sla-policies/{created.json()['id']}/").json()
    assert (shown["hours"], shown["calendar"]) == ("calendar", office.pk)
    assert shown["calendar_detail"] == {
        "id": office.pk, "name": "Kantor Pusat", "time_zone": "Asia/Jakarta",
        "day_starts": "08:00", "day_ends": "16:30", "weekdays": [0, 1, 2, 3, 4],
        "national_holidays": True, "collective_leave": True,
        "days": [{"date": "2026-04-01", "name": "Rapat kerja", "kind": "closed"}],
    }  # fmt: skip


def test_leaving_the_calendar_hours_drops_the_calendar(api, admin_user):
    office = factories.calendar("Kantor Pusat")
    policy = factories.policy(on=office)
    changed = api(admin_user).patch(
        f"/api/sla-policies/{policy.pk}/", {"hours": "site"}, format="json"
    )
    assert changed.status_code == 200
    assert (changed.json()["calendar"], changed.json()["calendar_detail"]) == (None, None)
    policy.refresh_from_db()
    assert (policy.hours, policy.calendar) == ("site", None)


def test_a_target_too_long_for_the_calendar_is_400(api, admin_user):
    tiny = factories.calendar("Tiny", day_ends=time(8, 1), weekdays=[6])  # a minute a week
    body = {**POLICY, "hours": "calendar", "calendar": tiny.pk, "resolve_minutes": 500000}
    response = api(admin_user).post("/api/sla-policies/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["resolve_minutes"] == [
        "Too long for the working time of Tiny."
    ]
    assert not SlaPolicy.objects.exists()


def test_a_second_policy_for_the_same_flow_and_priority_is_400(api, admin_user):
    SlaPolicy.objects.create(**POLICY)
    response = api(admin_user).post("/api/sla-policies/", POLICY, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["non_field_errors"]


# --- Campaigns --------------------------------------------------------------------------------
CAMPAIGN = {"code": "ideas-juni", "name": "Ideas Juni", "flow": "ideas"}


def test_every_staff_role_reads_campaigns_and_supervisors_write_them(
    api, supervisor_user, nossa_agent
):
    created = api(supervisor_user).post("/api/campaigns/", CAMPAIGN, format="json")
    assert created.status_code == 201
    listed = api(nossa_agent).get("/api/campaigns/").json()["results"]
    assert [row["code"] for row in listed] == ["ideas-juni"]
    refused = api(nossa_agent).post("/api/campaigns/", {**CAMPAIGN, "code": "other"})
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**CAMPAIGN, "flow": "nossa"}, "flow"),
        ({**CAMPAIGN, "code": "not a slug"}, "code"),
        ({**CAMPAIGN, "starts_on": "2025-06-30", "ends_on": "2025-06-01"}, "ends_on"),
    ],
)
def test_a_bad_campaign_is_400_naming_the_field(api, supervisor_user, body, field):
    response = api(supervisor_user).post("/api/campaigns/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_a_campaign_with_tickets_cannot_be_deleted_409(api, supervisor_user):
    campaign = Campaign.objects.create(**CAMPAIGN)
    factories.flow_ticket("ideas", campaign=campaign)
    response = api(supervisor_user).delete(f"/api/campaigns/{campaign.pk}/")
    assert response.status_code == 409
    assert response.json()["code"] == "Protected"
    unused = Campaign.objects.create(code="c4-mei", name="C4 Mei", flow="c4_caring")
    assert api(supervisor_user).delete(f"/api/campaigns/{unused.pk}/").status_code == 204


# --- Customers and services -------------------------------------------------------------------
def test_an_agent_reads_the_customers_of_their_tickets_with_their_services(api, nossa_agent):
    service = factories.service_at("PST")
    factories.arrive("nossa", service=service)  # agents see customers through their tickets
    client = api(nossa_agent)

    rows = client.get(f"/api/customers/?q={service.customer.name[:4]}").json()["results"]
    assert service.customer_id in [row["id"] for row in rows]
    detail = client.get(f"/api/customers/{service.customer_id}/").json()
    assert [item["service_number"] for item in detail["services"]] == [service.service_number]
    assert client.post("/api/customers/", {"name": "X"}).status_code == 405


def test_staff_find_a_service_by_number(api, support):
    service = factories.service_at("PST")
    factories.service_at("PST")
    rows = api(support).get(f"/api/services/?service_number={service.service_number}").json()
    assert [row["id"] for row in rows["results"]] == [service.pk]
    assert rows["results"][0]["customer"]["phone"] == service.customer.phone
    assert api(support).get("/api/services/424242/").status_code == 404
