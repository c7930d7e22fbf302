"""The personal space over HTTP (both backends): dashboard, contact details, contacts, documents,
and that nobody reaches another citizen's or another tenant's data."""

import io
import re
from datetime import date, timedelta
from html import unescape

import pytest
from PIL import Image

from guichet.documents.services import SOON
from tests.support.accounts import FR, csrf, login, new_citizen, post_form, unique

pytestmark = pytest.mark.asyncio(loop_scope="session")

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def text(response):
    return unescape(response.text)


async def test_demo_dashboard_as_the_guide_shows_it(web):
    await login(web, "ccas-castres", "calquier", "Castres-2020")
    page = text(await web.get("/ccas-castres/mon-espace", headers=FR))
    for expected in [
        "MON ACCUEIL",
        "Madame ALQUIER",
        "Se déconnecter",
        "MON ESPACE",
        "Madame Cécile ALQUIER",
        "MON TABLEAU DE BORD",
        "Dernières demandes",
        "Mes factures",
        "Pièces justificatives",
        "Coordonnées",
        "MES FACTURES",
        "Vous avez 1 facture non réglée",
        "CONTACTS",
        "Maria",
        "Nicolas",
        "Henri",
        "CONNEXION",
        "Action sociale",
    ]:
        assert expected in page, expected


async def _upload(
    web,
    data,
    name="piece.pdf",
    mime="application/pdf",
    title=None,
    kind="justificatif_domicile",
    valid_until="",
):
    page = (await web.get("/ccas-castres/mon-espace/pieces/", headers=FR)).text
    return await web.post(
        "/ccas-castres/mon-espace/pieces/",
        headers=FR,
        data={
            "_csrf_token": csrf(page),
            "title": title or unique("Piece "),
            "kind": kind,
            "valid_until": valid_until,
        },
        files={"file": (name, data, mime)},
    )


async def test_contact_details_change_with_the_wizard_rules_and_history(web, backend):
    await new_citizen(web, backend.settings)
    url = "/ccas-castres/mon-espace/coordonnees"
    wrong = await post_form(
        web,
        url,
        {
            "section": "adresse",
            "street_name": "rue Émile Zola",
            "postcode": "8110",
            "city": "Castres",
            "country": "FR",
        },
    )
    assert wrong.status_code == 400 and "5 chiffres" in text(wrong)
    assert 'value="rue Émile Zola"' in text(wrong)
    await post_form(
        web,
        url,
        {
            "section": "adresse",
            "street_name": "rue Émile Zola",
            "building": "B",
            "apartment": "12",
            "postcode": "81100",
            "city": "Castres",
            "country": "FR",
        },
    )
    home = text(await web.get("/ccas-castres/mon-espace", headers=FR))
    assert "rue Émile Zola" in home
    assert "<li>bâtiment B, appartement 12</li>" in home  # a tester missed her apartment
    history = text(await web.get("/ccas-castres/mon-espace/historique", headers=FR))
    assert "Modification des coordonnées" in history and "rue Émile Zola" in history
    bad = await post_form(
        web, url, {"section": "contact", "mobile": "", "preferred_contact": "mobile"}
    )
    assert bad.status_code == 400 and "doit être renseigné" in text(bad)


async def test_the_details_are_one_form_and_the_history_speaks_the_pages_words(web, backend):
    """Typing a mobile number, then saving the address, keeps the mobile number (one form);
    an error anywhere keeps everything typed; the history names the fields as the page does,
    shows values as the page shows them, and the time on the citizen's clock."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    username, _email = await new_citizen(web, backend.settings)
    url = "/ccas-castres/mon-espace/coordonnees"
    page = await web.get(url, headers=FR)
    assert page.text.count("<form") == page.text.count("</form>")
    assert (
        len(re.findall(r'<form method="post" action="[^"]*/mon-espace/coordonnees"', page.text))
        == 1
    )
    form = {
        "civility": "Madame",
        "last_name": "Durand",
        "first_names": "Jeanne",
        "birth_date": "1948-03-21",
        "birth_country": "FR",
        "street_name": "rue Émile Zola",
        "postcode": "8110",  # wrong
        "city": "Castres",
        "country": "FR",
        "mobile": "06 11 22 33 44",
        "preferred_contact": "mobile",
    }
    wrong = await post_form(web, url, {**form, "section": "adresse"}, page=page.text)
    assert wrong.status_code == 400 and "5 chiffres" in text(wrong)
    assert 'value="06 11 22 33 44"' in wrong.text and 'value="rue Émile Zola"' in wrong.text
    saved = await post_form(web, url, {**form, "postcode": "81100", "section": "adresse"})
    assert "Vos coordonnées sont enregistrées" in text(saved)
    again = await web.get(url, headers=FR)
    assert 'value="06 11 22 33 44"' in again.text and 'value="81100"' in again.text
    history = text(await web.get("/ccas-castres/mon-espace/historique", headers=FR))
    for change in (
        "Mobile : « [^»]* » → « 06 11 22 33 44 »",
        "Moyen de contact préféré : « Courriel » → « Mobile »",
        "Nom de la voie : « [^»]* » → « rue Émile Zola »",
        "Date de naissance : « [^»]* » → « 21/03/1948 »",
    ):
        assert re.search(change, history), (change, history[history.find("<table") :])
    assert "preferred_contact" not in history and "street_name" not in history
    when = re.search(r"(\d\d/\d\d/\d{4}) à (\d\d)h(\d\d)", history)
    shown = datetime.strptime(" ".join(when.groups()), "%d/%m/%Y %H %M")
    now = datetime.now(ZoneInfo("Europe/Paris")).replace(tzinfo=None)
    assert abs((now - shown).total_seconds()) < 300, (shown, now)  # Paris time, not UTC
    # data stored under older rules (a postcode now refused) never stops another change
    from sqlalchemy import update

    from guichet.accounts.models import Citizen
    from guichet.db.session import Database

    db = Database(backend.settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            await session.execute(
                update(Citizen).where(Citizen.username == username).values(postcode="8110")
            )
    finally:
        await db.dispose()
    page = await web.get(url, headers=FR)
    sent = {**form, "postcode": "8110", "mobile": "06 99 88 77 66"}
    saved = await post_form(web, url, sent, page=page.text)
    assert saved.status_code == 200 and "Vos coordonnées sont enregistrées" in text(saved)
    assert 'value="06 99 88 77 66"' in (await web.get(url, headers=FR)).text


async def test_contacts_add_change_remove(web, backend):
    await new_citizen(web, backend.settings)
    refused = await post_form(
        web,
        "/ccas-castres/mon-espace/contacts/nouveau",
        {"kind": "medecin", "first_name": "", "last_name": ""},
    )
    assert refused.status_code == 400 and "au moins le prénom" in text(refused)
    # the rule is said before, and neither name is marked as required on its own
    form = await web.get("/ccas-castres/mon-espace/contacts/nouveau", headers=FR)
    assert "Indiquez au moins le prénom ou le nom" in text(form)
    assert not re.search(r'name="first_name"[^>]*aria-required', form.text)
    await post_form(
        web,
        "/ccas-castres/mon-espace/contacts/nouveau",
        {
            "kind": "medecin",
            "civility": "Monsieur",
            "first_name": "Henri",
            "last_name": "Bonnafous",
            "phone": "05 63 59 00 00",
        },
    )
    page = (await web.get("/ccas-castres/mon-espace/contacts/", headers=FR)).text
    contact_id = re.search(r"/mon-espace/contacts/([0-9a-f-]{36})\"", page).group(1)
    await post_form(
        web,
        f"/ccas-castres/mon-espace/contacts/{contact_id}",
        {
            "kind": "medecin",
            "first_name": "Henri",
            "last_name": "Bonnafous",
            "relation": "médecin traitant",
        },
    )
    assert "médecin traitant" in text(await web.get("/ccas-castres/mon-espace", headers=FR))
    confirm = await web.get(f"/ccas-castres/mon-espace/contacts/{contact_id}/supprimer", headers=FR)
    assert "Voulez-vous vraiment supprimer" in text(confirm)
    await post_form(
        web, f"/ccas-castres/mon-espace/contacts/{contact_id}/supprimer", {}, page=confirm.text
    )
    assert "Bonnafous" not in text(await web.get("/ccas-castres/mon-espace/contacts/", headers=FR))
    # her history says which contact each line is about (its Détail column was empty)
    history = text(await web.get("/ccas-castres/mon-espace/historique", headers=FR))
    for kind in ("Ajout d'un contact", "Modification d'un contact", "Suppression d'un contact"):
        assert re.search(rf"{kind}</td>\s*<td[^>]*>Henri BONNAFOUS</td>", history), kind
    # the browser's Back to the confirmation, or a second click: said, on her contacts
    gone = f"/ccas-castres/mon-espace/contacts/{contact_id}/supprimer"
    for again in (
        await web.get(gone, headers=FR),
        await post_form(web, gone, {}, page=confirm.text),
    ):
        assert str(again.url).endswith("/mon-espace/contacts")
        assert "Ce contact a déjà été supprimé." in text(again)
    # anyone else is not told a contact of that number was there
    web.cookies.clear()
    await new_citizen(web, backend.settings)
    assert (await web.get(gone, headers=FR)).status_code == 404


async def test_documents_upload_download_rename_replace_delete(web, backend):
    await new_citizen(web, backend.settings)
    title = unique("Facture EDF ")
    done = await _upload(
        web, PDF, name="../../etc/passwd.pdf", title=title, valid_until="2000-01-01"
    )
    assert f"La pièce « {title} » est enregistrée" in text(done)
    listing = text(await web.get("/ccas-castres/mon-espace/pieces/", headers=FR))
    assert title in listing and "expiré" in listing
    doc_id = re.search(r"/mon-espace/pieces/([0-9a-f-]{36})/telecharger", listing).group(1)
    download = await web.get(f"/ccas-castres/mon-espace/pieces/{doc_id}/telecharger")
    assert download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment;") and "passwd" not in disposition
    assert "sandbox" in download.headers["content-security-policy"]
    # rename and replace
    edit = await web.get(f"/ccas-castres/mon-espace/pieces/{doc_id}", headers=FR)
    png = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 10)).save(png, "PNG")
    response = await web.post(
        f"/ccas-castres/mon-espace/pieces/{doc_id}",
        headers=FR,
        data={
            "_csrf_token": csrf(edit.text),
            "title": "Quittance de loyer",
            "kind": "justificatif_domicile",
            "valid_until": "",
        },
        files={"file": ("scan.png", png.getvalue(), "image/png")},
    )
    assert "Quittance de loyer" in text(response)
    replaced = await web.get(f"/ccas-castres/mon-espace/pieces/{doc_id}/telecharger")
    assert replaced.headers["content-type"] == "image/png"
    assert replaced.content.startswith(b"\x89PNG")
    confirm = await web.get(f"/ccas-castres/mon-espace/pieces/{doc_id}/supprimer", headers=FR)
    await post_form(
        web, f"/ccas-castres/mon-espace/pieces/{doc_id}/supprimer", {}, page=confirm.text
    )
    assert (
        await web.get(f"/ccas-castres/mon-espace/pieces/{doc_id}/telecharger")
    ).status_code == 404


def _bomb() -> bytes:
    out = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "mime", "message"),
    [
        ("photo.jpg", b"MZ\x90\x00" + b"\x00" * 500, "image/jpeg", "Seuls les fichiers PDF"),
        (
            "dessin.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "image/svg+xml",
            "Seuls les fichiers PDF",
        ),
        (
            "piege.pdf",
            b"%PDF-1.4\n<html><script>alert(1)</script></html>\n%%EOF\n",
            "application/pdf",
            "pas un PDF ordinaire",
        ),
        (
            "actif.pdf",
            b"%PDF-1.4\n1 0 obj<</S/JavaScript/JS(app.alert(1))>>endobj\n%%EOF\n",
            "application/pdf",
            "éléments actifs",
        ),
        (
            "gros.pdf",
            b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024) + b"\n%%EOF\n",
            "application/pdf",
            "10 Mo",
        ),
        ("bombe.png", None, "image/png", "trop grande"),
        ("vide.pdf", b"", "application/pdf", "Le fichier est vide"),
    ],
)
async def test_upload_abuse_is_refused_with_a_clear_message(
    web, backend, name, data, mime, message
):
    await new_citizen(web, backend.settings)
    title = unique("Titre ")
    response = await _upload(
        web, _bomb() if data is None else data, name=name, mime=mime, title=title
    )
    assert response.status_code == 400
    assert message in text(response)
    assert f'value="{title}"' in text(response)  # what was typed is kept
    assert "Aucune pièce enregistrée" in text(response)


async def test_quota_is_enforced_and_shown(web, backend):
    await new_citizen(web, backend.settings)
    listing = text(await web.get("/ccas-castres/mon-espace/pieces/", headers=FR))
    assert "Espace utilisé : 0\xa0o sur 100\xa0Mo" in listing
    big = b"%PDF-1.4\n" + b"0" * (9 * 1024 * 1024) + b"\n%%EOF\n"
    statuses = []
    for _ in range(12):
        statuses.append((await _upload(web, big)).status_code)
    assert statuses[:11] == [200] * 11 and statuses[11] == 400, statuses
    last = await _upload(web, big)
    assert "Votre espace de stockage est plein" in text(last)
    listing = text(await web.get("/ccas-castres/mon-espace/pieces/", headers=FR))
    assert "Espace utilisé : 99\xa0Mo sur 100\xa0Mo" in listing


async def test_dashboard_counts_the_citizen_s_documents_and_those_to_renew(web, backend):
    """MON ACCUEIL reads its counts in one statement: the documents labelled "expiré" or
    "expire bientôt" are the ones to renew; another citizen's documents are not counted."""
    await new_citizen(web, backend.settings)
    empty = text(await web.get("/ccas-castres/mon-espace", headers=FR))
    assert "Aucune pièce enregistrée" in empty and "0 pièce" not in empty
    today = date.today()
    for valid_until in ["", "2000-01-01", str(today + SOON), str(today + SOON + timedelta(1))]:
        assert (await _upload(web, PDF, valid_until=valid_until)).status_code in (200, 303)
    listing = text(await web.get("/ccas-castres/mon-espace/pieces/", headers=FR))
    assert listing.count("expire bientôt") == 1 and listing.count("expiré") >= 1
    dashboard = text(await web.get("/ccas-castres/mon-espace", headers=FR))
    assert "4 pièces enregistrées — 2 à renouveler" in dashboard
    # nothing to pay is said in words, not « 0 facture non réglée »
    assert "Aucune facture à régler" in dashboard
    assert "Vous n'avez aucune facture à régler." in dashboard
    assert "0 facture" not in dashboard

    web.cookies.clear()
    await new_citizen(web, backend.settings)
    await _upload(web, PDF, valid_until="2000-01-01")
    dashboard = text(await web.get("/ccas-castres/mon-espace", headers=FR))
    assert "1 pièce enregistrée — 1 à renouveler" in dashboard


async def test_another_citizens_contact_and_document_are_404(web, backend):
    await new_citizen(web, backend.settings)
    await post_form(
        web, "/ccas-castres/mon-espace/contacts/nouveau", {"kind": "autre", "first_name": "Secret"}
    )
    page = (await web.get("/ccas-castres/mon-espace/contacts/", headers=FR)).text
    contact_id = re.search(r"/mon-espace/contacts/([0-9a-f-]{36})\"", page).group(1)
    await _upload(web, PDF, title="Document privé")
    listing = (await web.get("/ccas-castres/mon-espace/pieces/", headers=FR)).text
    doc_id = re.search(r"/mon-espace/pieces/([0-9a-f-]{36})/telecharger", listing).group(1)

    # Another citizen of the same tenant.
    web.cookies.clear()
    await new_citizen(web, backend.settings)
    other = (await web.get("/ccas-castres/mon-espace", headers=FR)).text
    for method, path in [
        ("GET", f"/mon-espace/contacts/{contact_id}"),
        ("GET", f"/mon-espace/contacts/{contact_id}/supprimer"),
        ("POST", f"/mon-espace/contacts/{contact_id}"),
        ("POST", f"/mon-espace/contacts/{contact_id}/supprimer"),
        ("GET", f"/mon-espace/pieces/{doc_id}"),
        ("GET", f"/mon-espace/pieces/{doc_id}/telecharger"),
        ("GET", f"/mon-espace/pieces/{doc_id}/supprimer"),
        ("POST", f"/mon-espace/pieces/{doc_id}"),
        ("POST", f"/mon-espace/pieces/{doc_id}/supprimer"),
    ]:
        if method == "GET":
            response = await web.get(f"/ccas-castres{path}", headers=FR)
        else:
            response = await web.post(
                f"/ccas-castres{path}",
                headers=FR,
                data={"_csrf_token": csrf(other), "kind": "autre", "first_name": "X", "title": "X"},
            )
        assert response.status_code == 404, (method, path)

    # A citizen of another tenant.
    web.cookies.clear()
    await new_citizen(web, backend.settings, slug="mairie-valdoree")
    for path in (f"/mon-espace/contacts/{contact_id}", f"/mon-espace/pieces/{doc_id}/telecharger"):
        assert (await web.get(f"/mairie-valdoree{path}", headers=FR)).status_code == 404


async def test_a_document_whose_file_is_lost_is_a_404_page(web, backend):
    """A restore without the files: the page says « not found », never a trace."""
    from sqlalchemy import select

    from guichet.db.session import Database
    from guichet.documents.models import Document
    from guichet.files import create_file_store

    await new_citizen(web, backend.settings)
    await _upload(web, PDF, title="Quittance perdue")
    listing = text(await web.get("/ccas-castres/mon-espace/pieces/", headers=FR))
    doc_id = re.search(r"/mon-espace/pieces/([0-9a-f-]{36})/telecharger", listing).group(1)
    db = Database(backend.settings)
    try:
        async with db.session(all_tenants=True) as session:
            key = await session.scalar(select(Document.storage_key).where(Document.id == doc_id))
    finally:
        await db.dispose()
    create_file_store(backend.settings).delete(key)
    lost = await web.get(f"/ccas-castres/mon-espace/pieces/{doc_id}/telecharger", headers=FR)
    assert lost.status_code == 404 and "Page introuvable" in text(lost)
