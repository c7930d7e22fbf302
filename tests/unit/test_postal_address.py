"""The postal address under a name on a letter: from a citizen's space or a service's file."""

from guichet.accounts.models import (
    Citizen,
    ServiceAccount,
    clean_postal_address,
    mailing_address,
    postal_address_problem,
    postal_lines,
)


def citizen(**fields):
    base = {
        "street_number": "",
        "street_number_suffix": "",
        "street_name": "",
        "building": "",
        "apartment": "",
        "address_complement": "",
        "postcode": "",
        "city": "",
        "country": "FR",
    }
    return Citizen(**{**base, **fields})


def test_a_spaces_address_is_written_as_the_norm_asks():
    full = citizen(
        street_number="12",
        street_number_suffix="ter",
        street_name="rue Villegoudou",
        building="Bâtiment A",
        apartment="Appartement 3",
        address_complement="Chez Mme PUECH",
        postcode="81100",
        city="Castres",
    )
    assert postal_lines(full) == (
        "Bâtiment A Appartement 3\nChez Mme PUECH\n12 ter rue Villegoudou\n81100 CASTRES"
    )
    abroad = citizen(street_name="Via Roma 3", postcode="00184", city="Roma", country="IT")
    assert postal_lines(abroad) == "Via Roma 3\n00184 ROMA\nIT"
    assert postal_lines(citizen()) == ""  # no address in the space


def test_the_linked_space_wins_over_the_file_and_the_file_fills_in():
    account = ServiceAccount(postal_address="1 place Soult\n81100 CASTRES")
    moved = citizen(street_name="avenue Albert 1er", postcode="81100", city="Castres")
    assert mailing_address(account, moved) == "avenue Albert 1er\n81100 CASTRES"
    assert mailing_address(account, citizen()) == "1 place Soult\n81100 CASTRES"
    assert mailing_address(account, None) == "1 place Soult\n81100 CASTRES"


def test_typed_addresses_are_cleaned_and_a_too_long_one_is_refused():
    assert clean_postal_address(" 1  place Soult \r\n\r\n| 81100  CASTRES ") == (
        "1 place Soult\n81100 CASTRES"
    )
    assert postal_address_problem("a\nb\nc\nd\ne") == ""
    assert "at most 5 lines" in postal_address_problem("a\nb\nc\nd\ne\nf")
    assert postal_address_problem("x" * 301)


def test_the_files_csv_reads_its_columns_by_their_header():
    from guichet.admin.controllers import parse_files_csv

    rows, problems = parse_files_csv(
        b"reference;holder_name;postal_address;email\n"
        b"AS-1;Jean;12 rue X | 81100 CASTRES;jean@exemple.fr\n"
        b"AS-2;Paule;;\n"
    )
    assert problems == []
    assert rows[0][1] == {
        "reference": "AS-1",
        "holder_name": "Jean",
        "email": "jean@exemple.fr",
        "postal_address": "12 rue X\n81100 CASTRES",
    }
    rows, problems = parse_files_csv(
        b"reference;holder_name;postal_address\nAS-1;Jean;12 rue X | 81100 CASTRES\n"
    )
    assert problems == [] and rows[0][1]["email"] == ""
