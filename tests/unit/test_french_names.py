"""An institution's name in a French sentence takes its article: « Rapprochez-vous du CCAS de
Castres », « auprès de la Mairie de Val-Dorée », never « de CCAS de Castres »."""

from __future__ import annotations

import pytest

from guichet.tenancy.snapshot import french_forms


@pytest.mark.parametrize(
    ("name", "forms"),
    [
        ("CCAS de Castres", ("le CCAS de Castres", "du CCAS de Castres", "au CCAS de Castres")),
        (
            "Mairie de Val-Dorée",
            ("la Mairie de Val-Dorée", "de la Mairie de Val-Dorée", "à la Mairie de Val-Dorée"),
        ),
        (
            "Agglomération de Castres-Mazamet",
            (
                "l'Agglomération de Castres-Mazamet",
                "de l'Agglomération de Castres-Mazamet",
                "à l'Agglomération de Castres-Mazamet",
            ),
        ),
        (
            "Centre Communal d'Action Sociale",
            (
                "le Centre Communal d'Action Sociale",
                "du Centre Communal d'Action Sociale",
                "au Centre Communal d'Action Sociale",
            ),
        ),
        ("Castres", ("Castres", "de Castres", "à Castres")),  # a place takes no article
        ("Albi", ("Albi", "d'Albi", "à Albi")),
        ("Le Mans", ("Le Mans", "du Mans", "au Mans")),
        (
            "Les Sables-d'Olonne",
            ("Les Sables-d'Olonne", "des Sables-d'Olonne", "aux Sables-d'Olonne"),
        ),
        ("La Rochelle", ("La Rochelle", "de La Rochelle", "à La Rochelle")),
        (
            "C.C.A.S. de Lavaur",
            ("le C.C.A.S. de Lavaur", "du C.C.A.S. de Lavaur", "au C.C.A.S. de Lavaur"),
        ),
        (
            "Association Soleil",
            ("l'Association Soleil", "de l'Association Soleil", "à l'Association Soleil"),
        ),
        (
            "EHPAD Les Tilleuls",
            ("l'EHPAD Les Tilleuls", "de l'EHPAD Les Tilleuls", "à l'EHPAD Les Tilleuls"),
        ),
    ],
)
def test_french_forms(name, forms):
    assert french_forms(name) == forms
