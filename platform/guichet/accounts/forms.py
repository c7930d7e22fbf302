"""The fields of the creation wizard and of the personal space, with the guide's rules.

Each ``clean_*`` function takes the raw form values and returns ``(values, errors)``: ``values``
keeps what the person typed (trimmed) so that a page with errors shows it again, and ``errors``
maps a field name to its message, shown beside the field and in the summary at the top.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from guichet.accounts import geo
from guichet.i18n import N_
from guichet.i18n import gettext as _

__all__ = [
    "CIVILITIES",
    "CONTACT_MEANS",
    "PHONE_PROBLEM",
    "STREET_SUFFIXES",
    "clean_address",
    "clean_contact",
    "clean_identity",
    "clean_username",
    "parse_date",
    "valid_email",
    "valid_phone",
]

CIVILITIES = ("Madame", "Monsieur")
STREET_SUFFIXES = ("bis", "ter", "quater", "quinquies", "A", "B", "C", "D")
CONTACT_MEANS = ("email", "phone", "mobile", "fax")
_NAME = re.compile(r"^[^\W\d_]+(?:[ '’\-.][^\W\d_]+)*\.?$", re.UNICODE)
_EMAIL = re.compile(
    r"^[^@\s<>,;\"()\[\]]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{2,63}$")
_FR_PHONE = re.compile(r"^0[1-9](?:\d{2}){4}$")
_INTL_PHONE = re.compile(r"^\+\d{6,15}$")

Values = dict[str, str]
Errors = dict[str, str]


def _get(raw: Any, name: str, limit: int = 200) -> str:
    value = raw.get(name, "") if hasattr(raw, "get") else ""
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "").strip()[:limit]


def parse_date(text: str, *, short_year: bool = False) -> date | None:
    """``1948-03-21`` (the date input) or ``21/03/1948`` (typed by hand). With ``short_year``
    (an agent's recent dates: a payment, a refund), ``7/12/26`` is 7 December 2026 too; never
    for a birth date, where « 48 » could be either century."""
    text = text.strip()
    patterns = [
        (r"^(\d{4})-(\d{2})-(\d{2})$", "ymd"),
        (r"^(\d{1,2})[/.\- ](\d{1,2})[/.\- ](\d{4})$", "dmy"),
    ]
    if short_year:
        patterns.append((r"^(\d{1,2})[/.\- ](\d{1,2})[/.\- ](\d{2})$", "dmy2"))
    for pattern, order in patterns:
        match = re.match(pattern, text)
        if match:
            a, b, c = (int(x) for x in match.groups())
            year, month, day = (a, b, c) if order == "ymd" else (c, b, a)
            if order == "dmy2":  # « 26 », never « 0026 » (typed as such, it is year 26)
                year += 2000
            try:
                return date(year, month, day)
            except ValueError:
                return None
    return None


def valid_email(email: str) -> bool:
    return bool(_EMAIL.match(email)) and ".." not in email and len(email) <= 254


def normalize_phone(text: str) -> str:
    compact = re.sub(r"[\s.\-()]", "", text)
    if compact.startswith("0033"):
        compact = "+33" + compact[4:]
    return compact


def valid_phone(text: str) -> bool:
    """A French number of ten digits or an international one (+ and 6 to 15 digits), spaces,
    dots, dashes and brackets allowed."""
    compact = normalize_phone(text)
    return bool(_FR_PHONE.match(compact) or _INTL_PHONE.match(compact))


PHONE_PROBLEM = N_(
    "Numéro invalide : 10 chiffres (05 63 71 56 13) ou au format international (+33 5 63 71 56 13)."
)


def clean_identity(raw: Any, today: date | None = None) -> tuple[Values, Errors]:
    today = today or date.today()
    values = {
        "civility": _get(raw, "civility", 20),
        "last_name": _get(raw, "last_name", 100),
        "birth_name": _get(raw, "birth_name", 100),
        "first_names": _get(raw, "first_names", 150),
        "birth_date": _get(raw, "birth_date", 20),
        "birth_country": _get(raw, "birth_country", 2).upper(),
        "birth_department": _get(raw, "birth_department", 3).upper(),
        "birth_commune": _get(raw, "birth_commune", 100),
    }
    errors: Errors = {}
    if values["civility"] not in CIVILITIES:
        errors["civility"] = _("Choisissez votre civilité.")
    for name, label in (("last_name", _("Nom usuel")), ("first_names", _("Prénom(s)"))):
        if not values[name]:
            errors[name] = _("Le champ « %(label)s » est obligatoire.", label=label)
        elif not _NAME.match(values[name]):
            errors[name] = _(
                "Saisissez uniquement des lettres, des espaces, des traits d'union "
                "ou des apostrophes."
            )
    if values["birth_name"] and not _NAME.match(values["birth_name"]):
        errors["birth_name"] = _(
            "Saisissez uniquement des lettres, des espaces, des traits d'union ou des apostrophes."
        )
    if values["birth_date"]:
        born = parse_date(values["birth_date"])
        if born is None:
            errors["birth_date"] = _("Date invalide : saisissez-la sous la forme jj/mm/aaaa.")
        elif born > today:
            errors["birth_date"] = _("La date de naissance ne peut pas être dans le futur.")
        elif today.year - born.year > 120:
            errors["birth_date"] = _("Vérifiez l'année de naissance.")
        else:
            values["birth_date"] = born.isoformat()
    if values["birth_country"] and values["birth_country"] not in dict(geo.countries("fr")):
        errors["birth_country"] = _("Choisissez un pays dans la liste.")
    if values["birth_department"]:
        if values["birth_country"] not in ("", "FR"):
            errors["birth_department"] = _(
                "Le département ne concerne que les personnes nées en France."
            )
        elif values["birth_department"] not in dict(geo.departements()):
            errors["birth_department"] = _("Choisissez un département dans la liste.")
    if values["birth_commune"] and values["birth_department"] and "birth_department" not in errors:
        commune = geo.find_commune(values["birth_department"], values["birth_commune"])
        if commune is None and geo.data_available():
            errors["birth_commune"] = _(
                "Cette commune n'existe pas dans le département choisi : vérifiez son orthographe."
            )
        elif commune is not None:
            values["birth_commune"] = commune.name
    return values, errors


def clean_address(raw: Any) -> tuple[Values, Errors]:
    values = {
        "street_number": _get(raw, "street_number", 10),
        "street_number_suffix": _get(raw, "street_number_suffix", 10),
        "street_name": _get(raw, "street_name", 150),
        "building": _get(raw, "building", 100),
        "apartment": _get(raw, "apartment", 50),
        "address_complement": _get(raw, "address_complement", 150),
        "postcode": _get(raw, "postcode", 10).replace(" ", ""),
        "city": _get(raw, "city", 100),
        "country": (_get(raw, "country", 2) or "FR").upper(),
    }
    errors: Errors = {}
    if values["street_number"] and not re.fullmatch(r"\d{1,5}", values["street_number"]):
        errors["street_number"] = _(
            "Le numéro ne contient que des chiffres (choisissez bis, ter… dans la liste à côté)."
        )
    if values["street_number_suffix"] and values["street_number_suffix"] not in STREET_SUFFIXES:
        errors["street_number_suffix"] = _("Choisissez une valeur dans la liste.")
    if values["street_number_suffix"] and not values["street_number"]:
        errors["street_number"] = _(
            "Indiquez le numéro qui accompagne « %(suffix)s ».",
            suffix=values["street_number_suffix"],
        )
    if values["country"] not in dict(geo.countries("fr")):
        errors["country"] = _("Choisissez un pays dans la liste.")
    if values["country"] == "FR" and values["postcode"]:
        if not re.fullmatch(r"\d{5}", values["postcode"]):
            errors["postcode"] = _("Un code postal français compte 5 chiffres, par exemple 81100.")
        elif geo.data_available() and not geo.known_postcode(values["postcode"]):
            errors["postcode"] = _("Ce code postal n'existe pas : vérifiez-le.")
        elif (
            values["city"]
            and geo.data_available()
            and not geo.city_matches_postcode(values["postcode"], values["city"])
        ):
            names = ", ".join(c.name for c in geo.communes_for_postcode(values["postcode"])[:5])
            errors["city"] = _(
                "Le code postal %(postcode)s correspond à : %(names)s.",
                postcode=values["postcode"],
                names=names,
            )
        elif not values["city"] and geo.data_available():
            communes = geo.communes_for_postcode(values["postcode"])
            if len(communes) == 1:
                values["city"] = communes[0].name
            elif communes and values["street_name"]:
                errors["city"] = _(
                    "Indiquez la ville : le code postal %(postcode)s correspond à %(names)s.",
                    postcode=values["postcode"],
                    names=", ".join(c.name for c in communes[:8]),
                )
    if values["street_name"] and not values["city"] and "city" not in errors:
        errors["city"] = _("Indiquez la ville.")
    return values, errors


def clean_contact(raw: Any) -> tuple[Values, Errors]:
    values = {
        "phone": _get(raw, "phone", 30),
        "mobile": _get(raw, "mobile", 30),
        "fax": _get(raw, "fax", 30),
        "email": _get(raw, "email", 254),
        "preferred_contact": _get(raw, "preferred_contact", 10) or "email",
    }
    errors: Errors = {}
    for name in ("phone", "mobile", "fax"):
        if values[name] and not valid_phone(values[name]):
            errors[name] = _(PHONE_PROBLEM)
    if not values["email"]:
        errors["email"] = _(
            "Le courriel est obligatoire : il sert à activer votre espace et à "
            "retrouver votre mot de passe."
        )
    elif not valid_email(values["email"]):
        errors["email"] = _("Adresse de courriel invalide, par exemple : prenom.nom@exemple.fr")
    preferred = values["preferred_contact"]
    if preferred not in CONTACT_MEANS:
        errors["preferred_contact"] = _("Choisissez un moyen de contact dans la liste.")
    elif not values[preferred]:
        errors["preferred_contact"] = _(
            "Le moyen de contact préféré doit être renseigné ci-dessus."
        )
    return values, errors


def clean_username(username: str) -> str | None:
    """The error for a malformed username, or None."""
    if not username:
        return _("Le champ « %(label)s » est obligatoire.", label=_("Nom d'utilisateur"))
    if not _USERNAME.match(username):
        return _(
            "De 3 à 64 caractères : lettres sans accent, chiffres, point, tiret, tiret bas "
            "ou @, en commençant par une lettre ou un chiffre."
        )
    return None


def username_subject(username: str) -> str:
    """The key under which attempts on a username are counted (whether it exists or not)."""
    return username.strip().casefold()[:64] or "-"
