"""Démarches over HTTP (both backends): the forms in and outside the personal space, drafts,
documents, sending, the acknowledgement, following with a tracking code, the thread with the
agents, and that nobody reaches another citizen's or tenant's request."""

import re
from html import unescape

import pytest

from tests.support.accounts import FR, csrf, login, new_citizen, outbox, post_form, unique
from tests.support.procedures import (
    HEATWAVE,
    MEALS,
    PDF,
    meal_answers,
    post_multipart,
    send_meal_request,
)
from tests.support.staff import DEMO_AGENT, new_staff, staff_login

pytestmark = pytest.mark.asyncio(loop_scope="session")


def text(response):
    return unescape(response.text)


async def agent_login(web, agent, slug="ccas-castres", password=None):
    email, right, secret = agent
    return await staff_login(web, slug, email, password or right, secret)


async def test_list_and_account_required(web):
    page = text(await web.get("/ccas-castres/demarches/", headers=FR))
    for title in (
        "Demande de portage de repas à domicile",
        "Demande d'aide facultative",
        "Inscription au registre des personnes vulnérables (plan canicule)",
    ):
        assert title in page
    assert "Me connecter pour faire cette demande" in page  # portage: account required
    response = await web.get(MEALS, headers=FR)
    assert "se fait depuis votre espace personnel" in text(response)
    assert str(response.url).endswith("/ccas-castres/")
    assert (await web.get("/ccas-castres/demarches/inconnue", headers=FR)).status_code == 404


async def test_form_is_prefilled_and_errors_keep_what_was_typed(web, backend):
    await new_citizen(web, backend.settings)
    page = text(await web.get(MEALS, headers=FR))
    assert 'value="Cécile ALQUIER"' in page  # full name, from the account
    assert 'value="rue de la République"' in page and 'value="81100"' in page
    response = await post_multipart(
        web,
        MEALS,
        meal_answers(
            date_naissance="31/02/1948", telephone="12", regime="Gras", action="continuer"
        ),
    )
    assert response.status_code == 400
    page = text(response)
    assert "Date invalide" in page and "Numéro invalide" in page
    # a birth date's example is a birth date (it was today's date: a tester's walk); the
    # other date fields' example is a date of now, not one from the last century
    from datetime import date

    assert (
        "Date de naissance : Date invalide : écrivez-la sous la forme jj/mm/aaaa, "
        "par exemple 21/03/1948." in page
    )
    start = page.index('<label for="f-date_debut">')
    assert f"par exemple {date.today():%d/%m/%Y}" in page[start : start + 600]
    assert "Choisissez une valeur dans la liste." in page
    assert "Joignez ce document" in page  # the tax notice is required
    assert 'value="31/02/1948"' in page and 'value="Digicode 1234"' not in page
    assert "Digicode 1234</textarea>" in page
    assert re.search(r'value="Jeudi" checked', page)


async def test_the_heatwave_register_takes_the_person_and_the_contact_to_warn(web, backend):
    """Signed in, the plan canicule form starts from the citizen's name and her first
    « Contact à prévenir » (a tester found both empty beside a prefilled address)."""
    await new_citizen(web, backend.settings)
    url = "/ccas-castres/demarches/registre-canicule"

    def field(page, key):
        tag = re.search(rf'<input[^>]*id="f-{key}"[^>]*>', page).group(0)
        value = re.search(r'value="([^"]*)"', tag)
        return value.group(1) if value else ""

    empty = unescape((await web.get(url, headers=FR)).text)
    assert field(empty, "contact_urgence") == ""  # no contact to warn yet: nothing made up
    assert field(empty, "personne") == "Cécile ALQUIER"
    for kind, first, mobile in (
        ("medecin", "Henri", "06 11 11 11 11"),
        ("contact_a_prevenir", "Nicolas", "06 12 34 56 78"),
        ("contact_a_prevenir", "Maria", "06 99 99 99 99"),
    ):
        await post_form(
            web,
            "/ccas-castres/mon-espace/contacts/nouveau",
            {"kind": kind, "first_name": first, "last_name": "Dupont", "mobile": mobile},
        )
    page = unescape((await web.get(url, headers=FR)).text)
    assert field(page, "contact_urgence") == "Nicolas DUPONT — 06 12 34 56 78"  # the first


async def test_draft_is_kept_and_resumed_then_deleted(web, backend):
    await new_citizen(web, backend.settings)
    response = await post_multipart(
        web, MEALS, meal_answers(precisions="Sonner deux fois", action="enregistrer")
    )
    assert "Votre brouillon est enregistré" in text(response)
    # MON ACCUEIL's « Dernières demandes » says a draft waits (it listed sent requests only)
    home = text(await web.get("/ccas-castres/mon-espace", headers=FR))
    assert "1 brouillon à terminer" in home
    history = text(await web.get("/ccas-castres/mon-espace/demandes/", headers=FR))
    assert "Brouillons" in history and "Demande de portage de repas à domicile" in history
    assert "Sonner deux fois</textarea>" in text(await web.get(MEALS, headers=FR))
    draft_id = re.search(r"/mon-espace/demandes/([0-9a-f-]{36})/supprimer", history).group(1)
    deleted = await post_form(
        web,
        f"/ccas-castres/mon-espace/demandes/{draft_id}/supprimer",
        {},
        page=history,
    )
    assert "Le brouillon est supprimé." in text(deleted)
    assert "Sonner deux fois" not in text(await web.get(MEALS, headers=FR))
    assert "brouillon à terminer" not in text(await web.get("/ccas-castres/mon-espace", headers=FR))


async def test_send_with_a_stored_document_ack_email_and_pdf(web, backend):
    _username, email = await new_citizen(web, backend.settings)
    store = (await web.get("/ccas-castres/mon-espace/pieces/", headers=FR)).text
    await web.post(
        "/ccas-castres/mon-espace/pieces/",
        headers=FR,
        data={"_csrf_token": csrf(store), "title": "Avis 2025", "kind": "avis_imposition"},
        files={"file": ("avis.pdf", PDF, "application/pdf")},
    )
    form = text(await web.get(MEALS, headers=FR))
    document_id = re.search(r'<option value="([0-9a-f-]{36})">Avis 2025', form).group(1)
    summary = await post_multipart(
        web, MEALS, {**meal_answers(), "doc-avis_imposition": document_id, "action": "continuer"}
    )
    page = text(summary)
    assert "Récapitulatif de votre demande" in page
    for shown in ("12 rue de la République, 81100 Castres", "Lundi, Jeudi", "Avis 2025"):
        assert shown in page, shown
    sent = await post_form(web, f"{MEALS}/envoyer", {}, page=summary.text)
    page = text(sent)
    reference = re.search(r"référence (D\d{4}-[A-Z0-9]{6})", page).group(1)
    assert "Transmise" in page and "Avis 2025" in page
    [ack] = await outbox(backend.settings, "ccas-castres", email, "request_received")
    assert (
        reference in ack.subject and "Jours de livraison souhaités : Lundi, Jeudi" in ack.text_body
    )
    path = sent.url.path
    pdf = await web.get(f"{path}/accuse-reception", headers=FR)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    file_id = re.search(rf"{path}/pieces/([0-9a-f-]{{36}})", sent.text).group(1)
    download = await web.get(f"{path}/pieces/{file_id}", headers=FR)
    assert download.content == PDF
    # deleting the stored document keeps the request's own copy
    pieces = (await web.get("/ccas-castres/mon-espace/pieces/", headers=FR)).text
    await post_form(
        web, f"/ccas-castres/mon-espace/pieces/{document_id}/supprimer", {}, page=pieces
    )
    assert (await web.get(f"{path}/pieces/{file_id}", headers=FR)).content == PDF
    dashboard = text(await web.get("/ccas-castres/mon-espace", headers=FR))
    assert "Demande de portage de repas à domicile : transmise" in dashboard


async def test_upload_can_be_kept_in_the_document_store(web, backend):
    await new_citizen(web, backend.settings)
    await post_multipart(
        web,
        MEALS,
        {**meal_answers(), "store-avis_imposition": "1", "action": "enregistrer"},
        files={"file-avis_imposition": ("avis.pdf", PDF, "application/pdf")},
    )
    pieces = text(await web.get("/ccas-castres/mon-espace/pieces/", headers=FR))
    assert "Dernier avis d'imposition" in pieces
    refused = await post_multipart(
        web,
        MEALS,
        {**meal_answers(), "action": "continuer"},
        files={"file-avis_imposition": ("x.pdf", b"<html>hello</html>", "application/pdf")},
    )
    assert refused.status_code == 400
    assert "Seuls les fichiers PDF, JPEG et PNG sont acceptés." in text(refused)


async def test_without_an_account_tracking_code_and_guessing(sqlite_backend):
    import dataclasses

    from litestar.testing import AsyncTestClient

    from guichet.app import create_app

    settings = dataclasses.replace(
        sqlite_backend.settings,
        store=dataclasses.replace(sqlite_backend.settings.store, namespace="tracking"),
    )
    async with AsyncTestClient(app=create_app(settings, configure_logs=False)) as web:
        missing = await post_multipart(web, HEATWAVE, {"action": "continuer"})
        assert missing.status_code == 400
        assert "Indiquez votre adresse de courriel" in text(missing)
        email = f"{unique('proche')}@exemple.fr"
        summary = await post_multipart(
            web,
            HEATWAVE,
            {
                "_name": "Nicolas ALQUIER",
                "_email": email,
                "personne": "Cécile ALQUIER",
                "adresse-street_name": "rue de la République",
                "adresse-postcode": "81100",
                "adresse-city": "Castres",
                "telephone": "0563715613",
                "situation": ["Plus de 65 ans", "Isolé(e)"],
                "action": "continuer",
            },
        )
        assert "Récapitulatif" in text(summary), text(summary)[:3000]
        sent = await post_form(web, f"{HEATWAVE}/envoyer", {}, page=summary.text)
        page = text(sent)
        code = re.search(r'class="tracking-code">([A-Z0-9-]{14})<', page).group(1)
        reference = re.search(r"<strong>(D\d{4}-[A-Z0-9]{6})</strong>", page).group(1)
        [ack] = await outbox(settings, "ccas-castres", email, "request_received")
        assert code in ack.text_body and reference in ack.text_body
        # the confirmation is shown once
        again = await web.get("/ccas-castres/demarches/suivi/envoyee", headers=FR)
        assert str(again.url).endswith("/demarches/suivi")

        web.cookies.clear()  # another visitor, or the same one later
        request_id = re.search(r"/demarches/suivi/([0-9a-f-]{36})", sent.text).group(1)
        assert (
            await web.get(f"/ccas-castres/demarches/suivi/{request_id}", headers=FR)
        ).status_code == 404
        wrong = await post_form(
            web,
            "/ccas-castres/demarches/suivi",
            {"reference": reference, "email": email, "code": "AAAA-BBBB-CCCC"},
        )
        assert wrong.status_code == 400 and "Aucune demande ne correspond" in text(wrong)
        followed = await post_form(
            web,
            "/ccas-castres/demarches/suivi",
            {"reference": reference.lower(), "email": email.upper(), "code": code.lower()},
        )
        assert followed.status_code == 200 and "Transmise" in text(followed)
        assert "Cécile ALQUIER" in text(followed)
        pdf = await web.get(f"/ccas-castres/demarches/suivi/{request_id}/accuse-reception")
        assert pdf.content.startswith(b"%PDF")

        # guessing: a few wrong codes, then a wait, even with the right one
        statuses = []
        for n in range(6):
            statuses.append(
                (
                    await post_form(
                        web,
                        "/ccas-castres/demarches/suivi",
                        {"reference": reference, "email": email, "code": f"WRONG{n:07d}"},
                    )
                ).status_code
            )
        assert statuses[:4] == [400] * 4 and statuses[-1] == 429, statuses
        blocked = await post_form(
            web,
            "/ccas-castres/demarches/suivi",
            {"reference": reference, "email": email, "code": code},
        )
        assert blocked.status_code == 429 and "Trop d'essais" in text(blocked)


async def test_agent_thread_complements_and_acceptance(web, backend):
    email, path = await send_meal_request(web, backend)
    request_id = path.rsplit("/", 1)[1]
    citizen_cookies = dict(web.cookies)

    web.cookies.clear()
    assert str((await web.get("/ccas-castres/agents/demandes/", headers=FR)).url).endswith(
        "/agents/connexion"
    )
    agent = await new_staff(backend.settings, name="Paul AGENT")
    wrong = await agent_login(web, agent, password="Wrong-password-1")
    assert wrong.status_code == 400 and "incorrect" in text(wrong)
    queue = text(await agent_login(web, agent))
    assert "Demandes à traiter" in queue and request_id in queue
    agent_page = f"/ccas-castres/agents/demandes/{request_id}"
    page = text(await web.get(agent_page, headers=FR))
    assert "Lundi, Jeudi" in page and "Dernier avis d'imposition" in page
    no_comment = await post_form(
        web,
        f"{agent_page}/statut",
        {"status": "en_attente_complements", "comment": ""},
        page=page,
    )
    assert no_comment.status_code == 400 and "quels compléments envoyer" in text(no_comment)
    bogus = await post_form(web, f"{agent_page}/statut", {"status": "brouillon"}, page=page)
    assert bogus.status_code == 400
    # a refusal says why: the citizen is told nothing else
    unexplained = await post_form(
        web, f"{agent_page}/statut", {"status": "refusee", "comment": " "}, page=page
    )
    assert unexplained.status_code == 400
    assert "pourquoi sa demande est refusée" in text(unexplained)
    assert not await outbox(backend.settings, "ccas-castres", email, "request_status")
    waiting = await post_form(
        web,
        f"{agent_page}/statut",
        {"status": "en_attente_complements", "comment": "Merci d'envoyer votre RIB."},
        page=page,
    )
    assert "En attente de compléments" in text(waiting)
    [status_mail] = await outbox(backend.settings, "ccas-castres", email, "request_status")
    assert "en attente de compléments" in status_mail.subject
    assert "Merci d'envoyer votre RIB." in status_mail.text_body
    written = await post_form(
        web, f"{agent_page}/messages", {"body": "Le RIB peut être une photo."}, page=page
    )
    assert "Le message est envoyé au demandeur." in text(written)
    assert await outbox(backend.settings, "ccas-castres", email, "request_message")
    me = re.search(r'<option value="([0-9a-f-]{36})">Paul AGENT', text(written)).group(1)
    # nobody whose role cannot open the requests is offered, nor accepted
    from sqlalchemy import select

    from guichet.db.session import Database
    from guichet.staff.models import StaffUser

    await new_staff(backend.settings, role="regisseur", name="Rémi RÉGIE")
    offered = text(await web.get(agent_page, headers=FR))
    assert "Paul AGENT" in offered and "Rémi RÉGIE" not in offered
    db = Database(backend.settings)
    try:
        async with db.session(all_tenants=True) as session:
            cashier = await session.scalar(
                select(StaffUser.id).where(StaffUser.name == "Rémi RÉGIE").limit(1)
            )
    finally:
        await db.dispose()
    refused = await post_form(web, f"{agent_page}/attribuer", {"assignee": str(cashier)}, page=page)
    assert refused.status_code == 400 and "Choisissez un agent dans la liste" in text(refused)
    assigned = await post_form(web, f"{agent_page}/attribuer", {"assignee": me}, page=page)
    assert "Demande attribuée à Paul AGENT." in text(assigned)
    agent_cookies = dict(web.cookies)

    web.cookies.clear()
    web.cookies.update(citizen_cookies)
    dashboard = text(await web.get("/ccas-castres/mon-espace", headers=FR))
    assert "1 message non lu" in dashboard
    page = text(await web.get(path, headers=FR))
    assert "Le RIB peut être une photo." in page and "Envoyer les compléments" in page
    assert "Merci d'envoyer votre RIB." in page
    empty = await post_multipart(web, f"{path}/messages", {"body": ""}, page_url=path)
    assert empty.status_code == 400 and "Écrivez votre message" in text(empty)
    answered = await post_multipart(
        web,
        f"{path}/messages",
        {"body": "Voici mon RIB."},
        files={"files": ("rib.pdf", PDF, "application/pdf")},
        page_url=path,
    )
    page = text(answered)
    assert "Votre message est envoyé" in page and "En cours d'instruction" in page
    assert "rib.pdf" in page and "pas encore lu" in page

    web.cookies.clear()
    web.cookies.update(agent_cookies)
    queue = text(await web.get("/ccas-castres/agents/demandes/?moi=1", headers=FR))
    assert request_id in queue and "<strong>1</strong>" in queue  # one unread message
    page = (await web.get(agent_page, headers=FR)).text
    rib = re.search(rf"{agent_page}/pieces/([0-9a-f-]{{36}})\">rib.pdf", page).group(1)
    assert (await web.get(f"{agent_page}/pieces/{rib}", headers=FR)).content == PDF
    accepted = await post_form(
        web,
        f"{agent_page}/statut",
        {"status": "acceptee", "comment": "Livraisons lundi."},
        page=page,
    )
    assert "La demande est maintenant : Acceptée." in text(accepted)

    web.cookies.clear()
    web.cookies.update(citizen_cookies)
    page = text(await web.get(path, headers=FR))
    assert "Acceptée" in page and "lu par nos services" in page
    history = text(await web.get("/ccas-castres/mon-espace/demandes/", headers=FR))
    assert "Acceptée" in history


async def test_other_citizens_tenants_and_roles_get_404(web, backend):
    _email, path = await send_meal_request(web, backend)
    request_id = path.rsplit("/", 1)[1]
    own_page = (await web.get(path, headers=FR)).text
    file_id = re.search(rf"{path}/pieces/([0-9a-f-]{{36}})", own_page).group(1)

    web.cookies.clear()
    await new_citizen(web, backend.settings)
    for url in (
        path,
        f"{path}/accuse-reception",
        f"{path}/pieces/{file_id}",
        f"/ccas-castres/demarches/suivi/{request_id}",
    ):
        assert (await web.get(url, headers=FR)).status_code == 404, url
    message = await post_form(web, f"{path}/messages", {"body": "intrus"}, page=own_page)
    assert message.status_code in (403, 404)
    # a citizen is not an agent
    response = await web.get(f"/ccas-castres/agents/demandes/{request_id}", headers=FR)
    assert str(response.url).endswith("/agents/connexion")

    # the other tenant: its own request, sent without an account
    web.cookies.clear()
    summary = await post_multipart(
        web,
        "/mairie-valdoree/demarches/repas-aines",
        {
            "_name": "Léa DURAND",
            "_email": "lea@exemple.fr",
            "nom": "Léa DURAND",
            "accompagne": "Non",
            "action": "continuer",
        },
    )
    sent = await post_form(
        web, "/mairie-valdoree/demarches/repas-aines/envoyer", {}, page=summary.text
    )
    other_id = re.search(r"/demarches/suivi/([0-9a-f-]{36})", sent.text).group(1)
    assert (
        await web.get(f"/mairie-valdoree/demarches/suivi/{other_id}", headers=FR)
    ).status_code == 200
    # the Castres agent sees neither it nor can reach it through Castres' pages
    web.cookies.clear()
    agent = await new_staff(backend.settings)
    queue = text(await agent_login(web, agent))
    assert other_id not in queue
    assert (
        await web.get(f"/ccas-castres/agents/demandes/{other_id}", headers=FR)
    ).status_code == 404
    # and the Castres agent is nobody in Val-Dorée
    refused = await agent_login(web, agent, slug="mairie-valdoree")
    assert refused.status_code == 400
    # the Castres citizen's request is not followable from Val-Dorée
    assert (
        await web.get(f"/mairie-valdoree/demarches/suivi/{request_id}", headers=FR)
    ).status_code == 404


async def test_demo_agent_and_citizen_sign_ins_do_not_mix(web):
    await login(web, "ccas-castres", "calquier", "Castres-2020")
    await staff_login(web, "ccas-castres", *DEMO_AGENT)
    home = await web.get("/ccas-castres/mon-espace", headers=FR)
    assert str(home.url).endswith("/ccas-castres/")  # signing in as an agent ended it
    logout = await post_form(
        web,
        "/ccas-castres/agents/deconnexion",
        {},
        page=(await web.get("/ccas-castres/agents/demandes/", headers=FR)).text,
    )
    assert "Vous êtes déconnecté de l'espace agents." in text(logout)
    assert str((await web.get("/ccas-castres/agents/demandes/")).url).endswith("/connexion")


async def test_export_holds_the_requests_and_erasure_keeps_only_sent_ones(web, backend):
    import io
    import json
    import zipfile

    from sqlalchemy import select

    from guichet.db.session import Database
    from guichet.documents.models import Document
    from guichet.procedures.models import ProcedureRequest, RequestAttachment

    _email, path = await send_meal_request(web, backend)
    request_id = path.rsplit("/", 1)[1]
    await post_multipart(
        web,
        "/ccas-castres/demarches/aide-facultative",
        {"situation": "brouillon à effacer", "action": "enregistrer"},
        files={"file-facture": ("f.pdf", PDF, "application/pdf")},
    )
    store = (await web.get("/ccas-castres/mon-espace/pieces/", headers=FR)).text
    await web.post(
        "/ccas-castres/mon-espace/pieces/",
        headers=FR,
        data={"_csrf_token": csrf(store), "title": "RIB", "kind": "rib"},
        files={"file": ("rib.pdf", PDF, "application/pdf")},
    )
    export = await web.get("/ccas-castres/mon-espace/mes-donnees/export", headers=FR)
    data = json.loads(zipfile.ZipFile(io.BytesIO(export.content)).read("mes-donnees.json"))
    sent = [r for r in data["requests"] if r["reference"]]
    assert [r["procedure"] for r in sent] == ["Demande de portage de repas à domicile"]
    assert sent[0]["answers"]["jours"] == ["Lundi", "Jeudi"]
    assert [s["status"] for s in sent[0]["statuses"]] == ["transmise"]
    assert any(r["status"] == "brouillon" for r in data["requests"])

    page = await web.get("/ccas-castres/mon-espace/mes-donnees", headers=FR)
    from tests.support.accounts import STRONG

    done = await post_form(
        web,
        "/ccas-castres/mon-espace/supprimer",
        {"password": STRONG, "confirm": "yes"},
        page=page.text,
    )
    assert "Votre espace est supprimé" in text(done)
    db = Database(backend.settings)
    try:
        async with db.session(all_tenants=True) as session:
            kept = await session.get(ProcedureRequest, __import__("uuid").UUID(request_id))
            assert kept is not None and kept.reference  # the CCAS keeps the sent request
            assert kept.email == ""  # and writes no more to the erased person
            citizen_id = kept.citizen_id
            left = (
                (
                    await session.execute(
                        select(ProcedureRequest).where(ProcedureRequest.citizen_id == citizen_id)
                    )
                )
                .scalars()
                .all()
            )
            assert [r.id for r in left] == [kept.id]  # the draft is gone
            documents = (
                (await session.execute(select(Document).where(Document.citizen_id == citizen_id)))
                .scalars()
                .all()
            )
            assert documents == []
            attachments = (
                (
                    await session.execute(
                        select(RequestAttachment).where(RequestAttachment.request_id == kept.id)
                    )
                )
                .scalars()
                .all()
            )
            assert len(attachments) == 1
    finally:
        await db.dispose()


async def test_abandoned_anonymous_drafts_are_purged_with_their_files(web, backend):
    import uuid
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select, update

    from guichet.db.session import Database
    from guichet.files import create_file_store
    from guichet.procedures.maintenance import purge_anonymous_drafts
    from guichet.procedures.models import ProcedureRequest, RequestAttachment

    ids = []
    for name in ("ancien", "récent"):
        web.cookies.clear()
        saved = await post_multipart(
            web,
            "/mairie-valdoree/demarches/repas-aines",
            {"nom": name, "_name": name, "_email": "x@exemple.fr", "action": "enregistrer"},
        )
        assert "Votre brouillon est enregistré" in text(saved)
    db = Database(backend.settings)
    files = create_file_store(backend.settings)
    try:
        async with db.session(all_tenants=True) as session:
            for name in ("ancien", "récent"):
                found = (
                    (
                        await session.execute(
                            select(ProcedureRequest.id).where(ProcedureRequest.name == name)
                        )
                    )
                    .scalars()
                    .all()
                )
                ids.append(found[-1])
        old_id, recent_id = ids
        key = f"tenants/x/requests/{old_id}/test.pdf"
        files.put(key, PDF)
        async with db.transaction(all_tenants=True) as session:
            tenant_id = (await session.get(ProcedureRequest, old_id)).tenant_id
            session.add(
                RequestAttachment(
                    id=uuid.uuid4(),
                    tenant_id=tenant_id,
                    request_id=old_id,
                    title="t",
                    media_type="application/pdf",
                    size=len(PDF),
                    storage_key=key,
                    sha256="0" * 64,
                )
            )
            await session.execute(
                update(ProcedureRequest)
                .where(ProcedureRequest.id == old_id)
                .values(updated_at=datetime.now(UTC) - timedelta(days=3))
            )
        async with db.session(all_tenants=True) as session:
            assert await purge_anonymous_drafts(session, files) >= 1
        async with db.session(all_tenants=True) as session:
            assert await session.get(ProcedureRequest, old_id) is None
            assert await session.get(ProcedureRequest, recent_id) is not None
        with pytest.raises(FileNotFoundError):
            files.get(key)
    finally:
        await db.dispose()


async def test_tracking_lookups_from_one_address_are_throttled(sqlite_backend):
    import dataclasses

    from litestar.testing import AsyncTestClient

    from guichet.app import create_app

    settings = dataclasses.replace(
        sqlite_backend.settings,
        store=dataclasses.replace(sqlite_backend.settings.store, namespace="trackingip"),
    )
    async with AsyncTestClient(app=create_app(settings, configure_logs=False)) as web:
        statuses = []
        for n in range(22):  # a different reference each time: the per-address limit
            response = await post_form(
                web,
                "/ccas-castres/demarches/suivi",
                {"reference": f"D2026-X{n:05d}", "email": "a@exemple.fr", "code": "ABCDABCDABCD"},
            )
            statuses.append(response.status_code)
        assert statuses[:20] == [400] * 20 and statuses[-1] == 429, statuses


async def test_double_send_makes_one_request_and_one_email(web, backend):
    import asyncio

    _username, email = await new_citizen(web, backend.settings)
    summary = await post_multipart(
        web,
        MEALS,
        {**meal_answers(), "action": "continuer"},
        files={
            "file-avis_imposition": ("C:\\Mes documents\\avis-2025.pdf", PDF, "application/pdf")
        },
    )
    # the summary shows which file goes with the document asked for
    assert "Dernier avis d'imposition (avis-2025.pdf)" in text(summary)
    token = csrf(summary.text)
    responses = await asyncio.gather(
        *(web.post(f"{MEALS}/envoyer", data={"_csrf_token": token}, headers=FR) for _ in range(3))
    )
    assert all(r.status_code == 200 for r in responses), [r.status_code for r in responses]
    assert len(await outbox(backend.settings, "ccas-castres", email, "request_received")) == 1
    history = text(await web.get("/ccas-castres/mon-espace/demandes/", headers=FR))
    assert len(re.findall(r"D\d{4}-[A-Z0-9]{6}</a>", history)) == 1


async def test_control_characters_and_odd_drafts_give_no_500(web, backend):
    from sqlalchemy import update

    from guichet.db.session import Database
    from guichet.procedures.models import ProcedureRequest

    await new_citizen(web, backend.settings)
    response = await post_multipart(
        web,
        MEALS,
        meal_answers(beneficiaire="Cécile\x00ALQUIER", precisions="a\x00b", action="enregistrer"),
    )
    assert response.status_code == 200  # saved, without the NUL
    page = text(await web.get(MEALS, headers=FR))
    assert 'value="CécileALQUIER"' in page and ">ab</textarea>" in page
    tracked = await post_form(
        web,
        "/ccas-castres/demarches/suivi",
        {"reference": "D2026-\x00", "email": "a\x00@b.fr", "code": "\x00"},
    )
    assert tracked.status_code == 400
    # a draft whose answers no longer fit the form (the procedure changed meanwhile)
    db = Database(backend.settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            await session.execute(
                update(ProcedureRequest)
                .where(
                    ProcedureRequest.name == "Cécile ALQUIER", ProcedureRequest.reference.is_(None)
                )
                .values(answers={"adresse_livraison": "texte", "jours": "Lundi", "regime": 3})
            )
    finally:
        await db.dispose()
    form = await web.get(MEALS, headers=FR)
    assert form.status_code == 200
    summary = await web.get(f"{MEALS}/recapitulatif", headers=FR)
    assert summary.status_code == 200
    sent = await post_form(web, f"{MEALS}/envoyer", {}, page=summary.text)
    assert "Votre demande est incomplète" in text(sent)


async def test_an_attached_optional_document_can_be_removed(web, backend):
    await new_citizen(web, backend.settings)
    url = "/ccas-castres/demarches/aide-facultative"
    await post_multipart(
        web,
        url,
        {"action": "enregistrer"},
        files={"file-facture": ("f.pdf", PDF, "application/pdf")},
    )
    assert "Joint :" in text(await web.get(url, headers=FR))
    removed = await post_multipart(web, url, {"doc-facture": "retirer", "action": "enregistrer"})
    assert removed.status_code == 200
    assert "Joint :" not in text(await web.get(url, headers=FR))
