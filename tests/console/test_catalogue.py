"""The Indonesian catalogue: complete, up to date with the code, and what the pages show.

(a) every entry of locale/id/LC_MESSAGES/django.po is translated, none is fuzzy, and an entry
    left the same as its English source is a name both languages share (SAME_IN_BOTH);
(b) makemessages, run on a copy of the sources, finds the same messages as the catalogue holds:
    a string marked in the code but missing from the catalogue (or the other way round) fails;
(c) every console page of every role, in Indonesian, shows no flow state's code in its text
    (people read state labels; codes belong in attributes, <code> and the raw answers) and no
    English sentence the catalogue translates.
"""

from __future__ import annotations

import io
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.test import Client, override_settings

from tests.console.test_i18n import SAME_IN_BOTH  # names both languages share
from tickets import selectors
from tickets.flows import FLOWS, GamasIncidentMachine
from tickets.management.commands.load_demo import DEMO_USERS
from tickets.models import Escalation, GamasIncident, Role
from tickets.views.queues import queues_of

BASE = Path(django_settings.BASE_DIR)
CATALOGUE = BASE / "locale" / "id" / "LC_MESSAGES" / "django.po"
# What `manage.py makemessages` leaves out (the command in docs/console.md, "Languages").
NOT_SCANNED = (".venv", "bench", "tests", "staticfiles", "var", "docs")
SOURCE_SUFFIXES = (".py", ".html", ".txt")  # makemessages' extensions for the django domain


def key(entry: polib.POEntry) -> str:
    return f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt else entry.msgid


def translation_of(entry: polib.POEntry) -> str:
    return entry.msgstr_plural.get(0, "") if entry.msgid_plural else entry.msgstr


def catalogue() -> polib.POFile:
    return polib.pofile(str(CATALOGUE))


# --- (a) complete ---------------------------------------------------------------------------
def test_every_entry_of_the_catalogue_is_translated_and_none_is_fuzzy():
    entries = [entry for entry in catalogue() if not entry.obsolete]

    assert len(entries) > 1000
    assert [key(entry) for entry in entries if not translation_of(entry)] == []
    assert [key(entry) for entry in entries if entry.fuzzy] == []
    same = [key(e) for e in entries if translation_of(e) == e.msgid and e.msgid not in SAME_IN_BOTH]
    assert same == [], "left in English: translate it, or add a shared name to SAME_IN_BOTH"


def test_a_plural_entry_has_its_one_indonesian_form():
    # Indonesian has one plural form: msgstr[0] serves every count.
    po = catalogue()
    plurals = [entry for entry in po if entry.msgid_plural]

    assert "nplurals=1; plural=0;" in po.metadata["Plural-Forms"]
    assert plurals
    assert [key(entry) for entry in plurals if list(entry.msgstr_plural) != [0]] == []


# --- (b) up to date with the code -----------------------------------------------------------
def copy_sources(target: Path) -> None:
    """The files makemessages reads, at the same relative paths, and nothing else."""
    for path in BASE.rglob("*"):
        relative = path.relative_to(BASE)
        if relative.parts[0] in NOT_SCANNED or any(p.startswith(".") for p in relative.parts):
            continue
        if relative.parts[0] == "locale" or path.suffix not in SOURCE_SUFFIXES:
            continue
        if path.is_file():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / relative)


def messages_of(po: polib.POFile) -> set[tuple[str, str]]:
    return {(key(entry), entry.msgid_plural) for entry in po if not entry.obsolete}


def test_the_catalogue_holds_exactly_the_messages_marked_in_the_code(
    tmp_path, monkeypatch, settings
):
    if not (shutil.which("xgettext") and shutil.which("msgmerge")):
        pytest.skip("needs GNU gettext (xgettext, msgmerge)")
    copy_sources(tmp_path)
    fresh = tmp_path / "locale" / "id" / "LC_MESSAGES" / "django.po"
    fresh.parent.mkdir(parents=True)
    shutil.copyfile(CATALOGUE, fresh)
    settings.LOCALE_PATHS = [tmp_path / "locale"]  # nothing is written under the checkout
    monkeypatch.chdir(tmp_path)

    call_command(
        "makemessages", locale=["id"], ignore_patterns=list(NOT_SCANNED), no_obsolete=True,
        verbosity=0, stdout=io.StringIO(),
    )  # fmt: skip

    in_code, in_catalogue = messages_of(polib.pofile(str(fresh))), messages_of(catalogue())
    assert sorted(in_code - in_catalogue) == [], "marked in the code, missing from the catalogue"
    assert sorted(in_catalogue - in_code) == [], "in the catalogue, no longer in the code"


# --- (c) what the pages show ----------------------------------------------------------------
class VisibleText(HTMLParser):
    """The text a reader sees: no tags, attributes, scripts, styles, <code> or <pre> (codes and
    the systems' raw answers)."""

    HIDDEN = {"script", "style", "code", "pre", "template", "head"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.hidden = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.hidden:
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return re.sub(r"\s+", " ", " ".join(parser.parts)).strip()


# State codes that are also words of the agents' Indonesian (the demo notes say "lanjut
# monitoring"): in a page's text they cannot be told from what people wrote.
INDONESIAN_TOO = {"monitoring"}


def state_codes() -> set[str]:
    """The codes of every state of every flow machine and of the incident machine."""
    machines = [*FLOWS.values(), GamasIncidentMachine]
    return {code for machine in machines for code in machine.states} - INDONESIAN_TOO


def english_sentences() -> list[str]:
    """English source texts the catalogue translates, long enough to be unmistakable: two words
    or more, no placeholders, not part of any translation (names kept in Indonesian)."""
    po = catalogue()
    translations = " ".join(translation_of(entry) for entry in po)
    return [
        entry.msgid
        for entry in po
        if len(entry.msgid.split()) >= 2
        and not re.search(r"[%{]", entry.msgid)
        and entry.msgid not in translations
        and translation_of(entry) != entry.msgid
    ]


def problems_of(text: str, codes: set[str], sentences: list[str]) -> list[str]:
    found = [f"state code {code!r}" for code in codes if re.search(rf"\b{code}\b", text)]
    found += [f"English {sentence!r}" for sentence in sentences if sentence in text]
    return found


FAST_PASSWORDS = override_settings(
    PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]
)


@pytest.fixture(scope="module")
def demo_floor(django_db_setup, django_db_blocker):
    """The demo data (a ticket in every state of every flow, incidents, escalations, a user
    per role), loaded once for the module and rolled back after it."""
    with django_db_blocker.unblock(), FAST_PASSWORDS, transaction.atomic():
        call_command("load_demo", "--per-state=1", "--new-per-flow=1", stdout=io.StringIO())
        yield
        transaction.set_rollback(True)


def demo_user(role: str):
    name = next(user.username for user in DEMO_USERS if user.role == role)
    return get_user_model().objects.get(username=name)


def ticket_pages(user, *, every_state: bool) -> list[str]:
    """The workspace and customer panel of one visible ticket per (flow, state), or per flow."""
    seen, pages = set(), []
    for pk, flow, state in (
        selectors.visible_tickets(user).order_by("pk").values_list("pk", "flow", "state")
    ):
        group = (flow, state) if every_state else flow
        if group not in seen:
            seen.add(group)
            pages += [f"/tickets/{pk}/", f"/tickets/{pk}/panel/"]
    return pages


def pages_of(role: str, user) -> list[str]:
    incident = GamasIncident.objects.order_by("pk").first()
    escalation = Escalation.objects.order_by("pk").first()
    pages = ["/", "/flows/", "/notifications/", "/account/two-factor/"]
    pages += [f"/queues/{slug}/" for slug, _label in queues_of(user)]
    if role in (Role.SUPERVISOR, Role.SUPPORT, Role.ADMIN):
        pages += ["/incidents/", f"/incidents/{incident.pk}/"]
    if role in (Role.SUPERVISOR, Role.SUPPORT):
        pages += ["/desk/", f"/desk/{escalation.pk}/"]
    if role == Role.SUPERVISOR:
        pages += [
            "/supervisor/", "/supervisor/live/", "/supervisor/slg/", "/supervisor/imports/",
            "/supervisor/callback-records/new/",
        ]  # fmt: skip
    if role == Role.ADMIN:
        pages += ["/sla-policies/", "/sla-policies/nossa/3/"]
    return pages + ticket_pages(user, every_state=role == Role.SUPERVISOR)


@pytest.mark.parametrize("role", [Role.AGENT, Role.SUPERVISOR, Role.SUPPORT, Role.ADMIN])
def test_the_pages_show_labels_not_state_codes_and_no_english(demo_floor, db, settings, role):
    settings.LANGUAGE_CODE = "id"
    user = demo_user(role)
    client = Client()
    client.force_login(user)
    codes, sentences = state_codes(), english_sentences()

    problems, statuses = {}, {}
    for page in pages_of(role, user):
        response = client.get(page)
        statuses[page] = response.status_code
        if response.status_code == 200:
            found = problems_of(visible_text(response.content.decode()), codes, sentences)
            if found:
                problems[page] = found

    assert {page: code for page, code in statuses.items() if code != 200} == {}
    assert problems == {}


def test_the_page_check_finds_english_and_codes_where_they_are(demo_floor, db, settings):
    # The check above is only worth something if it sees what it looks for: the same page in
    # English is full of the catalogue's sentences, and a code in the text is found.
    settings.LANGUAGE_CODE = "en"
    client = Client()
    client.force_login(demo_user(Role.AGENT))
    text = visible_text(client.get("/").content.decode())

    english = problems_of(text, set(), english_sentences())
    assert len(english) >= 3
    assert problems_of("Status: waiting_recovery", state_codes(), []) == [
        "state code 'waiting_recovery'"
    ]
    assert visible_text('<p title="new">Baru <code>new</code></p>') == "Baru"
