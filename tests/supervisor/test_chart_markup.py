"""Every chart of the supervisor dashboard says what it shows without the picture: a title and a
description for its <svg> (static/js/charts.js reads them from data-title and data-desc), and,
right after it, the link to the table with its numbers. The browser side (the <svg>'s <title>
and <desc>, Enter on the link focusing the table) is in tests/e2e/test_flow_diagrams.py."""

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def charts_of(html: str) -> list[tuple[str, str]]:
    """(the chart's opening tag, the markup up to the next chart or the end)."""
    starts = [m.start() for m in re.finditer(r"<(div|figure) class=\"chart\"", html)]
    ends = [*starts[1:], len(html)]
    return [
        (re.match(r"<[^>]+>", html[start:]).group(0), html[start:end])
        for start, end in zip(starts, ends, strict=True)
    ]


def test_every_chart_has_a_title_a_description_and_its_table_linked_after_it(
    supervisor_client, floor
):
    html = supervisor_client.get(reverse("dashboard")).content.decode()

    charts = charts_of(html)
    assert len(charts) == 5  # ageing, and for 7 and 30 days: the trend and the within-SLA %
    for tag, after in charts:
        assert re.search(r'data-title="[^"]+"', tag), tag
        assert re.search(r'data-desc="[^"]+"', tag), tag
        assert 'role="img"' not in tag  # the <svg> inside is the image, named once
        link = re.search(r"<a [^>]*data-table-link[^>]*>", after)
        assert link, tag
        # Nothing the keyboard reaches stands between the chart and its link.
        assert not re.search(r"<(a|button|input|select|summary)\b", after[len(tag) : link.start()])
        target = re.search(r'href="#([^"]+)"', link.group(0)).group(1)
        table = re.search(rf'<table [^>]*id="{target}"[^>]*>', html)
        assert table and 'tabindex="-1"' in table.group(0), target
