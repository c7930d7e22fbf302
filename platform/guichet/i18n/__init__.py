"""Translations (Babel catalogs), locale negotiation and formatting of dates and amounts.

Message ids are the French screen text of the guide; French is the source language and English
is a complete catalog (a test fails on a missing translation).
"""

from __future__ import annotations

import contextvars
import io
from collections.abc import Iterable
from datetime import date, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from babel import Locale, dates, numbers
from babel.core import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

__all__ = [
    "KNOWN_LOCALES",
    "LOCALE_DIR",
    "N_",
    "current_locale",
    "format_bytes",
    "format_date",
    "format_money",
    "get_translations",
    "gettext",
    "negotiate",
    "ngettext",
    "use_locale",
]

KNOWN_LOCALES = ("fr", "en")
LOCALE_DIR = Path(__file__).parent / "locales"
LOCALE_NAMES = {"fr": "Français", "en": "English"}

_current: contextvars.ContextVar[str] = contextvars.ContextVar("guichet_locale", default="fr")


@cache
def get_translations(locale: str) -> NullTranslations:
    """The catalog of ``locale``, read from its .po file (no compile step needed to run)."""
    if locale == "fr":
        return NullTranslations()
    po_path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po_path.is_file():
        return NullTranslations()
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain="messages")


def use_locale(locale: str) -> contextvars.Token[str]:
    return _current.set(locale if locale in KNOWN_LOCALES else "fr")


def current_locale() -> str:
    return _current.get()


def N_(message: str) -> str:
    """Marks a message for extraction (labels built at import); translated where it is shown."""
    return message


def gettext(message: str, **variables: Any) -> str:
    text = get_translations(_current.get()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    locale = _current.get()
    if locale == "fr":  # French is the source language: 0 and 1 take the singular
        text = singular if n <= 1 else plural
    else:
        text = get_translations(locale).ngettext(singular, plural, n)
    variables.setdefault("num", n)
    return text % variables


def negotiate(
    choice: str | None, accept_language: str | None, available: Iterable[str], default: str
) -> str:
    """The person's choice, then the browser's Accept-Language, then the tenant's default."""
    available = [loc for loc in available if loc in KNOWN_LOCALES] or [default]
    if choice in available:
        return choice
    if accept_language:
        preferred = []
        for part in accept_language.split(","):
            piece = part.strip().split(";")
            tag = piece[0].strip().replace("-", "_")
            quality = 1.0
            for param in piece[1:]:
                if param.strip().startswith("q="):
                    try:
                        quality = float(param.strip()[2:])
                    except ValueError:
                        quality = 0.0
            if tag and tag != "*" and quality > 0:
                preferred.append((quality, tag))
        preferred.sort(key=lambda item: -item[0])
        found = negotiate_locale([tag for _, tag in preferred], available, sep="_")
        if found is None:
            found = negotiate_locale([tag.split("_")[0] for _, tag in preferred], available)
        if found:
            return found
    return default if default in available else available[0]


def format_date(value: date | datetime, fmt: str = "short", locale: str | None = None) -> str:
    """17/12/2019 in French; 'long' gives 12 décembre 2019."""
    return _format_date(value, fmt, locale or _current.get())


# Babel parses the locale's patterns on every call: a page of invoices spent about a tenth of
# its CPU formatting amounts (bench/README.md). Amounts and dates repeat from page to page.
@lru_cache(maxsize=4096)
def _format_date(value: date | datetime, fmt: str, loc: str) -> str:
    if fmt == "short" and loc == "fr":
        return dates.format_date(value, "dd/MM/yyyy", locale=loc)
    return dates.format_date(value, fmt, locale=loc)


def format_datetime(value: datetime | None, locale: str | None = None) -> str:
    """17/12/2019 à 08h00 in French, in Paris time (what the citizen's clock says)."""
    if value is None:
        return ""
    from zoneinfo import ZoneInfo

    local = value.astimezone(ZoneInfo("Europe/Paris"))
    return gettext(
        "%(date)s à %(time)s",
        date=format_date(local.date(), locale=locale),
        time=local.strftime("%Hh%M"),
    )


def format_money(cents: int, currency: str = "EUR", locale: str | None = None) -> str:
    """8,53 € in French, from integer cents."""
    return _format_money(cents, currency, locale or _current.get())


@lru_cache(maxsize=4096)
def _format_money(cents: int, currency: str, locale: str) -> str:
    from decimal import Decimal

    return numbers.format_currency(Decimal(cents) / 100, currency, locale=locale)


def locale_name(locale: str) -> str:
    return LOCALE_NAMES.get(locale) or Locale.parse(locale).get_display_name(locale) or locale


def format_bytes(size: int, locale: str | None = None) -> str:
    """``350 Ko``, ``8,5 Mo``, ``100 Mo`` (1024-based, as people read file sizes)."""
    loc = locale or _current.get()
    units = ("o", "Ko", "Mo", "Go") if loc == "fr" else ("B", "KB", "MB", "GB")
    value = float(size)
    unit = 0
    while value >= 1024 and unit < len(units) - 1:
        value /= 1024
        unit += 1
    pattern = "#,##0" if unit == 0 or value >= 100 or value == int(value) else "#,##0.#"
    return f"{numbers.format_decimal(value, pattern, locale=loc)}\xa0{units[unit]}"
