"""Back-offices (issue 7) in real Chromium: an operator onboards a new CCAS from nothing, its
administrator accepts the invitation, enrols the second factor, sets the logo and colours,
creates a service and a file with its key; a citizen then creates an account there with that
key. Every page passes axe-core."""

from __future__ import annotations

import asyncio
import concurrent.futures
import re

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import (
    activate,
    assert_no_axe_violation,
    click,
    fill_credentials,
    link_in,
    reach_authentication,
    the_email,
    unique,
    validate,
)
from tests.support.staff import new_operator

pytestmark = pytest.mark.e2e

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f"
    b"\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


def in_thread(work):
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(work)).result()


def enter_code(page: Page, secret: str, button: str) -> None:
    page.get_by_label("Code à six chiffres").fill(pyotp.TOTP(secret).now())
    click(page, button)


def test_operator_onboards_a_ccas_whose_citizen_signs_up_with_a_key(
    browser, live_server, page, sqlite_backend
):
    email, password, secret = in_thread(new_operator(sqlite_backend.settings))
    page.goto(f"{live_server}/operator/")
    expect(page).to_have_url(f"{live_server}/operator/connexion")
    assert_no_axe_violation(page)
    page.get_by_label("Adresse de courriel").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    click(page, "Connexion")
    assert_no_axe_violation(page)
    enter_code(page, secret, "Valider")
    expect(page.get_by_role("heading", name="Collectivités", level=1)).to_be_visible()
    assert_no_axe_violation(page)

    slug = unique("ccas-e2e-")
    admin = f"{unique('admin')}@exemple.fr"
    page.get_by_role("link", name="Accueillir une nouvelle collectivité").click()
    assert_no_axe_violation(page)
    page.get_by_label("Nom de la collectivité").fill("CCAS de Lavaur")
    page.get_by_label("Adresse du portail").fill(slug)
    # each of the page's two forms has its own administrator's fields (fieldset, region)
    first_admin = page.get_by_role("group", name="PREMIER ADMINISTRATEUR")
    first_admin.get_by_label("Nom de l'administrateur").fill("Anne ADMIN")
    first_admin.get_by_label("Courriel de l'administrateur").fill(admin)
    click(page, "Créer la collectivité")
    expect(page.get_by_role("status")).to_contain_text("est créée")
    assert_no_axe_violation(page)

    # the administrator, in another browser
    context = browser.new_context(locale="fr-FR", extra_http_headers={"Accept-Language": "fr-FR"})
    adm = context.new_page()
    try:
        adm.goto(
            link_in(
                the_email(sqlite_backend, admin, "staff_invitation"), sqlite_backend, live_server
            )
        )
        assert_no_axe_violation(adm)
        adm.get_by_label("* Mot de passe", exact=True).fill("Lavaur-Admin-2026")
        adm.get_by_label("Confirmation du mot de passe").fill("Lavaur-Admin-2026")
        click(adm, "Continuer")
        expect(adm.get_by_role("heading", name="Double authentification")).to_be_visible()
        assert_no_axe_violation(adm)
        key = adm.locator(".totp-key").inner_text().replace(" ", "")
        enter_code(adm, key, "Activer la double authentification")
        expect(adm.get_by_role("heading", level=1)).to_contain_text(
            "Administration — CCAS de Lavaur"
        )
        assert_no_axe_violation(adm)

        # logo and colours
        adm.get_by_role("link", name="Apparence").click()
        assert_no_axe_violation(adm)
        adm.get_by_label("Nom court (en-tête)").fill("CCAS Lavaur")
        adm.get_by_label("Logo", exact=True).set_input_files(
            {"name": "logo.png", "mimeType": "image/png", "buffer": PNG}
        )
        adm.get_by_label("Texte de remplacement du logo").fill("CCAS de Lavaur")
        adm.get_by_role("textbox", name="Couleur principale", exact=True).fill("#5b2a86")
        # the preview follows what is typed (progressive enhancement), and says the contrast
        expect(adm.locator(".preview-header")).to_have_css("background-color", "rgb(91, 42, 134)")
        adm.get_by_label("Texte sur la couleur principale").fill("#9a9a9a")
        expect(adm.locator(".preview")).to_contain_text("refusé à l’enregistrement")
        click(adm, "Enregistrer")
        expect(adm.locator("#e-on_primary_color")).to_contain_text("Contraste de")
        assert_no_axe_violation(adm)
        # the logo chosen before the mistake is kept (a file input comes back empty)
        expect(adm.get_by_role("img", name="Logo choisi")).to_be_visible()
        adm.get_by_label("Texte sur la couleur principale").fill("#ffffff")
        click(adm, "Prévisualiser")
        expect(adm.get_by_role("heading", name="Aperçu (non enregistré)")).to_be_visible()
        expect(adm.get_by_role("img", name="Logo choisi")).to_be_visible()
        click(adm, "Enregistrer")
        expect(adm.get_by_role("status")).to_contain_text("L'apparence du portail est enregistrée.")
        expect(adm.get_by_role("img", name="Logo actuel")).to_be_visible()

        # the CGU, without which no citizen can create a space
        adm.get_by_role("navigation", name="Espace agents").get_by_role(
            "link", name="Contenus", exact=True
        ).click()
        adm.get_by_label("Titre des CGU").fill("Conditions générales d'utilisation")
        adm.get_by_label("Texte des CGU").fill("Le portail du CCAS de Lavaur.")
        adm.get_by_label(re.compile("Je publie une nouvelle version")).check()
        click(adm, "Publier la nouvelle version")
        expect(adm.get_by_role("status")).to_contain_text("La version 1 des CGU est publiée")

        # a service, a file and its key
        adm.get_by_role("link", name="Services et clés").click()
        assert_no_axe_violation(adm)
        adm.get_by_label("Nom du service").fill("Action sociale")
        adm.get_by_label("Code").fill("action-sociale")
        click(adm, "Créer le service")
        expect(adm.get_by_role("heading", name="Action sociale", level=1)).to_be_visible()
        adm.get_by_label("Numéro du dossier").fill("AS-2026-0001")
        adm.get_by_label("Titulaire").fill("Madame ROUQUETTE Odette")
        click(adm, "Créer le dossier")
        notice = adm.get_by_role("status").inner_text()
        access_key = re.search(r"Sa clé d'accès est ([A-Z0-9-]{14})", notice).group(1)
        assert_no_axe_violation(adm)
        with adm.expect_download() as letter:
            adm.get_by_role("link", name=re.compile("Lettre à imprimer")).click()
        with open(letter.value.path(), "rb") as fh:
            assert fh.read(5) == b"%PDF-"
        # what cannot be undone is asked first, on a page of its own (here: a token revoked)
        adm.get_by_role("navigation", name="Espace agents").get_by_role(
            "link", name="Facturation", exact=True
        ).click()
        adm.get_by_role("link", name="Jetons d'API du logiciel de facturation").click()
        adm.get_by_role("textbox", name="Nom").fill("Logiciel de test")
        click(adm, "Créer le jeton")
        expect(adm.locator("code.access-key")).to_be_visible()
        click(adm, "Révoquer Logiciel de test")
        expect(adm.get_by_role("heading", level=1)).to_have_text(
            "Révoquer le jeton « Logiciel de test » ?"
        )
        assert_no_axe_violation(adm)
        click(adm, "Révoquer le jeton")
        expect(adm.get_by_role("status")).to_contain_text("est révoqué")
        adm.get_by_role("navigation", name="Espace agents").get_by_role(
            "link", name="Journal", exact=True
        ).click()
        expect(adm.locator("main")).to_contain_text("service_account.created")
        expect(adm.locator("main")).to_contain_text("Jeton d'API révoqué")
        assert_no_axe_violation(adm)
        for link, heading in (
            ("Contenus", "Contenus"),
            ("Paramètres", "Paramètres"),
            ("Habitants", "Habitants"),
            ("Facturation", "Facturation"),
            ("Démarches", "Démarches"),
            ("Agents", "Agents et administrateurs"),
            ("Tableau de bord", "Administration — CCAS de Lavaur"),
        ):
            adm.get_by_role("navigation", name="Espace agents").get_by_role(
                "link", name=link, exact=True
            ).click()
            expect(adm.get_by_role("heading", level=1)).to_have_text(heading)
            assert_no_axe_violation(adm)
    finally:
        context.close()

    # a citizen of Lavaur creates an account with that key
    page.context.clear_cookies()
    page.goto(f"{live_server}/{slug}/")
    expect(page.locator("header")).to_contain_text("CCAS Lavaur")
    assert_no_axe_violation(page)
    mail = f"{unique('odette')}@exemple.fr"
    reach_authentication(page, live_server, slug, mail, "Odette", "Rouquette")
    username = unique("odette")
    fill_credentials(page, username, "lavaur-81500-ok")
    page.get_by_label(re.compile("Action sociale")).fill(access_key)
    validate(page, live_server, slug)
    activate(page, sqlite_backend, live_server, slug, mail)
