"""Démarches (issue 6) in real Chromium: a citizen asks for meals at home with a document of
their store, an agent asks for a complement, the citizen answers with a file, the agent
accepts; someone without an account signs up a neighbour to the heat-wave register and follows
it with the tracking code. Every page passes axe-core."""

from __future__ import annotations

import asyncio
import concurrent.futures
import re

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import (
    CASTRES,
    activate,
    assert_no_axe_violation,
    click,
    create_account,
    emails_to,
    fill_document,
    log_in,
    the_email,
    unique,
    zone,
)
from tests.support.staff import new_staff

pytestmark = pytest.mark.e2e

SMALL_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def pdf(name: str) -> dict:
    return {"name": name, "mimeType": "application/pdf", "buffer": SMALL_PDF}


def fresh_agent(backend, role: str = "agent", slug: str = CASTRES) -> tuple[str, str, str]:
    """A new staff member (own second-factor secret), made in a thread: Playwright's sync API
    runs its own event loop in this one."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(new_staff(backend.settings, slug, role))).result()


def agent_login(
    page: Page, live_server: str, agent: tuple[str, str, str], slug: str = CASTRES
) -> None:
    email, password, secret = agent
    page.goto(f"{live_server}/{slug}/agents/connexion")
    assert_no_axe_violation(page)
    page.get_by_label("Adresse de courriel").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    click(page, "Connexion")
    expect(page.get_by_role("heading", name="Code de vérification")).to_be_visible()
    assert_no_axe_violation(page)
    page.get_by_label("Code à six chiffres").fill(pyotp.TOTP(secret).now())
    click(page, "Valider")


def test_meal_request_with_complement_and_acceptance(browser, live_server, page, sqlite_backend):
    username, password = unique("repas"), "livraison-midi-42"
    mail = f"{username}@exemple.fr"
    create_account(page, live_server, CASTRES, username, password, mail)
    activate(page, sqlite_backend, live_server, CASTRES, mail)
    log_in(page, live_server, CASTRES, username, password)

    # a document kept in the store first
    zone(page, "MON TABLEAU DE BORD").get_by_role("link", name="Pièces justificatives").click()
    fill_document(page, "Avis d'imposition 2025", "Avis d'imposition", pdf("avis.pdf"))
    expect(page.get_by_role("status")).to_contain_text("est enregistrée")

    # MON ACCUEIL → Faire une démarche → the procedure
    page.goto(f"{live_server}/{CASTRES}/mon-espace")
    page.get_by_role("link", name="Faire une démarche").click()
    expect(page.get_by_role("heading", name="Démarches en ligne", level=1)).to_be_visible()
    assert_no_axe_violation(page)
    page.locator("li.procedure", has_text="Demande de portage de repas à domicile").get_by_role(
        "link", name="Faire cette demande"
    ).click()
    expect(
        page.get_by_role("heading", name="Demande de portage de repas à domicile")
    ).to_be_visible()
    # prefilled from the account
    expect(page.get_by_label("Nom et prénom du bénéficiaire")).to_have_value("Cécile ALQUIER")
    expect(page.get_by_label("Nom de la voie")).not_to_have_value("")
    assert_no_axe_violation(page)

    # sent too soon: errors beside the fields, what was typed is kept
    page.get_by_label("Précisions (accès au logement, allergies…)").fill("Digicode 4821")
    click(page, "Vérifier avant l'envoi")
    expect(page.get_by_role("alert")).to_contain_text("erreur")
    expect(page.get_by_label("Précisions (accès au logement, allergies…)")).to_have_value(
        "Digicode 4821"
    )
    assert_no_axe_violation(page)

    page.get_by_label("Date de naissance").fill("21/03/1948")
    page.get_by_label("Téléphone").fill("05 63 71 56 13")
    page.get_by_label("Lundi").check()
    page.get_by_label("Jeudi").check()
    page.get_by_label("Régime alimentaire").select_option("Sans sel")
    page.get_by_label("Date de début souhaitée").fill("01/12/2026")
    chooser = page.get_by_label("Choisir dans mes pièces justificatives")
    stored = chooser.locator("option", has_text="Avis d'imposition 2025").get_attribute("value")
    chooser.select_option(stored)
    click(page, "Vérifier avant l'envoi")
    expect(page.get_by_role("heading", name="Récapitulatif de votre demande")).to_be_visible()
    summary = page.locator("main").inner_text()
    assert "Lundi, Jeudi" in summary and "Avis d'imposition 2025" in summary
    assert_no_axe_violation(page)
    click(page, "Envoyer ma demande")

    expect(page.get_by_role("status")).to_contain_text("Votre demande est transmise")
    heading = page.get_by_role("heading", level=1).inner_text()
    reference = re.search(r"D\d{4}-[A-Z0-9]{6}", heading).group(0)
    expect(page.locator(".request-state")).to_contain_text("Transmise")
    assert_no_axe_violation(page)
    request_url = page.url
    ack = the_email(sqlite_backend, mail, "request_received")
    assert reference in ack["Subject"]
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger l'accusé de réception").click()
    assert download.value.suggested_filename == f"accuse-reception-{reference}.pdf"
    with open(download.value.path(), "rb") as fh:
        assert fh.read(5) == b"%PDF-"

    # the agent asks for a complement
    agent_context = browser.new_context(
        locale="fr-FR", extra_http_headers={"Accept-Language": "fr-FR"}
    )
    agent = agent_context.new_page()
    try:
        agent_login(agent, live_server, fresh_agent(sqlite_backend))
        expect(agent.get_by_role("heading", name="Demandes à traiter", level=1)).to_be_visible()
        assert_no_axe_violation(agent)
        agent.get_by_role("link", name=reference).click()
        expect(agent.get_by_role("heading", level=1)).to_contain_text(reference)
        assert_no_axe_violation(agent)
        agent.get_by_label("Nouvel état").select_option(label="En attente de compléments")
        agent.get_by_label("Commentaire pour le demandeur").fill(
            "Merci de nous envoyer un relevé d'identité bancaire."
        )
        click(agent, "Changer l'état")
        expect(agent.get_by_role("status")).to_contain_text("En attente de compléments")

        status_mail = the_email(sqlite_backend, mail, "request_status")
        assert (
            "relevé d'identité bancaire"
            in status_mail.get_body(preferencelist=("plain",)).get_content()
        )

        # the citizen answers with the file
        page.goto(f"{live_server}/{CASTRES}/mon-espace")
        zone(page, "MON TABLEAU DE BORD").get_by_role(
            "link", name=re.compile("Dernières demandes")
        ).click()
        expect(page.get_by_role("heading", name="Mes demandes", level=1)).to_be_visible()
        assert_no_axe_violation(page)
        page.get_by_role("link", name=reference).click()
        expect(page.locator(".request-state")).to_contain_text("En attente de compléments")
        expect(page.locator("main")).to_contain_text("relevé d'identité bancaire")
        assert_no_axe_violation(page)
        page.get_by_label("Votre message").fill("Voici mon RIB.")
        page.get_by_label("Joindre des documents (facultatif)").set_input_files(pdf("rib.pdf"))
        click(page, "Envoyer")
        expect(page.get_by_role("status")).to_contain_text("Votre message est envoyé")
        expect(page.locator(".request-state")).to_contain_text("En cours d'instruction")
        assert page.url == request_url

        # the agent reads it and accepts
        agent.reload()
        expect(agent.locator("main")).to_contain_text("Voici mon RIB.")
        with agent.expect_download() as rib:
            agent.get_by_role("link", name="rib.pdf").click()
        with open(rib.value.path(), "rb") as fh:
            assert fh.read() == SMALL_PDF
        agent.get_by_label("Nouvel état").select_option(label="Acceptée")
        agent.get_by_label("Commentaire pour le demandeur").fill("Première livraison lundi.")
        click(agent, "Changer l'état")
        expect(agent.get_by_role("status")).to_contain_text("Acceptée")
        assert_no_axe_violation(agent)
    finally:
        agent_context.close()

    page.reload()
    expect(page.locator(".request-state")).to_contain_text("Acceptée")
    expect(page.locator(".timeline")).to_contain_text("Première livraison lundi.")
    assert len(emails_to(sqlite_backend, mail, "request_status")) == 2


def test_heatwave_register_without_an_account(live_server, page, sqlite_backend):
    page.goto(f"{live_server}/{CASTRES}/")
    page.get_by_role("link", name="Faire une démarche").click()
    page.locator("li.procedure", has_text="plan canicule").get_by_role(
        "link", name="Faire cette demande"
    ).click()
    mail = f"{unique('voisin')}@exemple.fr"
    page.get_by_role("textbox", name="Nom et prénom", exact=True).fill("Nicolas ALQUIER")
    page.get_by_label("Adresse de courriel").fill(mail)
    page.get_by_label("Nom et prénom de la personne à inscrire").fill("Cécile ALQUIER")
    page.get_by_label("Nom de la voie").fill("rue Villegoudou")
    page.get_by_label("Code postal").fill("81100")
    page.get_by_label("Ville").fill("Castres")
    page.get_by_role("textbox", name="Téléphone", exact=True).fill("0563715613")
    click(page, "Vérifier avant l'envoi")
    expect(page.locator("#e-situation")).to_contain_text("Cochez au moins une case.")
    assert_no_axe_violation(page)
    page.get_by_label("Plus de 65 ans").check()
    click(page, "Vérifier avant l'envoi")
    expect(page.get_by_role("heading", name="Récapitulatif de votre demande")).to_be_visible()
    click(page, "Envoyer ma demande")
    expect(page.get_by_role("heading", name="Demande transmise")).to_be_visible()
    assert_no_axe_violation(page)
    code = page.locator(".tracking-code").inner_text()
    reference = re.search(r"D\d{4}-[A-Z0-9]{6}", page.locator("main").inner_text()).group(0)
    ack = the_email(sqlite_backend, mail, "request_received")
    assert code in ack.get_body(preferencelist=("plain",)).get_content()

    # later, from another browser session: the tracking page
    page.context.clear_cookies()
    page.goto(f"{live_server}/{CASTRES}/demarches/suivi")
    assert_no_axe_violation(page)
    page.get_by_label("Référence de la demande").fill(reference)
    page.get_by_label("Adresse de courriel").fill(mail)
    page.get_by_label("Code de suivi").fill(code.replace("-", " ").lower())
    click(page, "Suivre ma demande")
    expect(page.locator(".request-state")).to_contain_text("Transmise")
    expect(page.locator("main")).to_contain_text("Cécile ALQUIER")
    assert_no_axe_violation(page)
