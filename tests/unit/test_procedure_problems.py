"""The procedure editor says the catalog's problems in the staff's words."""

from guichet.admin.procedures import problem_in_words

ENTRY = {
    "code": "colis",
    "title": "Colis",
    "fields": [{"key": "nom", "label": "Nom"}, {"key": "age", "label": "Âge"}],
    "documents": [{"key": "rib", "label": "RIB"}],
}


def test_a_value_is_named_by_its_field_and_the_reason_in_french():
    assert problem_in_words(ENTRY, "procedures[0].fields[1].max", "at least min") == (
        "Champ « Âge » — maximum : au moins le minimum"
    )
    assert problem_in_words(ENTRY, "procedures[0].documents[0].key", "nom is used twice") == (
        "Pièce « RIB » — nom technique : le nom technique nom sert deux fois"
    )
    assert problem_in_words(ENTRY, "procedures[0].title", "300 characters at most") == (
        "Titre : 300 caractères au plus"
    )


def test_what_it_cannot_place_is_still_said():
    assert problem_in_words(ENTRY, "procedures", "two procedures have the same code") == (
        "procedures : two procedures have the same code"
    )
    assert problem_in_words(ENTRY, "procedures[0].fields[7].kind", "something new") == (
        "Champ « 8 » — type : something new"
    )
