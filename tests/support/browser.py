"""Browser-test helpers (Playwright, real Chromium): the account wizard, emails read from the
embedded default's outbox, axe-core checks. Used by the end-to-end tests of tests/e2e/."""

from __future__ import annotations

import asyncio
import concurrent.futures
import email
import re
import uuid
from datetime import date
from email import policy
from email.message import EmailMessage

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Locator, Page, expect

from guichet.db.session import Database
from guichet.notifications.services import send_pending

CASTRES = "ccas-castres"  # default theme, policy: 8 characters, 1 lowercase, 1 digit
VALDOREE = "mairie-valdoree"  # horizon theme, policy: 10 characters, 1 lower, 1 upper, 1 digit
STEP_HEADING = {
    "cgu": "Étape 1 sur 5 : CGU",
    "identite": "Étape 2 sur 5 : IDENTITÉ",
    "adresse": "Étape 3 sur 5 : ADRESSE",
    "contact": "Étape 4 sur 5 : MOYENS DE CONTACT",
    "authentification": "Étape 5 sur 5 : AUTHENTIFICATION",
}

_axe = Axe()


# ----------------------------------------------------------------------------- helpers -----
def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def assert_no_axe_violation(page: Page) -> None:
    results = _axe.run(page)
    violations = [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(n["target"][0] for n in v["nodes"][:3])
        for v in results.response["violations"]
    ]
    assert violations == [], page.url


def expect_step(page: Page, live_server: str, slug: str, step: str) -> None:
    expect(page).to_have_url(f"{live_server}/{slug}/creer-mon-espace/{step}")
    expect(page.get_by_role("heading", level=1)).to_have_text(STEP_HEADING[step])


def click(page: Page, button: str) -> None:
    page.get_by_role("button", name=button, exact=True).click()


def start_wizard(page: Page, live_server: str, slug: str) -> None:
    """Home → "Créer mon espace" → Bienvenue → "JE CRÉE MON ESPACE" → CGU."""
    page.goto(f"{live_server}/{slug}/")
    page.get_by_role("link", name="Créer mon espace").click()
    expect(page.get_by_role("heading", name="BONJOUR ET BIENVENUE")).to_be_visible()
    click(page, "JE CRÉE MON ESPACE")
    expect_step(page, live_server, slug, "cgu")


def accept_terms(page: Page, live_server: str, slug: str) -> None:
    page.get_by_label("J'accepte les conditions générales d'utilisation").check()
    click(page, "SUIVANT")
    expect_step(page, live_server, slug, "identite")


def fill_identity(page: Page, first: str = "Cécile", last: str = "Alquier") -> None:
    page.get_by_label("Civilité").select_option("Madame")
    page.get_by_label("Nom usuel").fill(last)
    page.get_by_label("Prénom(s)").fill(first)


def fill_address(page: Page) -> None:
    page.get_by_label("Numéro", exact=True).fill("12")
    page.get_by_label("Complément du numéro").select_option("bis")
    page.get_by_label("Nom de la voie").fill("rue de la République")
    page.get_by_label("Code postal").fill("81100")
    page.get_by_label("Ville").fill("Castres")


def fill_credentials(page: Page, username: str, password: str) -> None:
    page.get_by_label("Nom d'utilisateur").fill(username)
    page.get_by_label("* Mot de passe", exact=True).fill(password)
    page.get_by_label("Confirmation du mot de passe").fill(password)


def reach_authentication(
    page: Page, live_server: str, slug: str, mail: str, first: str = "Cécile", last: str = "Alquier"
) -> None:
    """The shortest way through the first four steps."""
    start_wizard(page, live_server, slug)
    accept_terms(page, live_server, slug)
    fill_identity(page, first, last)
    click(page, "SUIVANT")
    expect_step(page, live_server, slug, "adresse")
    fill_address(page)
    click(page, "SUIVANT")
    expect_step(page, live_server, slug, "contact")
    page.get_by_label("Courriel").fill(mail)
    click(page, "SUIVANT")
    expect_step(page, live_server, slug, "authentification")


def validate(page: Page, live_server: str, slug: str) -> None:
    """First captcha image (the deterministic test captcha), VALIDER, "Votre espace est créé"."""
    page.locator("label[for=captcha-0]").click()
    click(page, "VALIDER")
    expect_created(page, live_server, slug)


def expect_created(page: Page, live_server: str, slug: str) -> None:
    expect(page).to_have_url(f"{live_server}/{slug}/creer-mon-espace/termine")
    expect(page.get_by_role("heading", name="Votre espace est créé")).to_be_visible()


def create_account(
    page: Page,
    live_server: str,
    slug: str,
    username: str,
    password: str,
    mail: str,
    first: str = "Cécile",
    last: str = "Alquier",
) -> None:
    reach_authentication(page, live_server, slug, mail, first, last)
    fill_credentials(page, username, password)
    validate(page, live_server, slug)


def deliver_emails(backend) -> None:
    """Deliver the outbox as a worker would; in a thread, since Playwright's sync API runs its
    own event loop in this one."""

    async def deliver() -> None:
        db = Database(backend.settings)
        try:
            async with db.session(all_tenants=True) as session:
                while await send_pending(session, backend.settings):  # 100 at a time
                    pass
        finally:
            await db.dispose()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(deliver())).result()


def emails_to(backend, recipient: str, kind: str) -> list[EmailMessage]:
    deliver_emails(backend)
    found = []
    for path in sorted(backend.settings.outbox_dir.glob(f"*-{kind}-*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        if message["To"] == recipient:
            found.append(message)
    return found


def the_email(backend, recipient: str, kind: str) -> EmailMessage:
    found = emails_to(backend, recipient, kind)
    assert len(found) == 1, f"{len(found)} {kind} email(s) to {recipient}"
    return found[0]


def link_in(message: EmailMessage, backend, live_server: str) -> str:
    """The link of the email's text part, pointed at the test server."""
    public_url = backend.settings.web.public_url
    text = message.get_body(preferencelist=("plain",)).get_content()
    match = re.search(re.escape(public_url) + r"/\S+", text)
    assert match, text
    return live_server + match.group(0)[len(public_url) :]


def activate(page: Page, backend, live_server: str, slug: str, mail: str) -> None:
    page.goto(link_in(the_email(backend, mail, "activation"), backend, live_server))
    expect(page.get_by_role("heading", name="Activation de votre espace")).to_be_visible()
    click(page, "Activer mon espace")
    expect(page).to_have_url(f"{live_server}/{slug}/")
    expect(page.get_by_role("status")).to_contain_text("Votre espace est activé")


def log_in(page: Page, live_server: str, slug: str, username: str, password: str) -> None:
    page.goto(f"{live_server}/{slug}/")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(password)
    click(page, "Connexion")
    expect(page).to_have_url(f"{live_server}/{slug}/mon-espace")
    expect(page.get_by_role("heading", name="MON ACCUEIL", exact=True)).to_be_visible()


def main_text(page: Page) -> str:
    return page.locator("main").inner_text()


# ----------------------------------------------------------------------------- tests -------


def zone(page: Page, heading: str) -> Locator:
    """A card of MON ACCUEIL (or any section) found by its heading."""
    return page.locator(
        "section", has=page.get_by_role("heading", name=heading, exact=True, level=2)
    )


def upload_form(page: Page) -> Locator:
    return zone(page, "Ajouter une pièce")


def fill_document(
    page: Page, title: str, kind: str, file: dict, valid_until: date | None = None
) -> None:
    form = upload_form(page)
    form.get_by_label("Titre").fill(title)
    form.get_by_label("Type de pièce").select_option(label=kind)
    if valid_until is not None:
        form.get_by_label("Fin de validité").fill(valid_until.isoformat())
    form.get_by_label("Fichier").set_input_files(file)
    click(page, "Enregistrer la pièce")
