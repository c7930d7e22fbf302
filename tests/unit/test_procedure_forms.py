"""Each field kind of a procedure's form: its rule, its message, and what was typed kept."""

import uuid

import pytest
from multidict import MultiDict

from guichet.procedures.forms import clean_answers


def field(kind, **extra):
    return {"key": "f", "label": "F", "kind": kind, "required": True, **extra}


@pytest.mark.parametrize(
    ("kind", "typed", "value"),
    [
        ("text", "  Madame ALQUIER  ", "Madame ALQUIER"),
        ("long_text", "Ligne 1\nLigne 2", "Ligne 1\nLigne 2"),
        ("date", "21/03/1948", "1948-03-21"),
        ("date", "1948-03-21", "1948-03-21"),
        ("number", "85,50", "85.50"),
        ("number", "1 200", "1200"),
        ("email", "c.alquier@ville-castres.fr", "c.alquier@ville-castres.fr"),
        ("phone", "05 63 71 56 13", "05 63 71 56 13"),
        ("phone", "+33 5 63 71 56 13", "+33 5 63 71 56 13"),
    ],
)
def test_good_answers_are_accepted(kind, typed, value):
    values, errors = clean_answers([field(kind)], {"f": typed})
    assert errors == {} and values["f"] == value


@pytest.mark.parametrize(
    ("kind", "typed", "message"),
    [
        ("date", "31/02/2020", "Date invalide"),
        ("date", "demain", "Date invalide"),
        ("number", "douze", "Écrivez un nombre"),
        ("number", "1e9", "Écrivez un nombre"),
        ("number", "Infinity", "Écrivez un nombre"),
        ("email", "c.alquier@", "Adresse de courriel invalide"),
        ("phone", "12", "Numéro invalide"),
        ("text", "x" * 301, "300 caractères au plus"),
        ("document", "../../etc/passwd", "Choisissez un document"),
    ],
)
def test_bad_answers_say_why_and_keep_what_was_typed(kind, typed, message):
    values, errors = clean_answers([field(kind)], {"f": typed})
    assert message in errors["f"]
    assert values["f"] == typed[:300]


@pytest.mark.parametrize("kind", ["text", "long_text", "date", "number", "email", "phone"])
def test_a_required_field_must_be_answered_and_an_optional_one_may_be_empty(kind):
    assert "obligatoire" in clean_answers([field(kind)], {"f": "  "})[1]["f"]
    assert clean_answers([field(kind, required=False)], {})[1] == {}


def test_choice_takes_only_a_proposed_value():
    spec = field("choice", choices=["Normal", "Sans sel"])
    assert clean_answers([spec], {"f": "Sans sel"}) == ({"f": "Sans sel"}, {})
    assert "Choisissez une valeur" in clean_answers([spec], {"f": "Sucré"})[1]["f"]


def test_checkboxes_take_several_proposed_values_in_their_order():
    spec = field("checkboxes", choices=["Lundi", "Mardi", "Mercredi"])
    form = MultiDict([("f", "Mercredi"), ("f", "Lundi")])
    assert clean_answers([spec], form) == ({"f": ["Lundi", "Mercredi"]}, {})
    assert "Cochez au moins une case" in clean_answers([spec], MultiDict())[1]["f"]
    forged = MultiDict([("f", "Lundi"), ("f", "Dimanche")])
    assert "Choisissez parmi les cases" in clean_answers([spec], forged)[1]["f"]


def test_a_document_answer_is_a_document_id():
    document = str(uuid.uuid4())
    assert clean_answers([field("document")], {"f": document}) == ({"f": document}, {})


def test_an_address_is_checked_like_the_personal_spaces():
    spec = {**field("address"), "key": "adresse"}
    good = {
        "adresse-street_number": "2",
        "adresse-street_name": "Rue de l'Hôtel de Ville",
        "adresse-postcode": "81100",
        "adresse-city": "Castres",
    }
    values, errors = clean_answers([spec], good)
    assert errors == {} and values["adresse"]["city"] == "Castres"
    values, errors = clean_answers([spec], {**good, "adresse-postcode": "8110"})
    assert "5 chiffres" in errors["adresse-postcode"]
    assert values["adresse"]["postcode"] == "8110"  # kept to be shown again
    assert "obligatoire" in clean_answers([spec], {})[1]["adresse-street_name"]
    assert clean_answers([{**spec, "required": False}], {}) == ({"adresse": {}}, {})


@pytest.mark.parametrize(
    ("kind", "form", "message"),
    [
        ("text", {"f": "a\x00b"}, "caractères invisibles"),
        ("text", {"f": "deux\nlignes"}, "caractères invisibles"),
        ("number", {"f": "١٢"}, "Écrivez un nombre"),  # digits, but not ours
        ("date", {"f": "01/01/0001"}, "Date invalide"),
        ("text", MultiDict([("f", ""), ("f", "glissé")]), "obligatoire"),  # the first one counts
        ("text", {"f": ["liste"]}, None),
        ("text", {"f": 12}, "obligatoire"),  # not text: empty
    ],
)
def test_hostile_answers_get_a_message_never_an_exception(kind, form, message):
    values, errors = clean_answers([field(kind)], form)
    if message is None:
        assert errors == {} and values["f"] == "liste"
    else:
        assert message in errors["f"]


def test_a_long_text_keeps_its_lines_and_tabs():
    values, errors = clean_answers([field("long_text")], {"f": "a\r\n\tb"})
    assert errors == {} and values["f"] == "a\n\tb"


def test_an_address_part_too_long_is_said_not_cut_silently():
    spec = {**field("address"), "key": "adresse"}
    values, errors = clean_answers(
        [spec], {"adresse-street_name": "R" * 151, "adresse-city": "Castres"}
    )
    assert "150 caractères au plus" in errors["adresse-street_name"]
    assert values["adresse"]["city"] == "Castres"


@pytest.mark.parametrize(
    ("typed", "message"),
    [("3", None), ("2,5", "nombre entier"), ("0", "au moins 1"), ("21", "au plus 20")],
)
def test_a_number_field_keeps_to_its_limits(typed, message):
    spec = field("number", integer=True, min=1, max=20)
    values, errors = clean_answers([spec], {"f": typed})
    if message is None:
        assert errors == {} and values["f"] == "3"
    else:
        assert message in errors["f"] and values["f"]


def test_a_birth_dates_example_is_not_today():
    """A tester read « Date de naissance — par exemple 07/12/2026 »: a birth date's hint and
    message give a date of birth, other dates today's."""
    from datetime import date

    from guichet.procedures.forms import date_example

    today = date.today().strftime("%d/%m/%Y")
    birth = field("date", label="Date de naissance de la personne")
    assert date_example(birth) == "21/03/1948"
    assert date_example(field("date", label="Né(e) le", prefill="birth_date")) == "21/03/1948"
    assert date_example(field("date", label="Date souhaitée")) == today
    _values, errors = clean_answers([birth], {"f": "32/13/1948"})
    assert errors["f"].endswith("par exemple 21/03/1948.")
