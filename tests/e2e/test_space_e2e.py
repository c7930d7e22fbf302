"""The personal space of the guide (§4, issue 4) in real Chromium: MON ACCUEIL and its five
zones, the contact details, the people around the citizen and the secure document storage.

The session database is shared by every test: the demo account (Cécile ALQUIER of
ccas-castres) is only changed in ways that are undone by the same test (an address set then set
back, a contact and a document with unique names added then deleted); the storage abuse and
metadata tests use a fresh account of their own."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from PIL import ExifTags, Image
from playwright.sync_api import Locator, Page, expect

from tests.support.browser import (
    CASTRES,
    activate,
    assert_no_axe_violation,
    click,
    create_account,
    fill_document,
    log_in,
    unique,
    upload_form,
    zone,
)

pytestmark = pytest.mark.e2e

DEMO_USERNAME = "calquier"
DEMO_PASSWORD = "Castres-2020"
DEMO_STREET = "rue Villegoudou"
DEMO_ADDRESS = "12 rue Villegoudou, 81100 Castres"
SMALL_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


# ----------------------------------------------------------------------------- helpers -----
def status(page: Page) -> Locator:
    return page.get_by_role("status")


def go_home(page: Page, live_server: str, slug: str = CASTRES) -> None:
    page.get_by_role("navigation", name="Mon compte").get_by_role(
        "link", name="MON ACCUEIL"
    ).click()
    expect(page).to_have_url(f"{live_server}/{slug}/mon-espace")
    expect(page.get_by_role("heading", name="MON ACCUEIL", exact=True)).to_be_visible()


def address_form(page: Page) -> Locator:
    return zone(page, "ADRESSE")


def save_street(page: Page, street: str) -> None:
    """On "Mes coordonnées": a new street name with a valid postcode and town."""
    form = address_form(page)
    form.get_by_label("Nom de la voie").fill(street)
    form.get_by_label("Code postal").fill("81100")
    form.get_by_label("Ville").fill("Castres")
    click(page, "Enregistrer mes coordonnées")
    expect(status(page)).to_contain_text("Vos coordonnées sont enregistrées.")


def document_row(page: Page, title: str) -> Locator:
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=title))


def delete_document(page: Page, live_server: str, title: str) -> None:
    """From the list: "Supprimer", the confirmation page, "Oui, supprimer"."""
    document_row(page, title).get_by_role("link", name=f"Supprimer {title}").click()
    expect(page.get_by_role("heading", name="Supprimer une pièce")).to_be_visible()
    expect(page.locator("main")).to_contain_text(f"Voulez-vous vraiment supprimer « {title} »")
    assert_no_axe_violation(page)
    click(page, "Oui, supprimer")
    expect(page).to_have_url(f"{live_server}/{CASTRES}/mon-espace/pieces")
    expect(status(page)).to_contain_text(f"La pièce « {title} » est supprimée.")
    expect(document_row(page, title)).to_have_count(0)


def download(page: Page, title: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        document_row(page, title).get_by_role("link", name=f"Télécharger {title}").click()
    dl = info.value
    path = dl.path()
    assert dl.failure() is None
    with open(path, "rb") as handle:
        return dl.suggested_filename, handle.read()


def cleanup_demo_account(page: Page, live_server: str, first_name: str, title: str) -> None:
    """Best effort, only after a failure: put Cécile's data back as the other tests expect."""
    base = f"{live_server}/{CASTRES}"
    with contextlib.suppress(Exception):
        page.goto(f"{base}/mon-espace/coordonnees")
        if page.get_by_label("Identifiant").count():
            log_in(page, live_server, CASTRES, DEMO_USERNAME, DEMO_PASSWORD)
            page.goto(f"{base}/mon-espace/coordonnees")
        form = address_form(page)
        form.get_by_label("Numéro", exact=True).fill("12")
        form.get_by_label("Complément du numéro").select_option("")
        save_street(page, DEMO_STREET)
    with contextlib.suppress(Exception):
        page.goto(f"{base}/mon-espace/contacts")
        for _ in range(5):
            link = page.get_by_role("link", name=re.compile(f"^Supprimer {first_name}"))
            if not link.count():
                break
            link.first.click()
            click(page, "Oui, supprimer")
    with contextlib.suppress(Exception):
        page.goto(f"{base}/mon-espace/pieces")
        for _ in range(5):
            link = page.get_by_role("link", name=f"Supprimer {title}")
            if not link.count():
                break
            link.first.click()
            click(page, "Oui, supprimer")


@pytest.fixture(scope="module")
def storage_citizen(browser, live_server, sqlite_backend) -> Iterator[tuple[str, str]]:
    """A fresh, activated account of ccas-castres for the storage tests (never the demo one)."""
    context = browser.new_context(locale="fr-FR", extra_http_headers={"Accept-Language": "fr-FR"})
    page = context.new_page()
    username = unique("stockage")
    password = "coffre-fort-42"
    mail = f"{username}@exemple.fr"
    try:
        create_account(page, live_server, CASTRES, username, password, mail)
        activate(page, sqlite_backend, live_server, CASTRES, mail)
    finally:
        context.close()
    yield username, password


def open_documents(page: Page, live_server: str, account: tuple[str, str]) -> None:
    log_in(page, live_server, CASTRES, *account)
    zone(page, "MON TABLEAU DE BORD").get_by_role("link", name="Pièces justificatives").click()
    expect(page).to_have_url(f"{live_server}/{CASTRES}/mon-espace/pieces")
    expect(page.get_by_role("heading", name="Pièces justificatives", level=1)).to_be_visible()


def gps_jpeg() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 120, 40))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Appareil de Cécile"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (43.0, 36.0, 21.0),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (2.0, 14.0, 30.0),
    }
    output = io.BytesIO()
    image.save(output, "JPEG", exif=exif)
    data = output.getvalue()
    # The precondition: the file really carries a position.
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    return data


# ----------------------------------------------------------------------------- tests -------
def test_cecile_dashboard_address_doctor_and_proof_of_address(live_server, page):
    """Issue 4, "Done when": Cécile ALQUIER logs in, sees her dashboard as the guide shows it,
    edits her address, adds her doctor, uploads and downloads a proof of address."""
    slug = CASTRES
    base = f"{live_server}/{slug}"
    doctor = unique("Docteur")
    title = unique("Facture EDF ")
    new_street = unique("rue Émile Zola ")
    passed = False
    try:
        # Log in from the home page.
        page.goto(f"{base}/")
        assert_no_axe_violation(page)
        page.get_by_label("Identifiant").fill(DEMO_USERNAME)
        page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
        click(page, "Connexion")
        expect(page).to_have_url(f"{base}/mon-espace")
        expect(page.get_by_role("heading", name="MON ACCUEIL", exact=True)).to_be_visible()

        # The header: the citizen and the logout button.
        bar = page.get_by_role("navigation", name="Mon compte")
        expect(bar.get_by_text("Madame ALQUIER", exact=True)).to_be_visible()
        expect(bar.get_by_role("button", name="Se déconnecter")).to_be_visible()

        # ① MON ESPACE
        space = zone(page, "MON ESPACE")
        expect(space.get_by_text("Madame Cécile ALQUIER", exact=True)).to_be_visible()
        expect(space).to_contain_text(DEMO_ADDRESS)
        expect(space).to_contain_text("c.alquier@ville-castres.fr")
        expect(space).to_contain_text("Téléphone : 05 63 00 00 00")
        expect(space.get_by_role("link", name="Modifier mes identifiants")).to_be_visible()
        expect(space.get_by_role("link", name=re.compile("^Mon entourage"))).to_be_visible()
        expect(
            space.get_by_role("link", name="Vérifier ou modifier mes coordonnées")
        ).to_be_visible()
        expect(space).to_contain_text("Action sociale")  # the linked service

        # ② MON TABLEAU DE BORD
        board = zone(page, "MON TABLEAU DE BORD")
        for tile in ("Dernières demandes", "Mes factures", "Pièces justificatives", "Coordonnées"):
            expect(board.locator(".tile-title", has_text=tile)).to_have_text(tile)
        # the guide's unpaid invoice, or none left when the billing tests paid it before
        expect(board).to_contain_text(re.compile(r"[1-9]\d* factures? non réglées?|Aucune facture"))

        # ③ MES FACTURES
        expect(zone(page, "MES FACTURES")).to_contain_text(
            re.compile(r"Vous avez [1-9]\d* factures? non réglées?|Vous n'avez aucune facture")
        )

        # ④ CONTACTS: the guide's three people.
        contacts = zone(page, "CONTACTS")
        for name in ("Maria", "Nicolas", "Henri"):
            expect(contacts.locator(".contact-card", has_text=name)).to_have_count(1)
        expect(contacts.locator(".contact-card", has_text="Henri")).to_contain_text("Médecin")

        # ⑤ CONNEXION: the (orange) logout button.
        expect(
            zone(page, "CONNEXION").get_by_role("button", name=re.compile("déconnecter"))
        ).to_be_visible()
        assert_no_axe_violation(page)

        # The MON ESPACE links lead to their pages.
        space.get_by_role("link", name="Modifier mes identifiants").click()
        expect(page).to_have_url(f"{base}/mon-espace/identifiants")
        expect(
            page.get_by_role("heading", name="Modifier mes identifiants", level=1)
        ).to_be_visible()
        assert_no_axe_violation(page)
        go_home(page, live_server)
        board = zone(page, "MON TABLEAU DE BORD")

        # ---- Coordonnées: a wrong postcode, then a valid address, then back.
        board.get_by_role("link", name=re.compile("^Coordonnées")).click()
        expect(page).to_have_url(f"{base}/mon-espace/coordonnees")
        expect(page.get_by_role("heading", name="Mes coordonnées", level=1)).to_be_visible()
        assert_no_axe_violation(page)
        form = address_form(page)
        expect(form.get_by_label("Nom de la voie")).to_have_value(DEMO_STREET)
        form.get_by_label("Nom de la voie").fill(new_street)
        form.get_by_label("Code postal").fill("8110")
        click(page, "Enregistrer mes coordonnées")
        expect(page).to_have_url(f"{base}/mon-espace/coordonnees")
        postcode = address_form(page).get_by_label("Code postal")
        expect(page.locator("#e-postcode")).to_contain_text(
            "Un code postal français compte 5 chiffres"
        )
        expect(postcode).to_have_attribute("aria-invalid", "true")
        assert "e-postcode" in (postcode.get_attribute("aria-describedby") or "")
        expect(postcode).to_have_value("8110")
        expect(address_form(page).get_by_label("Nom de la voie")).to_have_value(new_street)
        expect(page.get_by_role("alert")).to_contain_text("Code postal")
        # the keyboard starts at the errors (it went back to the top of the page), and the
        # next Tab is the link to the field to correct
        expect(page.locator("#erreurs")).to_be_focused()
        page.keyboard.press("Tab")
        expect(page.locator("#erreurs a").first).to_be_focused()
        assert_no_axe_violation(page)

        save_street(page, new_street)
        assert_no_axe_violation(page)
        go_home(page, live_server)
        expect(zone(page, "MON ESPACE")).to_contain_text(f"12 {new_street}, 81100 Castres")

        # The change is kept in her history.
        page.goto(f"{base}/mon-espace/historique")
        expect(page.get_by_role("heading", name="Mon historique")).to_be_visible()
        first_row = page.locator("table.history tbody tr").first
        expect(first_row).to_contain_text("Modification des coordonnées")
        expect(first_row).to_contain_text(f"« {DEMO_STREET} » → « {new_street} »")
        assert_no_axe_violation(page)

        page.goto(f"{base}/mon-espace/coordonnees")
        save_street(page, DEMO_STREET)
        go_home(page, live_server)
        expect(zone(page, "MON ESPACE")).to_contain_text(DEMO_ADDRESS)

        # ---- Her doctor, as a new contact.
        zone(page, "CONTACTS").get_by_role("link", name="Ajouter un contact").click()
        expect(page).to_have_url(f"{base}/mon-espace/contacts/nouveau")
        expect(page.get_by_role("heading", name="Ajouter un contact")).to_be_visible()
        assert_no_axe_violation(page)
        page.get_by_label("Lien").select_option(label="Médecin")
        page.get_by_label("Précision").fill("médecin de garde")
        page.get_by_label("Civilité").select_option("Madame")
        page.get_by_label("Prénom").fill(doctor)
        page.get_by_label("Nom", exact=True).fill("Cabrol")
        page.get_by_label("Téléphone").fill("05 63 59 11 11")
        click(page, "Enregistrer")
        expect(page).to_have_url(f"{base}/mon-espace/contacts")
        expect(status(page)).to_contain_text("Le contact a été ajouté.")
        card = page.locator(".contact-card", has_text=doctor)
        expect(card).to_have_count(1)
        expect(card).to_contain_text("Médecin — médecin de garde")
        expect(card).to_contain_text("05 63 59 11 11")
        assert_no_axe_violation(page)

        go_home(page, live_server)
        home_card = zone(page, "CONTACTS").locator(".contact-card", has_text=doctor)
        expect(home_card).to_have_count(1)
        expect(home_card).to_contain_text(f"{doctor} CABROL")
        expect(home_card).to_contain_text("Médecin")

        # Removal asks for confirmation first.
        zone(page, "MON ESPACE").get_by_role("link", name=re.compile("^Mon entourage")).click()
        expect(page).to_have_url(f"{base}/mon-espace/contacts")
        page.get_by_role("link", name=f"Supprimer {doctor} Cabrol").click()
        expect(page.get_by_role("heading", name="Supprimer un contact")).to_be_visible()
        expect(page.locator("main")).to_contain_text(
            f"Voulez-vous vraiment supprimer {doctor} Cabrol de vos contacts ?"
        )
        assert_no_axe_violation(page)
        click(page, "Oui, supprimer")
        expect(page).to_have_url(f"{base}/mon-espace/contacts")
        expect(status(page)).to_contain_text("Le contact a été supprimé.")
        expect(page.locator(".contact-card", has_text=doctor)).to_have_count(0)
        go_home(page, live_server)
        contacts = zone(page, "CONTACTS")
        expect(contacts.locator(".contact-card", has_text=doctor)).to_have_count(0)
        expect(contacts.locator(".contact-card")).to_have_count(3)

        # ---- A proof of address: upload, "expire bientôt", download, delete.
        zone(page, "MON TABLEAU DE BORD").get_by_role(
            "link", name=re.compile("^Pièces justificatives")
        ).click()
        expect(page).to_have_url(f"{base}/mon-espace/pieces")
        expect(page.get_by_role("heading", name="Pièces justificatives", level=1)).to_be_visible()
        assert_no_axe_violation(page)
        file = {"name": "facture-edf.pdf", "mimeType": "application/pdf", "buffer": SMALL_PDF}
        fill_document(
            page, title, "Justificatif de domicile", file, date.today() + timedelta(days=20)
        )
        expect(page).to_have_url(f"{base}/mon-espace/pieces")
        expect(status(page)).to_contain_text(f"La pièce « {title} » est enregistrée.")
        row = document_row(page, title)
        expect(row).to_have_count(1)
        expect(row).to_contain_text("Justificatif de domicile")
        expect(row).to_contain_text("PDF")
        expect(row).to_contain_text("expire bientôt")
        assert_no_axe_violation(page)

        name, content = download(page, title)
        assert name.endswith(".pdf"), name
        assert content == SMALL_PDF

        go_home(page, live_server)
        expect(zone(page, "MON TABLEAU DE BORD")).to_contain_text("à renouveler")
        page.goto(f"{base}/mon-espace/pieces")
        delete_document(page, live_server, title)
        passed = True
    finally:
        if not passed:
            cleanup_demo_account(page, live_server, doctor, title)


ABUSES = {
    "renamed-executable": (
        {"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": b"MZ\x90\x00" + bytes(4096)},
        "Seuls les fichiers PDF, JPEG et PNG sont acceptés.",
    ),
    "svg-with-script": (
        {
            "name": "plan.svg",
            "mimeType": "image/svg+xml",
            "buffer": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        },
        "Seuls les fichiers PDF, JPEG et PNG sont acceptés.",
    ),
    "oversize": (
        {
            "name": "gros.pdf",
            "mimeType": "application/pdf",
            "buffer": b"%PDF-1.4\n" + b"0" * (11 * 1024 * 1024) + b"\n%%EOF\n",
        },
        "Le fichier dépasse 10 Mo, la taille maximale.",
    ),
    "pdf-with-javascript": (
        {
            "name": "avis.pdf",
            "mimeType": "application/pdf",
            "buffer": b"%PDF-1.4\n1 0 obj<</S/JavaScript/JS(app.alert(1))>>endobj\n"
            b"trailer<<>>\n%%EOF\n",
        },
        "Ce PDF contient des éléments actifs",
    ),
    "pdf-html-polyglot": (
        {
            "name": "avis.pdf",
            "mimeType": "application/pdf",
            "buffer": b"%PDF-1.4\n<html><body><script>alert(1)</script></body></html>\n%%EOF\n",
        },
        "Ce fichier n'est pas un PDF ordinaire.",
    ),
}


@pytest.mark.parametrize("abuse", list(ABUSES))
def test_storage_refuses_abuse_beside_the_file_field(live_server, page, storage_citizen, abuse):
    file, message = ABUSES[abuse]
    title = unique(f"Pièce {abuse} ")
    open_documents(page, live_server, storage_citizen)
    fill_document(page, title, "Avis d'imposition", file)

    expect(page).to_have_url(f"{live_server}/{CASTRES}/mon-espace/pieces/")
    error = page.locator("#e-file")
    expect(error).to_contain_text(message)
    field = upload_form(page).get_by_label("Fichier")
    expect(field).to_have_attribute("aria-invalid", "true")
    assert "e-file" in (field.get_attribute("aria-describedby") or "")
    expect(page.get_by_role("alert")).to_contain_text(message)
    form = upload_form(page)
    expect(form.get_by_label("Titre")).to_have_value(title)
    expect(form.get_by_label("Type de pièce")).to_have_value("avis_imposition")
    expect(document_row(page, title)).to_have_count(0)
    assert_no_axe_violation(page)


def test_jpeg_metadata_and_name_are_not_kept(live_server, page, storage_citizen):
    data = gps_jpeg()
    uploaded_name = "IMG_20250301_maison-cecile.jpg"
    title = unique("Photo compteur ")
    open_documents(page, live_server, storage_citizen)
    fill_document(
        page,
        title,
        "Autre",
        {"name": uploaded_name, "mimeType": "image/jpeg", "buffer": data},
    )
    expect(status(page)).to_contain_text(f"La pièce « {title} » est enregistrée.")
    row = document_row(page, title)
    expect(row).to_contain_text("JPEG")
    assert_no_axe_violation(page)

    name, content = download(page, title)
    assert name.endswith(".jpg"), name
    assert "IMG_20250301" not in name and "maison-cecile" not in name, name
    image = Image.open(io.BytesIO(content))
    assert image.format == "JPEG"
    assert image.size == (64, 48)
    assert dict(image.getexif()) == {}
    assert "exif" not in image.info
    assert b"Appareil de C" not in content

    # Served as an attachment with the type read from the content.
    href = row.get_by_role("link", name=f"Télécharger {title}").get_attribute("href")
    response = page.request.get(f"{live_server}{href}")
    assert response.status == 200
    assert response.headers["content-type"].startswith("image/jpeg")
    assert response.headers["content-disposition"].startswith("attachment;")

    delete_document(page, live_server, title)


def test_logout_button_by_keyboard(live_server, page):
    slug = CASTRES
    log_in(page, live_server, slug, DEMO_USERNAME, DEMO_PASSWORD)
    assert_no_axe_violation(page)
    seen = []
    for _ in range(80):
        page.keyboard.press("Tab")
        text = page.evaluate(
            "document.activeElement.tagName === 'BUTTON' ? "
            "document.activeElement.textContent.trim() : ''"
        )
        if text:
            seen.append(text)
        if text == "Me déconnecter":
            break
    assert seen and seen[-1] == "Me déconnecter", seen
    assert "Se déconnecter" in seen  # the header's button is on the way
    focused = zone(page, "CONNEXION").get_by_role("button", name="Me déconnecter")
    expect(focused).to_be_focused()
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Vous êtes déconnecté")).to_be_visible()
    assert_no_axe_violation(page)
    page.goto(f"{live_server}/{slug}/mon-espace")
    expect(page).to_have_url(f"{live_server}/{slug}/")
    expect(page.get_by_label("Identifiant")).to_be_visible()


def test_dashboard_zones_are_regions_named_by_their_heading(live_server, page):
    """Screen readers list the five zones as landmarks announced by their title."""
    log_in(page, live_server, CASTRES, DEMO_USERNAME, DEMO_PASSWORD)
    for name in ("MON ESPACE", "MON TABLEAU DE BORD", "MES FACTURES", "CONTACTS", "CONNEXION"):
        expect(page.get_by_role("region", name=name, exact=True)).to_have_count(1)


def test_the_space_fits_a_phone_screen(browser, live_server):
    """On a 320-pixel-wide phone no page of the space is wider than the screen: the tables
    become one block per row, each value under its column's name, and stay tables for screen
    readers (roles) and for axe."""
    context = browser.new_context(
        locale="fr-FR",
        extra_http_headers={"Accept-Language": "fr-FR"},
        viewport={"width": 320, "height": 700},
    )
    page = context.new_page()
    try:
        log_in(page, live_server, CASTRES, DEMO_USERNAME, DEMO_PASSWORD)
        base = f"{live_server}/{CASTRES}"
        page.goto(f"{base}/mon-espace/factures/")
        # the demo invoice, paid or not (another test of the suite may have paid it)
        link = page.locator("a", has_text="2001000001").first.get_attribute("href")
        invoice = f"{live_server}{link}"
        for url in (
            invoice,
            f"{base}/mon-espace/historique",
            f"{base}/mon-espace/pieces/",
            f"{base}/mon-espace/factures/adhesion",
            f"{base}/mon-espace/demandes/",
            f"{base}/mon-espace/coordonnees",
            f"{base}/mon-espace",
        ):
            page.goto(url)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 320, (url, width)
            assert_no_axe_violation(page)
        page.goto(invoice)
        summary = page.get_by_role("table").first
        expect(summary.get_by_role("columnheader", name="Reste à payer")).to_be_attached()
        due = summary.locator("td[data-label='Reste à payer']")
        expect(due).to_contain_text("€")
        shown = due.evaluate("cell => getComputedStyle(cell, '::before').content")
        assert shown.startswith('"Reste à payer : "'), shown  # the column's name, above its value
    finally:
        context.close()
