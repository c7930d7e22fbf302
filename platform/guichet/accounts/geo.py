"""Countries (Babel), French départements and communes (official data shipped in ``data/``)."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel import Locale

from guichet.text import ascii_fold

__all__ = ["communes_for_postcode", "countries", "departements", "find_commune", "known_postcode"]

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Commune:
    code: str
    name: str
    departement: str
    postcodes: tuple[str, ...]


def _fold(text: str) -> str:
    text = ascii_fold(text)
    return " ".join(text.replace("-", " ").replace("'", " ").split())


@cache
def countries(locale: str) -> list[tuple[str, str]]:
    """(code, name) of every country, France first, then by name in ``locale``."""
    names = Locale.parse(locale).territories
    items = [
        (code, name)
        for code, name in names.items()
        if len(code) == 2
        and code.isalpha()
        and code not in {"ZZ", "EU", "EZ", "UN", "QO", "XA", "XB", "XK"}
    ]
    items.sort(key=lambda item: _fold(item[1]))
    france = [item for item in items if item[0] == "FR"]
    return france + [item for item in items if item[0] != "FR"]


@cache
def departements() -> list[tuple[str, str]]:
    path = DATA / "departements.json"
    if not path.is_file():
        return []
    return [(d["code"], d["nom"]) for d in json.loads(path.read_text("utf-8"))]


@cache
def _communes() -> tuple[list[Commune], dict[str, list[Commune]], dict[tuple[str, str], Commune]]:
    path = DATA / "communes.json.gz"
    if not path.is_file():
        return [], {}, {}
    rows = json.loads(gzip.decompress(path.read_bytes()))["communes"]
    communes = [Commune(r[0], r[1], r[2], tuple(r[3])) for r in rows]
    by_postcode: dict[str, list[Commune]] = {}
    by_name: dict[tuple[str, str], Commune] = {}
    for commune in communes:
        for postcode in commune.postcodes:
            by_postcode.setdefault(postcode, []).append(commune)
        by_name.setdefault((commune.departement, _fold(commune.name)), commune)
    return communes, by_postcode, by_name


def known_postcode(postcode: str) -> bool:
    return postcode in _communes()[1]


def communes_for_postcode(postcode: str) -> list[Commune]:
    return list(_communes()[1].get(postcode, []))


def find_commune(departement: str, name: str) -> Commune | None:
    return _communes()[2].get((departement, _fold(name)))


def city_matches_postcode(postcode: str, city: str) -> bool:
    wanted = _fold(city)
    return any(_fold(c.name) == wanted for c in communes_for_postcode(postcode))


def data_available() -> bool:
    return bool(_communes()[0]) and bool(departements())
