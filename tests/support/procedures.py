"""Test helpers for démarches: the meal-delivery form's answers, a sent request."""

from __future__ import annotations

import re
from html import unescape

from tests.support.accounts import FR, csrf, new_citizen, post_form

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
MEALS = "/ccas-castres/demarches/portage-repas"
HEATWAVE = "/ccas-castres/demarches/registre-canicule"


def meal_answers(**changes):
    answers = {
        "beneficiaire": "Cécile ALQUIER",
        "date_naissance": "21/03/1948",
        "adresse_livraison-street_number": "12",
        "adresse_livraison-street_name": "rue de la République",
        "adresse_livraison-postcode": "81100",
        "adresse_livraison-city": "Castres",
        "adresse_livraison-country": "FR",
        "telephone": "05 63 71 56 13",
        "jours": ["Lundi", "Jeudi"],
        "regime": "Sans sel",
        "date_debut": "01/12/2026",
        "precisions": "Digicode 1234",
    }
    answers.update(changes)
    return answers


async def post_multipart(web, url, data, files=None, page_url=None):
    page = (await web.get(page_url or url, headers=FR)).text
    return await web.post(
        url, data={"_csrf_token": csrf(page), **data}, files=files or {}, headers=FR
    )


async def send_meal_request(web, backend):
    """A citizen's meal request sent with an uploaded tax notice; returns (email, request path)."""
    _username, email = await new_citizen(web, backend.settings)
    response = await post_multipart(
        web,
        MEALS,
        {**meal_answers(), "action": "continuer"},
        files={"file-avis_imposition": ("avis.pdf", PDF, "application/pdf")},
    )
    assert response.status_code == 200 and "Récapitulatif" in unescape(response.text), unescape(
        response.text
    )[:3000]
    sent = await post_form(web, f"{MEALS}/envoyer", {}, page=response.text)
    assert sent.status_code == 200, unescape(sent.text)[:2000]
    path = sent.url.path
    assert re.fullmatch(r"/ccas-castres/mon-espace/demandes/[0-9a-f-]{36}", path), path
    return email, path
