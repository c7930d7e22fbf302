"""Templates are compiled once per locale with the translation of each ``_("literal")`` in
them (guichet.web.templates): the page must read exactly as when ``_`` was called at each
rendering, in both languages, escaping included."""

from __future__ import annotations

from pathlib import Path

import pytest

from guichet import i18n
from guichet.web.templates import TemplateRenderer

THEMES = Path(__file__).resolve().parents[2] / "themes"

SOURCE = (
    '{{ _("Mes factures") }}|{{ _("bâtiment %(name)s", name=name) }}|'
    '{{ _("Vous n\'avez pas encore renseigné de contact.") }}|{{ _(word) }}'
)


def render(locale: str, source: str, **context: object) -> str:
    token = i18n.use_locale(locale)
    try:
        env = TemplateRenderer(THEMES).environment("default")
        return env.from_string(source).render(**context)
    finally:
        i18n._current.reset(token)


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (
            "fr",
            "Mes factures|bâtiment &lt;b&gt;|Vous n'avez pas encore renseigné de contact."
            "|Mes factures",
        ),
        (
            "en",
            "My invoices|building &lt;b&gt;|You have not added any contacts yet.|My invoices",
        ),
    ],
)
def test_texts_read_as_translated_at_rendering(locale: str, expected: str) -> None:
    # a literal, a literal with a variable (escaped), and a text known only at rendering
    assert render(locale, SOURCE, name="<b>", word="Mes factures") == expected


def test_the_literal_is_compiled_in_each_locale() -> None:
    renderer = TemplateRenderer(THEMES)
    french = renderer.environment("default", "fr").compile('{{ _("Mes factures") }}', raw=True)
    english = renderer.environment("default", "en").compile('{{ _("Mes factures") }}', raw=True)
    assert "'Mes factures'" in french and "'My invoices'" in english
    assert "gettext" not in english  # no call left at rendering


def test_the_same_escaping_as_the_gettext_call() -> None:
    # the catalog's text is trusted (Markup); its variables are escaped; « %% » is « % »
    token = i18n.use_locale("fr")
    try:
        env = TemplateRenderer(THEMES).environment("default")
        source = '{{ _("100 %%") }}|{{ _("bâtiment %(name)s", name=name) }}'
        page = env.from_string(source).render(name="<i>")
        assert page == "100 %|bâtiment &lt;i&gt;"
        text = env.from_string(
            '{% autoescape false %}{{ _("bâtiment %(name)s", name=n) }}{% endautoescape %}'
        ).render(n="<i>")
        assert text == "bâtiment <i>"  # a text e-mail is not escaped
    finally:
        i18n._current.reset(token)


def test_a_template_that_names_something_underscore_keeps_it() -> None:
    source = '{% for _ in ["x"] %}{{ _ }}{% endfor %}{% set _ = "y" %}{{ _ }}'
    assert render("en", source) == "xy"


def test_one_renderer_serves_each_request_in_its_own_language() -> None:
    renderer = TemplateRenderer(THEMES)
    licence = "Guichet, logiciel libre sous licence AGPL-3.0-or-later."
    english = i18n.get_translations("en").gettext(licence)
    assert english != licence
    for locale in ("fr", "en", "fr", "en"):
        token = i18n.use_locale(locale)
        try:
            page = renderer.render("default", "partials/footer.html", {"tenant": None})
        finally:
            i18n._current.reset(token)
        assert (english if locale == "en" else licence) in page, locale
