import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from guichet import i18n

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ROOT / "platform" / "guichet" / "i18n" / "locales"


@pytest.mark.parametrize(
    ("choice", "accept", "expected"),
    [
        ("en", "fr-FR,fr;q=0.9", "en"),  # the person's choice first
        (None, "en-GB,en;q=0.9,fr;q=0.5", "en"),  # then the browser
        (None, "de-DE,de;q=0.9", "fr"),  # then the tenant default
        (None, "de;q=1, en;q=0.3", "en"),
        ("es", None, "fr"),  # a choice the tenant does not offer is ignored
        (None, "en;q=0", "fr"),
        (None, "garbage;q=abc", "fr"),
    ],
)
def test_negotiation(choice, accept, expected):
    assert i18n.negotiate(choice, accept, ["fr", "en"], "fr") == expected


def test_negotiation_stays_within_the_tenant_languages():
    assert i18n.negotiate(None, "en", ["fr"], "fr") == "fr"


def test_dates_and_amounts_as_the_guide_writes_them():
    assert i18n.format_date(date(2019, 12, 17), locale="fr") == "17/12/2019"
    assert i18n.format_date(date(2019, 12, 12), "long", locale="fr") == "12 décembre 2019"
    assert i18n.format_money(853, locale="fr") == "8,53\xa0€"
    assert i18n.format_money(853, locale="en") == "€8.53"


def test_english_catalog_translates_at_run_time():
    token = i18n.use_locale("en")
    try:
        assert i18n.gettext("MON ESPACE PERSO") != "MON ESPACE PERSO"
    finally:
        i18n._current.reset(token)


def test_english_catalog_is_complete_and_current(tmp_path):
    """Fails when a template or module holds text missing from the English catalog."""
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "--no-location",
            "-F",
            str(ROOT / "babel.cfg"),
            "-o",
            str(pot),
            "platform",
            "themes",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as handle:
        template = read_po(handle)
    with (LOCALES / "en" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        english = read_po(handle, locale="en")
    missing = []
    for message in template:
        if not message.id:
            continue
        translated = english.get(message.id)
        if translated is None or not translated.string or translated.fuzzy:
            missing.append(message.id)
    assert missing == [], f"untranslated in en (run make translations, then translate): {missing}"


def test_french_plural_takes_the_singular_for_zero_and_one():
    token = i18n.use_locale("fr")
    try:
        assert i18n.ngettext("%(num)s facture", "%(num)s factures", 0) == "0 facture"
        assert i18n.ngettext("%(num)s facture", "%(num)s factures", 1) == "1 facture"
        assert i18n.ngettext("%(num)s facture", "%(num)s factures", 2) == "2 factures"
    finally:
        i18n._current.reset(token)


def test_file_sizes_as_people_read_them():
    assert i18n.format_bytes(0, locale="fr") == "0\xa0o"
    assert i18n.format_bytes(350 * 1024, locale="fr") == "350\xa0Ko"
    assert i18n.format_bytes(int(8.5 * 1024 * 1024), locale="fr") == "8,5\xa0Mo"
    assert i18n.format_bytes(100 * 1024 * 1024, locale="fr") == "100\xa0Mo"
    assert i18n.format_bytes(100 * 1024 * 1024, locale="en") == "100\xa0MB"


def test_template_gettext_keeps_jinjas_rules_and_follows_the_locale(tmp_path):
    """The templates' gettext keeps the texts without variables per locale (bench/README.md):
    the cached text must follow the locale, stay escaped where the template autoescapes, and
    format exactly as jinja's new-style gettext does."""
    from guichet.web.templates import TemplateRenderer

    templates = tmp_path / "default" / "templates"
    templates.mkdir(parents=True)
    (templates / "page.html").write_text(
        "{{ _('Se déconnecter') }}|{{ _('100 %% en ligne') }}|{{ _('Bonjour %(name)s', name=who) }}"
    )
    (templates / "mail.txt").write_text("{{ _('Bonjour %(name)s', name=who) }}")
    renderer = TemplateRenderer(tmp_path)
    for _round in range(2):  # the second round reads the kept texts
        token = i18n.use_locale("fr")
        try:
            assert renderer.render("default", "page.html", {"who": "<b>Léa</b>"}) == (
                "Se déconnecter|100 % en ligne|Bonjour &lt;b&gt;Léa&lt;/b&gt;"
            )
            assert renderer.render("default", "mail.txt", {"who": "<b>Léa</b>"}) == (
                "Bonjour <b>Léa</b>"
            )
        finally:
            i18n._current.reset(token)
        token = i18n.use_locale("en")
        try:
            page = renderer.render("default", "page.html", {"who": "Léa"})
        finally:
            i18n._current.reset(token)
        assert page == "Log out|100 % en ligne|Bonjour Léa"


def test_remembered_amounts_and_dates_follow_the_request_s_language():
    """Formatting is remembered (Babel is slow); the language of the request still decides."""
    for locale, money, day in [("fr", "8,53\xa0€", "17/12/2019"), ("en", "€8.53", "12/17/19")]:
        token = i18n.use_locale(locale)
        try:
            for _ in range(2):
                assert i18n.format_money(853) == money
                assert i18n.format_date(date(2019, 12, 17)) == day
        finally:
            i18n._current.reset(token)
