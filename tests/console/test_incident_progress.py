"""A gamas incident's page shows its children's counts by state and the recovery's progress,
"n of N", in the regions the live console fetches again (`data-live-part`)."""

import re

import pytest

from tests import factories
from tickets import selectors, services
from tickets.models import GamasIncident

pytestmark = pytest.mark.django_db


@pytest.fixture
def supervisor_client(client, supervisor):
    client.force_login(supervisor)
    return client


@pytest.fixture
def incident(supervisor, monkeypatch):
    """An open incident over STO-KBL with three waiting children; its recovery's fan-out runs
    only when a test calls the batches."""
    monkeypatch.setattr("tickets.services.gamas.start_fan_out", lambda incident_id: True)
    opened = factories.open_gamas(actor=supervisor, area_level="sto", area_code="STO-KBL")
    for _ in range(3):
        assert factories.arrive("gamas").gamas_incident_id == opened.pk
    return opened


def progress_of(html: str) -> tuple[str, str]:
    found = re.search(r'data-progress data-done="(\d+)" data-total="(\d+)"', html)
    assert found, "the page has the progress line"
    return found.group(1), found.group(2)


def test_before_the_recovery_the_page_says_how_many_wait(supervisor_client, incident):
    html = supervisor_client.get(f"/incidents/{incident.pk}/").content.decode()

    assert progress_of(html) == ("0", "3")
    assert "3 of 3 tickets wait for the recovery" in html
    assert '<span data-count-state="waiting_recovery">' in html
    assert f'data-live-topics="incident:{incident.pk}"' in html
    assert f'id="incident-progress" data-live-part="incident:{incident.pk}"' in html


def test_the_progress_moves_with_each_fan_out_batch(supervisor_client, supervisor, incident):
    services.transition_incident(incident_id=incident.pk, name="recover", actor=supervisor)
    services.fan_out_recovery_batch(incident_id=incident.pk, batch_size=1)

    html = supervisor_client.get(f"/incidents/{incident.pk}/").content.decode()

    assert progress_of(html) == ("1", "3")
    assert "1 of 3 tickets moved on after the recovery" in html
    assert '<progress max="3" value="1"' in html

    services.fan_out_recovery_batch(incident_id=incident.pk, batch_size=5)
    html = supervisor_client.get(f"/incidents/{incident.pk}/").content.decode()
    assert progress_of(html) == ("3", "3")
    assert 'data-count-state="waiting_recovery"' not in html


def test_the_selector_counts_only_the_children_by_state(supervisor, incident):
    other = factories.open_gamas(actor=supervisor)  # another incident, no children

    before = selectors.recovery_progress(supervisor, incident)
    services.transition_incident(incident_id=incident.pk, name="recover", actor=supervisor)
    services.fan_out_recovery_batch(incident_id=incident.pk, batch_size=2)
    after = selectors.recovery_progress(supervisor, GamasIncident.objects.get(pk=incident.pk))

    assert (before.done, before.total, before.waiting, before.recovering) == (0, 3, 3, False)
    assert before.counts == {"waiting_recovery": 3}
    assert (after.done, after.total, after.waiting, after.recovering) == (2, 3, 1, True)
    assert after.percent == 67
    assert selectors.recovery_progress(supervisor, other).total == 0
