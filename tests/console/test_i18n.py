"""The console speaks Bahasa Indonesia by default and English after the switch; every string of
the flows (labels, SOP steps, actions, inputs, closing codes, rules) is translated."""

import gettext
import re
from pathlib import Path

import polib
import pytest
from django.conf import settings as django_settings
from django.utils import translation

from tests.console.conftest import nossa_ticket, taken
from tickets import exceptions
from tickets.flows import FLOWS, GamasIncidentMachine

pytestmark = pytest.mark.django_db

LOCALE = Path(django_settings.BASE_DIR) / "locale" / "id" / "LC_MESSAGES"
# Names that are the same in both languages: products, systems, flows.
SAME_IN_BOTH = {
    "NOSSA", "Callback", "IVR Gamas", "C4 Caring", "Force Close", "Fresh Lapul", "Ideas",
    "Normal", "Supervisor", "Support", "Admin", "SLA", "CSV", "FCR", "24x7", "English",
    "Bahasa Indonesia", "Gamas", "Backlog", "Status", "Area", "Filter", "email", "status",
    "STO", "OLT", "ODP", "SMS", "WhatsApp",
}  # fmt: skip


@pytest.fixture
def indonesian_default(settings):
    settings.LANGUAGE_CODE = "id"


def test_flows_page_is_in_indonesian_by_default(client, indonesian_default):
    page = client.get("/flows/").content.decode()

    assert '<html lang="id">' in page
    assert "Alur SOP (bagian 8), digambar dari mesin status" in page
    assert "Diagnosa" in page and "Tiket sudah diambil di NOSSA; mulai diagnosa." in page
    assert not re.search(r'(x|y)="\d+,\d+"', page), "SVG coordinates must not be localised"


def test_flows_page_is_in_english_after_the_switch(client, indonesian_default):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/flows/"}, follow=True)

    page = response.content.decode()
    assert '<html lang="en">' in page
    assert "The SOP flows (section 8), drawn from the state machines" in page
    assert "The ticket is taken in NOSSA; start the diagnosis." in page


def test_workspace_is_in_indonesian_by_default_and_english_after_the_switch(
    agent_client, agent, indonesian_default
):
    ticket = taken(nossa_ticket(), agent)
    url = f"/tickets/{ticket.pk}/"

    indonesian = agent_client.get(url).content.decode()
    agent_client.post("/i18n/setlang/", {"language": "en", "next": url})
    english = agent_client.get(url).content.decode()

    in_indonesian = [
        "Langkah SOP", "Tiket sudah diambil di NOSSA; mulai diagnosa.", "Mulai diagnosa",
        "Eskalasi ke Support", "Catat panggilan", "Tiket berikutnya", "Linimasa",
    ]  # fmt: skip
    in_english = [
        "SOP step", "The ticket is taken in NOSSA; start the diagnosis.", "Start diagnosis",
        "Escalate to Support", "Record a call", "Next ticket", "Timeline",
    ]  # fmt: skip
    assert [text for text in in_indonesian if text not in indonesian] == []
    assert [text for text in in_english if text not in english] == []


def flow_strings():
    """Every string the flow machines show to people."""
    for machine in [*FLOWS.values(), GamasIncidentMachine]:
        for state in machine.states.values():
            yield state.label
            yield state.sop_step
        for _code, label in machine.closing_codes:
            yield label
        for found in machine._meta.get_field("state").get_all_transitions(machine):
            yield found.custom["label"]
            for spec in found.custom["inputs"]:
                yield spec.label
                for _value, label in spec.choices:
                    yield label
            for check in found.conditions:
                yield check.message
    for error in (
        exceptions.TicketError, exceptions.TransitionNotAllowed, exceptions.TransitionForbidden,
        exceptions.ConditionNotMet, exceptions.InvalidInput, exceptions.TicketAlreadyClaimed,
        exceptions.ConcurrentChange, exceptions.NoTicketAvailable,
    ):  # fmt: skip
        yield error.default_message


def test_every_string_of_the_flows_is_translated():
    untranslated = []
    for text in {str(item) for item in flow_strings()}:  # the English source
        with translation.override("id"):
            indonesian = translation.gettext(text)
        if indonesian == text and text not in SAME_IN_BOTH:
            untranslated.append(text)
    assert untranslated == []


def test_the_compiled_catalogue_is_the_catalogue():
    # Completeness (nothing untranslated or fuzzy) is tests/console/test_catalogue.py's.
    entries = polib.pofile(str(LOCALE / "django.po"))
    with (LOCALE / "django.mo").open("rb") as compiled:
        catalogue = gettext.GNUTranslations(compiled)

    def compiled_text(entry):
        if entry.msgid_plural:
            return (
                catalogue.npgettext(entry.msgctxt, entry.msgid, entry.msgid_plural, 1)
                if entry.msgctxt
                else catalogue.ngettext(entry.msgid, entry.msgid_plural, 1)
            )
        if entry.msgctxt:
            return catalogue.pgettext(entry.msgctxt, entry.msgid)
        return catalogue.gettext(entry.msgid)

    def source_text(entry):
        return entry.msgstr_plural[0] if entry.msgid_plural else entry.msgstr

    stale = [entry.msgid for entry in entries if compiled_text(entry) != source_text(entry)]
    assert stale == [], "run: manage.py compilemessages (the .mo is committed)"


def test_console_locale_middleware_ignores_the_browsers_language(client, settings):
    settings.LANGUAGE_CODE = "id"
    settings.MIDDLEWARE = [
        "tickets.views.language.ConsoleLocaleMiddleware"
        if name == "django.middleware.locale.LocaleMiddleware"
        else name
        for name in settings.MIDDLEWARE
    ]

    default = client.get("/flows/", headers={"Accept-Language": "en-US,en;q=0.9"})
    client.post("/i18n/setlang/", {"language": "en", "next": "/flows/"})
    chosen = client.get("/flows/", headers={"Accept-Language": "en-US,en;q=0.9"})

    assert '<html lang="id">' in default.content.decode()
    assert '<html lang="en">' in chosen.content.decode()
