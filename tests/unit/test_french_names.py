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
    ],
)
def test_french_forms(name, forms):
    assert french_forms(name) == forms
