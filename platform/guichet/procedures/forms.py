"""The answers to a procedure's form, checked against its fields: each kind has its rule, a
required field must be answered, and every message is meant for the citizen, next to the field.

``raw`` is the submitted form (a mapping; checkboxes may repeat their name). An address field
is sent as ``<key>-street_number``, ``<key>-street_name``, ``<key>-postcode``, ``<key>-city``…
and checked like the address of the personal space; its errors carry the same prefix.
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from guichet.accounts.forms import (
    _FR_PHONE,
    _INTL_PHONE,
    clean_address,
    normalize_phone,
    parse_date,
    valid_email,
)
from guichet.accounts.space import ADDRESS_FIELDS
from guichet.i18n import gettext as _

__all__ = ["clean_answers"]

MAX_TEXT = 300
MAX_LONG_TEXT = 5000
_NUMBER = re.compile(r"-?[0-9]{1,12}([.,][0-9]{1,2})?")  # ASCII digits only
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # \t and \n stay


def _raw(raw: Any, name: str) -> list[Any]:
    if hasattr(raw, "getall"):
        return list(raw.getall(name, []))
    value = raw.get(name, []) if hasattr(raw, "get") else []
    return value if isinstance(value, list) else [value]


def _all(raw: Any, name: str) -> list[str]:
    """Every non-empty text sent under ``name`` (checkboxes)."""
    return [v.strip() for v in _raw(raw, name) if isinstance(v, str) and v.strip()]


def _one(raw: Any, name: str) -> str:
    """The first value sent under ``name`` (a repeated name does not smuggle a second one in);
    anything that is not text counts as empty. Line ends become ``\n``."""
    values = _raw(raw, name)
    first = values[0] if values else ""
    return first.replace("\r\n", "\n").strip() if isinstance(first, str) else ""


def _clean_field(
    spec: dict[str, Any], raw: Any, values: dict[str, Any], errors: dict[str, str]
) -> None:
    key, kind, required = spec["key"], spec["kind"], spec.get("required", False)
    if kind == "address":
        parts = {part: _one(raw, f"{key}-{part}") for part in ADDRESS_FIELDS}
        too_long = [p for p, v in parts.items() if len(v) > 150 or _CONTROL.search(v)]
        if too_long:
            values[key] = {p: v[:150] for p, v in parts.items()}
            for part in too_long:
                errors[f"{key}-{part}"] = _("%(count)s caractères au plus.", count=150)
            return
        if not any(v for p, v in parts.items() if p != "country"):
            values[key] = {}
            if required:
                errors[f"{key}-street_name"] = _("Ce champ est obligatoire.")
            return
        address, problems = clean_address(parts)
        for part, message in problems.items():
            errors[f"{key}-{part}"] = message
        for part in ("street_name", "postcode", "city"):
            if not address.get(part) and f"{key}-{part}" not in errors:
                errors[f"{key}-{part}"] = _("Ce champ est obligatoire.")
        values[key] = address
        return
    if kind == "checkboxes":
        chosen = _all(raw, key)
        values[key] = [c for c in spec["choices"] if c in chosen]
        if len(set(chosen)) != len(values[key]):
            errors[key] = _("Choisissez parmi les cases proposées.")
        elif required and not values[key]:
            errors[key] = _("Cochez au moins une case.")
        return
    limit = MAX_LONG_TEXT if kind == "long_text" else MAX_TEXT
    text = _one(raw, key)
    values[key] = text[:limit]
    if not text:
        if required:
            errors[key] = _("Ce champ est obligatoire.")
        return
    if len(text) > limit:
        errors[key] = _("%(count)s caractères au plus.", count=limit)
    elif _CONTROL.search(text) or (kind != "long_text" and "\n" in text):
        errors[key] = _("Ce texte contient des caractères invisibles : retapez-le.")
    elif kind == "date":
        parsed = parse_date(text)
        if parsed is None or not 1900 <= parsed.year <= 2100:
            errors[key] = _(
                "Date invalide : écrivez-la sous la forme jj/mm/aaaa, par exemple %(example)s.",
                example=date_example(spec),
            )
        else:
            values[key] = parsed.isoformat()
    elif kind == "number":
        compact = text.replace(" ", "").replace("\u00a0", "")
        if not _NUMBER.fullmatch(compact):
            errors[key] = _("Écrivez un nombre, par exemple 120 ou 85,50.")
        else:
            number = Decimal(compact.replace(",", "."))
            values[key] = str(number)
            if spec.get("integer") and number != number.to_integral_value():
                errors[key] = _("Écrivez un nombre entier, par exemple 3.")
            elif "min" in spec and number < Decimal(str(spec["min"])):
                errors[key] = _("Le nombre doit être au moins %(min)s.", min=spec["min"])
            elif "max" in spec and number > Decimal(str(spec["max"])):
                errors[key] = _("Le nombre doit être au plus %(max)s.", max=spec["max"])
    elif kind == "email":
        if not valid_email(text):
            errors[key] = _("Adresse de courriel invalide, par exemple : prenom.nom@exemple.fr")
    elif kind == "phone":
        compact = normalize_phone(text)
        if not (_FR_PHONE.match(compact) or _INTL_PHONE.match(compact)):
            errors[key] = _(
                "Numéro invalide : 10 chiffres (05 63 71 56 13) ou au format "
                "international (+33 5 63 71 56 13)."
            )
    elif kind == "choice":
        if text not in spec["choices"]:
            errors[key] = _("Choisissez une valeur dans la liste.")
    elif kind == "document":
        try:
            values[key] = str(uuid.UUID(text))
        except ValueError:
            errors[key] = _("Choisissez un document dans la liste.")


def date_example(spec: dict[str, Any]) -> str:
    """The date a date field's hint gives as an example: today, but not for a birth date (a
    tester found « Date de naissance … par exemple 07/12/2026 »)."""
    if spec.get("prefill") == "birth_date" or "naissance" in str(spec.get("label", "")).lower():
        return "21/03/1948"
    return date.today().strftime("%d/%m/%Y")


def clean_answers(fields: list[dict[str, Any]], raw: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """(values, errors): the values keep what was typed, so that the form shows it again."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for spec in fields:
        _clean_field(spec, raw, values, errors)
    return values, errors
