"""SMS length after filling in (tickets.services.messages): a template is saved only if it fits
in the gateway's six parts with every placeholder at its longest; a value that still makes a
message too long (a name outside the SMS alphabet) is cut with "...", identifiers never.

Lengths are hand-computed: a GSM-7 SMS of several parts holds 153 characters a part (6 parts:
918), a UCS-2 one 67 (6 parts: 402). The longest customer name is 128 characters (the field's
max_length), the longest ticket number 22 (T2- and a 19-digit id).
"""

from datetime import UTC, datetime

import pytest
import time_machine

from integrations.adapters.sms import sms_segments
from tests import factories
from tests.factories import CustomerFactory, ServiceFactory
from tickets import services
from tickets.exceptions import InvalidInput
from tickets.models import CustomerMessage, MessageTemplate
from tickets.services import messages

pytestmark = pytest.mark.django_db

MORNING = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 10:00 WIB, outside quiet hours


def save(text_id, channel="sms", **fields):
    return services.save_template(
        actor=factories.role_user("Admin"), event="report_received", flow="", channel=channel,
        text_id=text_id, whatsapp_name="t2_received" if channel == "whatsapp" else "", **fields,
    )  # fmt: skip


# --- On save: the worst case ------------------------------------------------------------------
def test_a_template_that_a_long_name_would_push_over_six_parts_is_refused():
    """800 + 1 + 128 = 929 characters with the longest name: 7 parts. The text as typed (816
    characters, the braces counted twice) would have passed a check before filling in."""
    text = "a" * 800 + " {customer_name}"
    assert sms_segments(text) == 6

    with pytest.raises(InvalidInput) as refused:
        save(text)

    [message] = refused.value.errors["text_id"]
    assert "at most 6 SMS parts" in message
    assert "{customer_name}" in message
    assert message.endswith("this text needs 7.")
    assert not MessageTemplate.objects.exists()


def test_a_template_that_fits_with_the_longest_name_is_saved():
    """780 + 1 + 128 = 909 characters: 6 parts."""
    saved = save("a" * 780 + " {customer_name}")
    assert MessageTemplate.objects.get(pk=saved.pk).text_id.startswith("a" * 780)


def test_every_placeholder_counts_at_its_longest():
    """ticket 22 + service 20 + expected time 22 ("28 Jan 2026 23:59 WITA") + name 128 = 192,
    plus 4 spaces: 196; with 723 characters of text, 919: one too many; 722 fit (918)."""
    names = " {customer_name} {ticket_number} {service_number} {expected_time}"
    with pytest.raises(InvalidInput) as refused:
        save("a" * 723 + names)
    assert refused.value.errors["text_id"][0].endswith("this text needs 7.")
    assert save("a" * 722 + names).pk


def test_the_english_text_is_checked_too():
    with pytest.raises(InvalidInput) as refused:
        save("Tiket {ticket_number}.", text_en="a" * 800 + " {customer_name}")
    assert set(refused.value.errors) == {"text_en"}


def test_a_text_outside_the_sms_alphabet_is_told_why_it_takes_more_parts():
    """ "…" is not in GSM-7: the whole SMS is UCS-2, 67 a part. 300 + 1 + 128 = 429 > 402."""
    with pytest.raises(InvalidInput) as refused:
        save("…" + "a" * 299 + " {customer_name}")
    [message] = refused.value.errors["text_id"]
    assert "this text needs 7" in message
    assert "outside the SMS alphabet" in message and "'…'" in message


def test_a_whatsapp_template_has_no_sms_limit():
    assert save("a" * 800 + " {customer_name}", channel="whatsapp").pk


# --- When a message is written: cut to fit ----------------------------------------------------
def report_from(name: str):
    person = CustomerFactory(phone="081234567890", name=name)
    return factories.arrive("nossa", service=ServiceFactory(customer=person))


@time_machine.travel(MORNING, tick=False)
def test_a_name_outside_the_sms_alphabet_is_cut_with_three_dots_to_fit(
    django_capture_on_commit_callbacks,
):
    """ "Ō" makes the SMS UCS-2: 381 + 30 = 411 > 402. Keeping 18 characters and "...":
    381 + 21 = 402, six parts, and the gateway takes it."""
    MessageTemplate.objects.create(
        event="report_received", channel="sms", text_id="a" * 380 + " {customer_name}"
    )
    with django_capture_on_commit_callbacks(execute=True):
        ticket = report_from("Dewi Ōtsuka Purnamasari Wijaya")

    message = CustomerMessage.objects.get(ticket=ticket)
    assert message.text == "a" * 380 + " Dewi Ōtsuka Purnam..."
    assert message.parameters == ["Dewi Ōtsuka Purnam..."]
    assert message.status == "sent"


@time_machine.travel(MORNING, tick=False)
def test_cutting_an_emoji_away_brings_the_sms_back_to_gsm7():
    """The emoji makes the SMS UCS-2, far over six parts; "Budi Santoso..." is GSM-7 again:
    781 + 15 = 796 characters, 6 parts. Three dots, not "…", which would have kept it UCS-2."""
    MessageTemplate.objects.create(
        event="report_received", channel="sms", text_id="a" * 780 + " {customer_name}"
    )
    message = CustomerMessage.objects.get(ticket=report_from("Budi Santoso 😀"))
    assert message.text == "a" * 780 + " Budi Santoso..."
    assert sms_segments(message.text) == 6


@time_machine.travel(MORNING, tick=False)
def test_a_long_gsm7_name_is_never_cut():
    """The saved template fits with a 128-character name: 780 + 1 + 128 = 909, 6 parts."""
    MessageTemplate.objects.create(
        event="report_received", channel="sms", text_id="a" * 780 + " {customer_name}"
    )
    name = ("Nama panjang sekali " * 7)[:128]
    assert len(name) == 128
    message = CustomerMessage.objects.get(ticket=report_from(name))
    assert message.text == "a" * 780 + " " + name


def test_identifiers_are_never_cut_the_longest_free_text_first():
    """UCS-2 because of the name; 300 + 2 spaces + 15 (the number) = 317 leave 85 places for
    the name (10) and the title (109). The title, the longer, is cut: it keeps 72 characters
    and "...", 75 + 10 = 85; the name is whole."""
    text = "{customer_name} {incident_title} {incident_number}" + "b" * 300
    values = {
        "customer_name": "Ōto Wijaya",
        "incident_title": "Gangguan " + "t" * 100,
        "incident_number": "GMS-000012" + "99999",
    }
    fitted = messages.fit_sms(text, values)
    assert fitted["customer_name"] == values["customer_name"]
    assert fitted["incident_number"] == values["incident_number"]
    assert fitted["incident_title"] == "Gangguan " + "t" * 63 + "..."
    assert sms_segments(text.format_map(fitted)) == 6


def test_values_that_fit_are_left_alone_and_so_are_ones_no_cut_could_save():
    assert messages.fit_sms("Halo {customer_name}", {"customer_name": "Ōto"}) == {
        "customer_name": "Ōto"
    }
    # 403 UCS-2 places of the template itself: no name, however short, makes it fit.
    hopeless = "ō" * 403 + "{customer_name}"
    assert messages.fit_sms(hopeless, {"customer_name": "Budi Santoso"}) == {
        "customer_name": "Budi Santoso"
    }
