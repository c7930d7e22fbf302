"""One folding for every comparison of French text: « œ » and « æ » are spelled out, never
dropped (« Wœrth » was « wrth » for the commune of birth, « Bœuf » « bf » for the password
check, « Œlie » gave the username « lie »)."""

from guichet.accounts.geo import find_commune
from guichet.accounts.models import search_form
from guichet.accounts.passwords import check_password
from guichet.accounts.services import _ascii_username
from guichet.documents.services import _slug
from guichet.tenancy.snapshot import PasswordPolicy
from guichet.text import ascii_fold, fold


def test_fold():
    assert fold("Œuvre Éléonore") == "oeuvre eleonore"
    assert fold("Lætitia STRAßE") == "laetitia strasse"
    assert fold("Noël № 3 – ﬁn") == "noel no 3 – fin"  # other characters kept
    assert ascii_fold("Noël – Œ") == "noel  oe"
    assert search_form("Wœrth") == "woerth"  # the staff's search, as stored before


def test_a_commune_of_birth_with_a_ligature_is_found_either_way():
    for typed in ("Wœrth", "Woerth", "WOERTH"):
        commune = find_commune("67", typed)
        assert commune is not None and commune.name == "Wœrth", typed
    assert find_commune("57", "Woelfling-les-Sarreguemines").name == "Wœlfling-lès-Sarreguemines"


def test_names_made_from_a_name_keep_the_ligature_spelled_out():
    assert _ascii_username("Œlie.Bœuf") == "oelie.boeuf"
    assert _slug("Attestation Lætitia") == "attestation-laetitia"


def test_a_password_holding_a_name_with_a_ligature_is_refused():
    problems = check_password("boeuf2026x", PasswordPolicy(), personal=["Bœuf"])
    assert any("votre nom" in p for p in problems), problems


def test_an_address_shows_its_lines_each_escaped():
    from guichet.web.templates import _lines

    assert str(_lines("1 place\r\nde la <Mairie>")) == "1 place<br>de la &lt;Mairie&gt;"
    assert str(_lines(None)) == ""
