"""Issue 5's "done when" in Chromium: Cécile finds her unpaid invoice, downloads its PDF, pays
it through the sandbox bank (a real signed server-to-server notification) and sees it settled."""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

_axe = Axe()


def no_violation(page):
    violations = _axe.run(page).response["violations"]
    assert violations == [], [(v["id"], v["nodes"][0]["target"]) for v in violations]


def test_cecile_pays_her_invoice_through_the_sandbox_bank(live_server, page):
    base = f"{live_server}/ccas-castres"
    page.goto(f"{base}/")
    page.get_by_label("Identifiant").fill("calquier")
    page.get_by_label("Mot de passe").fill("Castres-2020")
    page.get_by_role("button", name="Connexion").click()
    expect(page.get_by_role("heading", name="MON ACCUEIL", exact=True)).to_be_visible()
    page.get_by_role("link", name="Voir mes factures").click()
    expect(page.get_by_text("Vous avez 1 facture non réglée")).to_be_visible()
    no_violation(page)
    page.get_by_role("link", name=re.compile("2001000001 - Janvier 2020")).click()
    expect(
        page.get_by_role("heading", name="FACTURATION SERVICE SÉNIORS - 2001000001 - JANVIER 2020")
    ).to_be_visible()
    no_violation(page)
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("^PDF")).click()
    assert download.value.suggested_filename == "facture-2001000001.pdf"
    with open(download.value.path(), "rb") as handle:
        assert handle.read(5) == b"%PDF-"
    expect(page.get_by_label("* Courriel", exact=True)).to_have_value("c.alquier@ville-castres.fr")
    expect(page.get_by_text("avec Paybox, service de paiement sécurisé")).to_be_visible()
    page.get_by_role("button", name=re.compile("PAYER LA FACTURE")).click()
    no_violation(page)
    page.get_by_role("button", name="Continuer vers le paiement sécurisé").click()
    expect(page.get_by_text("CCAS CASTRES VADS")).to_be_visible()
    expect(page.get_by_text("Montant : 8.53 EUR")).to_be_visible()
    expect(page.get_by_role("heading", name="Choisissez votre moyen de paiement")).to_be_visible()
    no_violation(page)
    # Back from the bank: « Paiement sécurisé » again (it was « Confirm Form Resubmission »)
    page.go_back()
    expect(page).to_have_url(re.compile(r"/mon-espace/factures/paiement/[0-9A-F]+/banque$"))
    expect(page.get_by_role("heading", name="Paiement sécurisé")).to_be_visible()
    page.get_by_role("button", name="Continuer vers le paiement sécurisé").click()
    expect(page.get_by_role("heading", name="Choisissez votre moyen de paiement")).to_be_visible()
    page.get_by_role("button", name="CB", exact=True).click()
    expect(page.get_by_role("heading", name="Paiement de 8.53 EUR")).to_be_visible()
    no_violation(page)
    page.get_by_label("Numéro de carte").fill("4970 1000 0000 0000")
    page.get_by_label("Date de fin de validité (MM/AA)").fill("12/30")
    page.get_by_label("Cryptogramme visuel").fill("123")
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_text(re.compile("Votre paiement de 8,53.€ est confirmé"))).to_be_visible()
    expect(page.get_by_text("Facture réglée")).to_be_visible()
    no_violation(page)
    # Back after paying: the bank's card page again, not « Confirm Form Resubmission »
    page.go_back()
    expect(page.get_by_role("heading", name="Paiement de 8.53 EUR")).to_be_visible()
    page.go_forward()
    expect(page.get_by_text("Facture réglée")).to_be_visible()
    page.get_by_role("link", name="MES FACTURES").click()
    expect(page.get_by_text("Vous n'avez aucune facture à régler.")).to_be_visible()


def test_the_browser_may_send_the_payment_form_to_a_real_bank(live_server, page, sqlite_backend):
    """« Paiement sécurisé » posts to the bank's own site. The pages' policy allows forms to
    the portal only (``form-action 'self'``): with Paybox, « Continuer » did nothing at all (a
    tester's walk). Here the bank is Paybox's preproduction site, out of reach from this
    machine: what counts is that Chromium sends the form there."""
    import asyncio
    import concurrent.futures

    import httpx

    from tests.support.accounts import STRONG, new_citizen
    from tests.support.billing import invoice_for, on_a_paybox_ledger

    settings = sqlite_backend.settings

    async def work():
        async with httpx.AsyncClient(base_url=live_server, follow_redirects=True) as web:
            username, _email = await new_citizen(web, settings)
        invoice_id = await invoice_for(settings, "ccas-castres", username, cents=1250)
        await on_a_paybox_ledger(settings, invoice_id)
        return username, invoice_id

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        username, invoice_id = pool.submit(asyncio.run, work()).result()
    base = f"{live_server}/ccas-castres"
    page.goto(f"{base}/")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(STRONG)
    page.get_by_role("button", name="Connexion").click()
    expect(page.get_by_role("heading", name="MON ACCUEIL", exact=True)).to_be_visible()
    page.goto(f"{base}/mon-espace/factures/{invoice_id}")
    page.get_by_role("button", name=re.compile("PAYER LA FACTURE")).click()
    expect(page.get_by_role("heading", name="Paiement sécurisé")).to_be_visible()
    refused = []
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and refused.append(message.text),
    )
    with page.expect_request(re.compile(r"^https://[^/]*paybox\.com/")) as sent:
        page.get_by_role("button", name="Continuer vers le paiement sécurisé").click()
    assert sent.value.method == "POST" and "PBX_TOTAL=1250" in (sent.value.post_data or "")
    assert refused == []
