from datetime import date

import pytest

from guichet.accounts import forms
from guichet.accounts.secrets import generate_access_key, key_digest, normalize_key

TODAY = date(2026, 11, 26)


def identity(**overrides):
    data = {"civility": "Madame", "last_name": "Alquier", "first_names": "Cécile"}
    data.update(overrides)
    return forms.clean_identity(data, today=TODAY)


def test_identity_required_fields():
    _, errors = forms.clean_identity({}, today=TODAY)
    assert set(errors) == {"civility", "last_name", "first_names"}
    assert "Nom usuel" in errors["last_name"]


def test_identity_keeps_what_was_typed():
    values, errors = identity(last_name="Al9uier", birth_date="31/02/1950")
    assert values["last_name"] == "Al9uier" and values["birth_date"] == "31/02/1950"
    assert set(errors) == {"last_name", "birth_date"}


@pytest.mark.parametrize(
    ("typed", "problem"),
    [("2027-01-01", "futur"), ("1890-01-01", "année"), ("hier", "jj/mm/aaaa")],
)
def test_implausible_birth_dates(typed, problem):
    _, errors = identity(birth_date=typed)
    assert problem in errors["birth_date"]


def test_birth_date_typed_by_hand_is_understood():
    values, errors = identity(birth_date="21/03/1948")
    assert errors == {} and values["birth_date"] == "1948-03-21"


def test_a_short_year_is_this_century_only_where_asked():
    # an agent's payment or refund date, typed quickly
    assert forms.parse_date("7/12/26", short_year=True) == date(2026, 12, 7)
    assert forms.parse_date("07.12.26", short_year=True) == date(2026, 12, 7)
    assert forms.parse_date("21/03/2026", short_year=True) == date(2026, 3, 21)
    assert forms.parse_date("31/02/26", short_year=True) is None
    assert forms.parse_date("01/01/0026", short_year=True) == date(26, 1, 1)  # as typed
    # a birth date: « 48 » could be 1948 or 2048, so it is not guessed
    assert forms.parse_date("21/03/48") is None
    assert forms.parse_date("21/03/1948") == date(1948, 3, 21)


def test_birth_commune_is_checked_against_the_departement():
    values, errors = identity(birth_country="FR", birth_department="81", birth_commune="castres")
    assert errors == {} and values["birth_commune"] == "Castres"
    _, errors = identity(birth_country="FR", birth_department="81", birth_commune="Lyon")
    assert "birth_commune" in errors
    _, errors = identity(birth_country="BE", birth_department="81")
    assert "birth_department" in errors


def test_names_with_accents_hyphens_and_apostrophes():
    _, errors = identity(last_name="D'Artagnan-Équité", first_names="Marie Éléonore")
    assert errors == {}


def address(**overrides):
    data = {
        "street_number": "12",
        "street_name": "rue de la République",
        "postcode": "81100",
        "city": "Castres",
        "country": "FR",
    }
    data.update(overrides)
    return forms.clean_address(data)


def test_french_address():
    assert address()[1] == {}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"postcode": "8110"}, "postcode"),
        ({"postcode": "99999"}, "postcode"),
        ({"city": "Albi"}, "city"),
        ({"street_number": "12b"}, "street_number"),
        ({"street_number": "", "street_number_suffix": "bis"}, "street_number"),
        ({"street_number_suffix": "quinze"}, "street_number_suffix"),
        ({"country": "XX"}, "country"),
    ],
)
def test_address_errors(overrides, field):
    assert field in address(**overrides)[1]


def test_wrong_city_names_the_communes_of_the_postcode():
    _, errors = address(city="Albi")
    assert "Castres" in errors["city"]


def test_foreign_postcode_is_free():
    assert address(country="BE", postcode="1000", city="Bruxelles")[1] == {}


def test_city_is_filled_from_an_unambiguous_postcode():
    values, errors = address(postcode="81000", city="")
    assert errors == {} and values["city"] == "Albi"


def test_contact_rules():
    _, errors = forms.clean_contact({"email": "", "preferred_contact": "mobile"})
    assert set(errors) == {"email", "preferred_contact"}
    _, errors = forms.clean_contact(
        {"email": "c.alquier@ville-castres.fr", "phone": "0563715613", "preferred_contact": "phone"}
    )
    assert errors == {}
    _, errors = forms.clean_contact({"email": "pas-un-courriel", "phone": "12"})
    assert set(errors) == {"email", "phone"}
    _, errors = forms.clean_contact(
        {"email": "a@b.fr", "mobile": "+33 6 12 34 56 78", "preferred_contact": "mobile"}
    )
    assert errors == {}


@pytest.mark.parametrize("username", ["calquier", "c.alquier", "cecile-81", "abc"])
def test_good_usernames(username):
    assert forms.clean_username(username) is None


@pytest.mark.parametrize("username", ["", "ab", "-abc", "cé cile", "a" * 65, "x<script>"])
def test_bad_usernames(username):
    assert forms.clean_username(username)


def test_access_keys_are_normalized_and_bound_to_the_tenant():
    key = generate_access_key()
    assert len(normalize_key(key)) == 12
    assert normalize_key("cast res8-1as1") == normalize_key("CAST-RES8-1AS1")
    assert normalize_key("O0I1L") == "00111"
    assert key_digest("s", "tenant-a", key) == key_digest("s", "tenant-a", key.lower())
    assert key_digest("s", "tenant-a", key) != key_digest("s", "tenant-b", key)


def test_empty_city_with_a_shared_postcode_lists_its_communes():
    _, errors = address(city="")
    assert "Castres" in errors["city"] and "Burlats" in errors["city"]
