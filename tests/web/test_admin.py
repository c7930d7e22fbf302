"""Staff and operators over HTTP (both backends): the second factor, invitations, the role ×
route matrix, tenant administration (branding, services and keys, staff, audit log), operators
onboarding a tenant, and that nobody acts across tenants or across kinds of users."""

import re
import time
from html import unescape

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy import text as sql

from guichet.accounts.models import ServiceAccount
from guichet.audit.models import AuditEvent
from guichet.db.session import Database
from guichet.staff.models import StaffUser
from tests.support.accounts import FR, csrf, link_path, outbox, post_form, unique, wizard
from tests.support.images import huge_png
from tests.support.staff import (
    new_operator,
    new_staff,
    operator_login,
    signed_in_staff,
    staff_login,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f"
    b"\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


SETTINGS_FORM = {
    "contact_phone": "",
    "contact_email": "",
    "contact_hours": "",
    "contact_address": "",
    "main_site_url": "",
    "locales": ["fr"],
    "default_locale": "fr",
    "password_min_length": "8",
    "password_min_lowercase": "1",
    "password_min_uppercase": "0",
    "password_min_digits": "1",
    "password_min_special": "0",
    "maintenance_message": "",
}


def text(response):
    return unescape(response.text)


async def onboarded(web, backend, terms=True):
    """A fresh tenant onboarded by an operator, and its administrator signed in on ``web``,
    who published a first version of the CGU (without them no citizen can create a space)
    unless ``terms`` is false; returns (slug, admin email)."""
    web.cookies.clear()
    operator = await new_operator(backend.settings)
    landing = await operator_login(web, *operator)
    assert str(landing.url).endswith("/operator/"), text(landing)[:2000]
    slug = unique("ccas-")
    admin = f"{unique('admin')}@exemple.fr"
    created = await post_form(
        web,
        "/operator/collectivites/nouvelle",
        {
            "name": "CCAS de Test",
            "slug": slug,
            "kind": "ccas",
            "admin_name": "Anne ADMIN",
            "admin_email": admin,
        },
    )
    assert "est créée" in text(created), text(created)[:3000]
    [invitation] = await outbox(backend.settings, slug, admin, "staff_invitation")
    path = link_path(invitation, backend.settings.web.public_url)
    web.cookies.clear()
    page = await web.get(path, headers=FR)
    assert "Anne ADMIN, choisissez votre mot de passe" in text(page)
    weak = await post_form(
        web, path, {"password": "court", "password_confirmation": "court"}, page=page.text
    )
    assert weak.status_code == 400 and "12" in text(weak)
    password = "Mot-de-passe-2026"
    enrol = await post_form(
        web, path, {"password": password, "password_confirmation": password}, page=page.text
    )
    assert "Double authentification" in text(enrol)
    assert "<svg" in enrol.text  # the QR code, inline
    secret = re.search(r'class="totp-key">([A-Z2-7 ]+)<', enrol.text).group(1).replace(" ", "")
    wrong = await post_form(
        web, f"/{slug}/agents/double-authentification", {"code": "000000"}, page=enrol.text
    )
    assert wrong.status_code == 400
    done = await post_form(
        web,
        f"/{slug}/agents/double-authentification",
        {"code": pyotp.TOTP(secret).now()},
        page=enrol.text,
    )
    assert f"/{slug}/admin/" in str(done.url), text(done)[:2000]
    assert "Administration — CCAS de Test" in text(done)
    # the invitation link is spent
    assert (await web.get(path, headers=FR)).status_code == 404
    if terms:
        content = await web.get(f"/{slug}/admin/contenus", headers=FR)
        published = await post_form(
            web,
            f"/{slug}/admin/contenus",
            {"action": "cgu", "terms_title": "CGU", "terms_body": "Version 1", "confirm": "oui"},
            page=content.text,
        )
        assert "La version 1 des CGU est publiée" in text(published)
    return slug, admin


async def test_sign_in_leads_a_staff_member_to_the_page_asked_for(web, backend):
    """A page opened signed out (a link in an email, a session that ended): after the password
    and the code, the member is on that page, not on their usual first page."""
    email, password, secret = await new_staff(backend.settings, role="administrateur")
    asked = await web.get("/ccas-castres/admin/contenus", headers=FR)
    assert str(asked.url).endswith("/agents/connexion")
    landing = await staff_login(web, "ccas-castres", email, password, secret)
    assert str(landing.url).endswith("/ccas-castres/admin/contenus"), landing.url


async def test_second_factor_is_asked_and_a_code_serves_once(web, backend):
    email, password, secret = await new_staff(backend.settings)
    first = await post_form(
        web, "/ccas-castres/agents/connexion", {"email": email, "password": password}
    )
    assert str(first.url).endswith("/agents/connexion/code")
    # the page is for the code: the cursor is in its field (a tester typed into nothing)
    assert re.search(r'<input id="f-code"[^>]* autofocus', first.text)
    # nothing opens between the two steps
    queue = await web.get("/ccas-castres/agents/demandes/", headers=FR)
    assert str(queue.url).endswith("/agents/connexion")
    first = await post_form(
        web, "/ccas-castres/agents/connexion", {"email": email, "password": password}
    )
    wrong = await post_form(
        web, "/ccas-castres/agents/connexion/code", {"code": "123456"}, page=first.text
    )
    assert wrong.status_code == 400 and "Code incorrect" in text(wrong)
    # after an error the focus goes to the message, once: not to the field as well
    assert wrong.text.count("autofocus") == 1 and 'id="erreur-code"' in wrong.text
    code = pyotp.TOTP(secret).now()
    ok = await post_form(
        web, "/ccas-castres/agents/connexion/code", {"code": code}, page=first.text
    )
    # the queue, asked for above between the two steps (its address as the router has it)
    assert str(ok.url).endswith("/agents/demandes")
    web.cookies.clear()
    again = await staff_login(web, "ccas-castres", email, password, secret, code=code)
    assert again.status_code == 400 and "déjà utilisé" in text(again)  # no replay
    db = Database(backend.settings)
    try:
        async with db.session(all_tenants=True) as session:
            stored = await session.scalar(select(StaffUser).where(StaffUser.email == email))
            assert secret not in stored.totp_secret  # encrypted at rest
    finally:
        await db.dispose()


ROUTES = [
    "/admin/",
    "/admin/apparence",
    "/admin/services",
    "/admin/agents",
    "/admin/journal",
    "/admin/habitants/",
    "/admin/contenus",
    "/admin/parametres",
    "/admin/facturation/",
    "/admin/facturation/factures",
    "/admin/facturation/jetons",
    "/admin/demarches/",
    "/admin/pages",
    "/agents/demandes/",
]
ALLOWED = {
    "administrateur": set(ROUTES),
    "agent": {"/admin/", "/agents/demandes/", "/admin/habitants/"},
    "regisseur": {"/admin/", "/admin/facturation/", "/admin/facturation/factures"},
}


@pytest.mark.parametrize("role", sorted(ALLOWED))
async def test_role_by_route_matrix(web, backend, role):
    web.cookies.clear()
    for route in ROUTES:  # nobody signed in: the sign-in page
        response = await web.get(f"/ccas-castres{route}", headers=FR)
        assert str(response.url).endswith("/agents/connexion"), route
    await signed_in_staff(web, backend.settings, role=role)
    for route in ROUTES:
        response = await web.get(f"/ccas-castres{route}", headers=FR, follow_redirects=False)
        expected = 200 if route in ALLOWED[role] else 403
        assert response.status_code == expected, (role, route, response.status_code)
    # state-changing routes follow the same rule
    page = (await web.get("/ccas-castres/admin/", headers=FR)).text
    posted = await web.post(
        "/ccas-castres/admin/services",
        data={"_csrf_token": csrf(page), "code": f"s{unique('')}", "name": "Essai"},
        headers=FR,
        follow_redirects=False,
    )
    assert posted.status_code == (303 if role == "administrateur" else 403)


async def test_onboarding_branding_service_key_and_a_citizen_with_it(web, backend):
    slug, admin = await onboarded(web, backend)
    # branding: a colour pair under 4.5:1 is refused next to the field, with what was typed
    page = await web.get(f"/{slug}/admin/apparence", headers=FR)
    # the themes in words, not their folders' names
    assert '<option value="default" selected>Par défaut</option>' in page.text
    assert '<option value="horizon">Horizon</option>' in page.text
    form = {
        "name": "CCAS de Test",
        "short_name": "CCAS Test",
        "tagline": "Centre communal d'action sociale",
        "theme": "default",
        "logo_alt": "CCAS de Test",
        "primary_color": "#0b5d1e",
        "on_primary_color": "#777777",
        "accent_color": "#8a2b06",
        "on_accent_color": "#ffffff",
    }
    refused = await post_form(web, f"/{slug}/admin/apparence", form, page=page.text)
    assert refused.status_code == 400
    assert "Contraste de" in text(refused) and 'value="#777777"' in refused.text
    preview = await post_form(
        web,
        f"/{slug}/admin/apparence",
        {**form, "on_primary_color": "#ffffff", "action": "apercu"},
        page=page.text,
    )
    assert "Aperçu (non enregistré)" in text(preview)
    # a logo of too many pixels (small on disk: WeasyPrint would draw it 0×0) or unreadable
    for data, message in (
        (huge_png(30000, 30000), "Ce logo a trop de pixels : 4000 pixels de côté au plus."),
        (huge_png(4001, 10), "Ce logo a trop de pixels"),
        (PNG[:40], "Cette image est illisible ou abîmée."),
    ):
        refused = await web.post(
            f"/{slug}/admin/apparence",
            data={"_csrf_token": csrf(page.text), **form, "on_primary_color": "#ffffff"},
            files={"logo": ("logo.png", data, "image/png")},
            headers=FR,
        )
        assert refused.status_code == 400 and message in text(refused)
        assert len(data) < 200_000
    saved = await web.post(
        f"/{slug}/admin/apparence",
        data={"_csrf_token": csrf(page.text), **form, "on_primary_color": "#ffffff"},
        files={"logo": ("logo.png", PNG, "image/png")},
        headers=FR,
    )
    assert "L'apparence du portail est enregistrée." in text(saved)
    css = await web.get(f"/{slug}/branding.css")
    assert "#0b5d1e" in css.text
    home = text(await web.get(f"/{slug}/", headers=FR))
    assert "CCAS Test" in home and 'alt="CCAS de Test"' in home
    logo = await web.get(re.search(rf'src="(/{slug}/logo\?v=\w+)"', home).group(1))
    assert logo.content == PNG

    # a service, a file, its key
    services = await web.get(f"/{slug}/admin/services", headers=FR)
    created = await post_form(
        web,
        f"/{slug}/admin/services",
        {"name": "Action sociale", "code": "action-sociale"},
        page=services.text,
    )
    assert "Le service « Action sociale » est créé." in text(created)
    duplicate = await post_form(
        web,
        f"/{slug}/admin/services",
        {"name": "Autre", "code": "action-sociale"},
        page=services.text,
    )
    assert duplicate.status_code == 400 and "déjà celui d'un service" in text(duplicate)
    filed = await post_form(
        web,
        f"/{slug}/admin/services/action-sociale",
        {"reference": "AS-2026-0001", "holder_name": "Madame TEST Jeanne", "email": "j@exemple.fr"},
        page=created.text,
    )
    key = re.search(r"Sa clé d'accès est ([A-Z0-9-]{14})", text(filed)).group(1)
    letter_url = re.search(
        rf'href="(/{slug}/admin/services/action-sociale/[0-9a-f-]{{36}}/lettre)"', filed.text
    ).group(1)
    letter = await web.get(letter_url)
    assert letter.status_code == 200 and letter.content.startswith(b"%PDF")
    emailed = await post_form(web, letter_url.replace("/lettre", "/courriel"), {}, page=filed.text)
    assert "La clé est envoyée à j@exemple.fr." in text(emailed)
    [key_mail] = await outbox(backend.settings, slug, "j@exemple.fr", "access_key")
    assert key in key_mail.text_body

    # the audit log holds each action, with its author
    journal = text(await web.get(f"/{slug}/admin/journal", headers=FR))
    for action in (
        "staff.invitation_accepted",
        "tenant.branding_changed",
        "service.created",
        "service_account.created",
        "service_account.key_emailed",
    ):
        assert action in journal, action
    assert admin in journal
    # each named in words, its details too (not as JSON)
    for label in ("Invitation acceptée", "Apparence modifiée", "Service créé", "Dossier créé"):
        assert label in journal, label
    assert "champs : " in journal and '{"fields"' not in journal

    # a citizen creates an account there with that key
    web.cookies.clear()
    username = unique()
    response = await wizard(
        web, slug, username=username, email=f"{username}@exemple.fr", keys={"action-sociale": key}
    )
    assert "Votre espace est créé" in text(response), text(response)[:3000]


async def test_staff_invitations_roles_and_deactivation(web, backend):
    await signed_in_staff(web, backend.settings, role="administrateur", name="Chef ADMIN")
    page = await web.get("/ccas-castres/admin/agents", headers=FR)
    email = f"{unique('nouvel')}@exemple.fr"
    invited = await post_form(
        web,
        "/ccas-castres/admin/agents",
        {"name": "Nouvel AGENT", "email": email, "role": "agent"},
        page=page.text,
    )
    assert f"Invitation envoyée à {email}." in text(invited)
    assert "invitation envoyée" in text(invited)
    bad = await post_form(
        web,
        "/ccas-castres/admin/agents",
        {"name": "", "email": "pas-un-courriel", "role": "roi"},
        page=page.text,
    )
    assert bad.status_code == 400 and "Choisissez un rôle" in text(bad)
    member = re.search(
        r'action="/ccas-castres/admin/agents/([0-9a-f-]{36})"[^>]*>\s*<input[^>]*>\s*'
        r'<input type="hidden" name="action" value="role">\s*<label for="role-[^"]+" '
        r'class="visually-hidden">Rôle de Nouvel AGENT',
        invited.text,
    )
    assert member, invited.text[-5000:]
    member_id = member.group(1)
    changed = await post_form(
        web,
        f"/ccas-castres/admin/agents/{member_id}",
        {"action": "role", "role": "regisseur"},
        page=invited.text,
    )
    assert "modification enregistrée" in text(changed)
    disabled = await post_form(
        web, f"/ccas-castres/admin/agents/{member_id}", {"action": "desactiver"}, page=invited.text
    )
    assert "désactivé" in text(disabled)
    # the invitation of a disabled member opens nothing
    [mail] = await outbox(backend.settings, "ccas-castres", email, "staff_invitation")
    assert (await web.get(link_path(mail, backend.settings.web.public_url))).status_code == 404


async def test_nobody_acts_across_tenants_or_kinds_of_users(web, backend):
    # Val-Dorée's staff member and service
    other_email, _password, _secret = await new_staff(backend.settings, "mairie-valdoree")
    db = Database(backend.settings)
    try:
        async with db.session(all_tenants=True) as session:
            other_id = await session.scalar(
                select(StaffUser.id).where(StaffUser.email == other_email)
            )
    finally:
        await db.dispose()
    await signed_in_staff(web, backend.settings, role="administrateur")
    page = (await web.get("/ccas-castres/admin/agents", headers=FR)).text
    assert other_email not in page
    response = await web.post(
        f"/ccas-castres/admin/agents/{other_id}",
        data={"_csrf_token": csrf(page), "action": "desactiver"},
        headers=FR,
    )
    assert response.status_code == 404
    assert (await web.get("/ccas-castres/admin/services/enfance", headers=FR)).status_code == 404
    # a Castres session is nobody in Val-Dorée
    response = await web.get("/mairie-valdoree/admin/", headers=FR)
    assert str(response.url).endswith("/mairie-valdoree/agents/connexion")
    # nor on the operators' pages
    response = await web.get("/operator/", headers=FR)
    assert str(response.url).endswith("/operator/connexion")
    # an operator is nobody in a tenant
    web.cookies.clear()
    await operator_login(web, *await new_operator(backend.settings))
    assert str((await web.get("/operator/", headers=FR)).url).endswith("/operator/")
    response = await web.get("/ccas-castres/admin/", headers=FR)
    assert str(response.url).endswith("/ccas-castres/agents/connexion")


async def test_operator_puts_a_tenant_in_maintenance_and_back(web, backend):
    slug, _admin = await onboarded(web, backend)
    web.cookies.clear()
    await operator_login(web, *await new_operator(backend.settings))
    page = await web.get(f"/operator/collectivites/{slug}", headers=FR)
    assert "CCAS de Test" in text(page) and "en service" in text(page)
    await post_form(
        web,
        f"/operator/collectivites/{slug}/etat",
        {"status": "maintenance", "maintenance_message": "Retour à 14 h."},
        page=page.text,
    )
    citizen_page = await web.get(f"/{slug}/", headers=FR)
    assert citizen_page.status_code == 503 and "Retour à 14 h." in text(citizen_page)
    # the staff's spaces stay open, their roots included (an administrator lands on /admin)
    for path in ("/admin", "/admin/", "/admin/parametres", "/agents", "/agents/connexion"):
        staff = await web.get(f"/{slug}{path}", headers=FR, follow_redirects=False)
        assert staff.status_code != 503, path
    assert (await web.get(f"/{slug}/administration", headers=FR)).status_code == 503
    back = await post_form(
        web, f"/operator/collectivites/{slug}/etat", {"status": "active"}, page=page.text
    )
    assert "est maintenant en service" in text(back)
    assert (await web.get(f"/{slug}/", headers=FR)).status_code == 200
    assert "tenant.maintenance" in text(back)
    listing = text(await web.get("/operator/", headers=FR))
    assert f"/{slug}/" in listing


async def test_the_audit_log_is_append_only(backend):
    db = Database(backend.settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            session.add(AuditEvent(actor_kind="system", actor_name="test", action="test.appended"))
        for statement in (
            "UPDATE audit_event SET action = 'test.rewritten' WHERE action = 'test.appended'",
            "DELETE FROM audit_event WHERE action = 'test.appended'",
        ):
            with pytest.raises(Exception, match="append-only"):
                async with db.transaction(all_tenants=True) as session:
                    await session.execute(sql(statement))
    finally:
        await db.dispose()


async def test_odd_input_gives_clear_answers_never_a_500(web, backend):
    email, password, _secret = await new_staff(backend.settings, role="administrateur")
    first = await post_form(
        web, "/ccas-castres/agents/connexion", {"email": email, "password": password}
    )
    odd = await post_form(
        web, "/ccas-castres/agents/connexion/code", {"code": "١٢٣٤٥٦²"}, page=first.text
    )
    assert odd.status_code == 400
    web.cookies.clear()
    await signed_in_staff(web, backend.settings, role="administrateur")
    for query in ("jours=²", "jours=1000000", "action=%00x&qui=%00"):
        assert (await web.get(f"/ccas-castres/admin/journal?{query}")).status_code == 200
    assert (await web.get("/ccas-castres/admin/services/%00")).status_code == 404
    # re-inviting before acceptance: the new role holds
    page = await web.get("/ccas-castres/admin/agents", headers=FR)
    invited = f"{unique('reinvite')}@exemple.fr"
    for role in ("administrateur", "agent"):
        await post_form(
            web,
            "/ccas-castres/admin/agents",
            {"name": "Bob\nRE-INVITÉ", "email": invited, "role": role},
            page=page.text,
        )
    db = Database(backend.settings)
    try:
        async with db.session(all_tenants=True) as session:
            bob = await session.scalar(select(StaffUser).where(StaffUser.email == invited))
            assert bob.role.value == "agent" and bob.name == "Bob RE-INVITÉ"
    finally:
        await db.dispose()


async def test_operator_resends_a_lost_invitation(web, backend):
    web.cookies.clear()
    await operator_login(web, *await new_operator(backend.settings))
    slug, admin = unique("ccas-"), f"{unique('perdu')}@exemple.fr"
    await post_form(
        web,
        "/operator/collectivites/nouvelle",
        {
            "name": "CCAS\nPerdu",
            "slug": slug,
            "kind": "ccas",
            "admin_name": "A",
            "admin_email": admin,
        },
    )
    page = await web.get(f"/operator/collectivites/{slug}", headers=FR)
    assert "CCAS Perdu" in text(page)
    again = await post_form(web, f"/operator/collectivites/{slug}/invitation", {}, page=page.text)
    assert "1 invitation envoyée de nouveau." in text(again)
    first, second = await outbox(backend.settings, slug, admin, "staff_invitation")
    web.cookies.clear()
    old = link_path(first, backend.settings.web.public_url)
    assert (await web.get(old, headers=FR)).status_code == 404
    new = link_path(second, backend.settings.web.public_url)
    assert (await web.get(new, headers=FR)).status_code == 200


async def test_agents_find_lock_unlock_and_reactivate_citizens(web, backend):
    from tests.support.accounts import STRONG, login, new_citizen

    username, email = await new_citizen(web, backend.settings)
    web.cookies.clear()
    pending = unique()
    await wizard(web, "ccas-castres", username=pending, email=f"{pending}@exemple.fr")
    web.cookies.clear()
    await signed_in_staff(web, backend.settings, role="agent")
    found = await web.get(f"/ccas-castres/admin/habitants/?q={username}", headers=FR)
    assert username in text(found) and "1 espace trouvé" in text(found)
    citizen_url = re.search(
        r'href="(/ccas-castres/admin/habitants/[0-9a-f-]{36})"', found.text
    ).group(1)
    page = await web.get(citizen_url, headers=FR)
    assert email in text(page) and "password" not in page.text.lower().replace(
        'type="password"', ""
    )
    locked = await post_form(web, citizen_url, {"action": "verrouiller"}, page=page.text)
    assert "L'espace est verrouillé" in text(locked)
    assert "Espace verrouillé par nos services" in text(locked)  # its history, in words
    assert "Création de l'espace" in text(locked) and "<code>created" not in locked.text
    agent_cookies = dict(web.cookies)
    web.cookies.clear()
    refused = await login(web, "ccas-castres", username, STRONG)
    assert refused.status_code == 400
    web.cookies.clear()
    web.cookies.update(agent_cookies)
    unlocked = await post_form(web, citizen_url, {"action": "deverrouiller"}, page=page.text)
    assert "L'espace est déverrouillé." in text(unlocked)
    # a pending account gets a new activation link
    found = await web.get(f"/ccas-castres/admin/habitants/?q={pending}", headers=FR)
    pending_url = re.search(
        r'href="(/ccas-castres/admin/habitants/[0-9a-f-]{36})"', found.text
    ).group(1)
    page = await web.get(pending_url, headers=FR)
    again = await post_form(web, pending_url, {"action": "activation"}, page=page.text)
    assert "Un nouveau lien d'activation" in text(again)
    assert (
        len(await outbox(backend.settings, "ccas-castres", f"{pending}@exemple.fr", "activation"))
        == 2
    )
    # a Val-Dorée citizen is not found from Castres
    web.cookies.clear()
    other, _mail = await new_citizen(web, backend.settings, slug="mairie-valdoree")
    web.cookies.clear()
    await signed_in_staff(web, backend.settings, role="administrateur")
    db = Database(backend.settings)
    try:
        from guichet.accounts.models import Citizen

        async with db.session(all_tenants=True) as session:
            other_id = await session.scalar(select(Citizen.id).where(Citizen.username == other))
    finally:
        await db.dispose()
    assert (
        await web.get(f"/ccas-castres/admin/habitants/{other_id}", headers=FR)
    ).status_code == 404
    searched = text(await web.get(f"/ccas-castres/admin/habitants/?q={other}", headers=FR))
    assert "Aucun espace ne correspond." in searched


async def test_settings_and_content_reach_the_citizens(web, backend):
    from tests.support.accounts import STRONG, login, new_citizen

    slug, _admin = await onboarded(web, backend, terms=False)
    admin_cookies = dict(web.cookies)
    # settings: a wrong value is refused next to its field; a right one shows on the portal
    page = await web.get(f"/{slug}/admin/parametres", headers=FR)
    form = {
        "contact_phone": "05 63 00 00 01",
        "contact_email": "accueil@exemple.fr",
        "contact_hours": "Du lundi au vendredi",
        "contact_address": "1 place\nde la Mairie",
        "main_site_url": "",
        "locales": ["fr", "en"],
        "default_locale": "fr",
        "password_min_length": "10",
        "password_min_lowercase": "1",
        "password_min_uppercase": "1",
        "password_min_digits": "1",
        "password_min_special": "0",
        "maintenance_message": "",
    }
    bad = await post_form(
        web, f"/{slug}/admin/parametres", {**form, "password_min_length": "3"}, page=page.text
    )
    assert bad.status_code == 400 and "Un nombre de 8 à 64." in text(bad)
    phone = await post_form(
        web, f"/{slug}/admin/parametres", {**form, "contact_phone": "abc"}, page=page.text
    )
    assert phone.status_code == 400 and "Numéro invalide : 10 chiffres" in text(phone)
    assert 'value="abc"' in phone.text
    saved = await post_form(web, f"/{slug}/admin/parametres", form, page=page.text)
    assert "Les paramètres sont enregistrés." in text(saved)
    home = text(await web.get(f"/{slug}/", headers=FR))
    assert "05 63 00 00 01" in home
    # the postal address keeps its lines (it was shown on one)
    contacts = await web.get(f"/{slug}/contacts", headers=FR)
    assert "<dd>1 place<br>de la Mairie</dd>" in contacts.text
    # content: welcome text, a news item, a CGU version
    page = await web.get(f"/{slug}/admin/contenus", headers=FR)
    # a text over the limit is refused with its length, kept whole, and nothing is saved
    long_welcome = "Un accueil très long. " * 500 + "LA FIN"
    refused = await post_form(
        web,
        f"/{slug}/admin/contenus",
        {"action": "accueil", "welcome_title": "TROP LONG", "welcome_text": long_welcome},
        page=page.text,
    )
    assert refused.status_code == 400
    assert f"Ce texte a {len(long_welcome)} caractères, 10000 au plus" in text(refused)
    assert "LA FIN</textarea>" in text(refused)  # not cut
    assert "TROP LONG" not in text(await web.get(f"/{slug}/", headers=FR))
    await post_form(
        web,
        f"/{slug}/admin/contenus",
        {
            "action": "accueil",
            "welcome_title": "BONJOUR",
            "welcome_text": "Le **CCAS** vous accueille.",
        },
        page=page.text,
    )
    await post_form(
        web,
        f"/{slug}/admin/contenus",
        {
            "action": "actualite",
            "news_date": "26/11/2026",
            "news_title": "Colis de Noël",
            "news_body": "Inscriptions ouvertes.",
        },
        page=page.text,
    )
    # no CGU yet: nothing a citizen could accept, so no space can be created
    assert "Publier les conditions générales" in text(await web.get(f"/{slug}/admin/", headers=FR))
    welcome = await web.get(f"/{slug}/creer-mon-espace", headers=FR)
    assert "La création d'un espace n'est pas encore ouverte" in text(welcome)
    assert "JE CRÉE MON ESPACE" not in text(welcome)
    started = await post_form(web, f"/{slug}/creer-mon-espace", {}, page=page.text)
    assert str(started.url).endswith(f"/{slug}/creer-mon-espace")
    assert "La création d'un espace n'est pas encore ouverte" in text(started)
    no_box = await post_form(
        web,
        f"/{slug}/admin/contenus",
        {"action": "cgu", "terms_title": "CGU", "terms_body": "Version 1"},
        page=page.text,
    )
    assert no_box.status_code == 400 and "Cochez la case" in text(no_box)
    published = await post_form(
        web,
        f"/{slug}/admin/contenus",
        {"action": "cgu", "terms_title": "CGU", "terms_body": "Version 1", "confirm": "oui"},
        page=page.text,
    )
    assert "La version 1 des CGU est publiée" in text(published)
    assert "JE CRÉE MON ESPACE" in text(await web.get(f"/{slug}/creer-mon-espace", headers=FR))
    dashboard = text(await web.get(f"/{slug}/admin/", headers=FR))
    assert "Publier les conditions générales" not in dashboard
    assert "Écrire le texte d'accueil" not in dashboard and "Besoin d'aide" not in dashboard
    home = text(await web.get(f"/{slug}/", headers=FR))
    assert "BONJOUR" in home and "Le <strong>CCAS</strong> vous accueille." in home
    assert "Colis de Noël" in home
    # a citizen of that tenant (policy: 10 characters, a capital letter) then a new CGU version
    web.cookies.clear()
    username, _mail = await new_citizen(web, backend.settings, slug=slug)
    web.cookies.clear()
    web.cookies.update(admin_cookies)
    page = await web.get(f"/{slug}/admin/contenus", headers=FR)
    await post_form(
        web,
        f"/{slug}/admin/contenus",
        {"action": "cgu", "terms_title": "CGU", "terms_body": "Version 2", "confirm": "oui"},
        page=page.text,
    )
    web.cookies.clear()
    response = await login(web, slug, username, STRONG)
    assert str(response.url).endswith("/cgu-a-accepter"), response.url


async def test_an_agent_downloads_an_invoice_as_its_citizen_does(web, backend):
    """To reprint the letter a resident has lost: the invoice's page had no PDF (a tester's
    walk); only the whole print file held it."""
    import io

    from pypdf import PdfReader

    from tests.support.accounts import new_citizen
    from tests.support.billing import invoice_for

    username, _mail = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username, cents=1706)
    mine = await web.get(f"/ccas-castres/mon-espace/factures/{invoice_id}/pdf")
    assert mine.status_code == 200
    link = f"/ccas-castres/admin/facturation/factures/{invoice_id}/pdf"
    web.cookies.clear()
    await signed_in_staff(web, backend.settings, role="agent")  # no billing permission
    assert (await web.get(link)).status_code == 403
    web.cookies.clear()
    await signed_in_staff(web, backend.settings, role="regisseur")
    page = await web.get(f"/ccas-castres/admin/facturation/factures/{invoice_id}", headers=FR)
    assert f'href="{link}"' in page.text
    agent = await web.get(link)
    assert agent.status_code == 200 and agent.headers["content-type"] == "application/pdf"
    assert agent.content == mine.content  # the stored one, as the citizen has it
    words = " ".join(PdfReader(io.BytesIO(agent.content)).pages[0].extract_text().split())
    assert "17,06" in words and "Madame " + username.upper() in words


async def test_cashier_records_a_payment_cancels_by_credit_note_and_exports(web, backend):
    from tests.support.accounts import new_citizen
    from tests.support.billing import invoice_for

    username, _mail = await new_citizen(web, backend.settings)
    first = await invoice_for(backend.settings, "ccas-castres", username, cents=2500)
    second = await invoice_for(backend.settings, "ccas-castres", username, cents=853)
    web.cookies.clear()
    await signed_in_staff(web, backend.settings, role="regisseur")
    page = await web.get(f"/ccas-castres/admin/facturation/factures/{first}", headers=FR)
    number = re.search(r"— (9\d{9}) —", text(page)).group(1)
    found = text(await web.get(f"/ccas-castres/admin/facturation/factures?q={number}", headers=FR))
    assert "1 facture" in found and number in found
    url = f"/ccas-castres/admin/facturation/factures/{first}/reglement"
    too_much = await post_form(
        web, url, {"amount": "30,00", "paid_on": "01/11/2026", "method": "cheque"}, page=page.text
    )
    assert too_much.status_code == 400 and "Plus que le reste à payer" in text(too_much)
    future = await post_form(
        web, url, {"amount": "10", "paid_on": "01/01/2099", "method": "cheque"}, page=page.text
    )
    assert future.status_code == 400
    paid = await post_form(
        web,
        url,
        {"amount": "10,50", "paid_on": "02/11/2026", "method": "cheque", "reference": "CHQ 1234"},
        page=page.text,
    )
    assert "Le règlement est enregistré." in text(paid)
    assert "partiellement réglée" in text(paid) and "14,50" in text(paid)
    page = await web.get(f"/ccas-castres/admin/facturation/factures/{first}", headers=FR)
    cash = await post_form(  # a year of two digits, as agents type it quickly
        web, url, {"amount": "1", "paid_on": "3/11/26", "method": "especes"}, page=page.text
    )
    assert "Le règlement est enregistré." in text(cash) and "13,50" in text(cash)
    assert "03/11/2026" in text(cash)
    # a partly paid invoice is not cancelled; an unpaid one is, by a credit note
    refused = await post_form(
        web,
        f"/ccas-castres/admin/facturation/factures/{first}/annulation",
        {"reason": "erreur"},
        page=page.text,
    )
    assert refused.status_code == 400 and "remboursez-la d'abord" in text(refused)
    page = await web.get(f"/ccas-castres/admin/facturation/factures/{second}", headers=FR)
    asked = await post_form(
        web,
        f"/ccas-castres/admin/facturation/factures/{second}/annulation",
        {"reason": "erreur de tarif"},
        page=page.text,
    )
    # one click asks first, saying what will happen; nothing is cancelled yet
    assert "Annuler la facture 9" in text(asked) and "« erreur de tarif »" in text(asked)
    assert "8,53" in text(asked) and "ne peut pas être défaite" in text(asked)
    still = text(await web.get(f"/ccas-castres/admin/facturation/factures/{second}", headers=FR))
    assert "annulée" not in still.lower()
    cancelled = await post_form(
        web,
        f"/ccas-castres/admin/facturation/factures/{second}/annulation",
        {"reason": "erreur de tarif", "confirmation": "oui"},
        page=asked.text,
    )
    assert "La facture est annulée par l'avoir AV-" in text(cancelled)
    credit = await web.get(f"/ccas-castres/admin/facturation/factures/{second}/avoir")
    assert credit.status_code == 200 and credit.content.startswith(b"%PDF")
    export = await web.get(
        "/ccas-castres/admin/facturation/paiements.csv?du=01/11/2026&au=30/11/2026"
    )
    lines = export.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "date;regie;facture;destinataire;montant;mode;reference"
    assert f"2026-11-02;seniors;{number};Madame {username.upper()};10,50;cheque;CHQ 1234" in lines
    # no reference given: none exported (it was the agent's email)
    assert f"2026-11-03;seniors;{number};Madame {username.upper()};1,00;especes;" in lines
    # any two dates, from the billing page; a wrong one is said next to its field
    billing = await web.get("/ccas-castres/admin/facturation/", headers=FR)
    assert 'action="/ccas-castres/admin/facturation/paiements.csv"' in billing.text
    one_day = await web.get(
        "/ccas-castres/admin/facturation/paiements.csv?du=03/11/2026&au=03/11/2026"
    )
    assert len(one_day.content.decode("utf-8-sig").splitlines()) >= 2
    assert all(line.startswith("2026-11-03") for line in one_day.text.splitlines()[1:])
    for query, kept, message in (
        ("du=&au=30/11/2026", 'value="30/11/2026"', "Ce champ est obligatoire."),
        ("du=32/11/2026&au=30/11/2026", 'value="32/11/2026"', "Date invalide"),
        ("du=30/11/2026&au=01/11/2026", 'value="01/11/2026"', "La date de fin doit venir après"),
    ):
        wrong = await web.get(f"/ccas-castres/admin/facturation/paiements.csv?{query}", headers=FR)
        assert wrong.status_code == 400 and message in text(wrong), query
        assert "text/html" in wrong.headers["content-type"]
        assert kept in wrong.text  # what was typed is kept
    # the citizen sees the payment and the cancellation
    web.cookies.clear()
    from tests.support.accounts import STRONG, login

    await login(web, "ccas-castres", username, STRONG)
    invoices = text(await web.get("/ccas-castres/mon-espace/factures/", headers=FR))
    assert "13,50" in invoices


async def test_billing_runs_and_api_tokens_from_the_screens(web, backend):
    await signed_in_staff(web, backend.settings, role="administrateur")
    page = await web.get("/ccas-castres/admin/facturation/", headers=FR)
    bad = await post_form(
        web,
        "/ccas-castres/admin/facturation/",
        {"ledger": "seniors", "period": "2026-13"},
        page=page.text,
    )
    assert bad.status_code == 400 and "Il n'y a pas de mois 13 : le mois va de 1 à 12" in text(bad)
    assert 'value="2026-13"' in bad.text  # kept as typed
    for typed, said in (
        ("13/2020", "Il n'y a pas de mois 13"),
        ("0/2026", "Il n'y a pas de mois 0"),
        ("bientôt", "Le mois, par exemple 10/2026 ou octobre 2026."),
    ):
        wrong = await post_form(
            web, "/ccas-castres/admin/facturation/", {"ledger": "seniors", "period": typed}
        )
        assert wrong.status_code == 400 and said in text(wrong), typed
    for typo in ("1900-01", "2099-01"):
        far = await post_form(
            web, "/ccas-castres/admin/facturation/", {"ledger": "seniors", "period": typo}
        )
        assert far.status_code == 400 and "Choisissez un mois entre 2000 et" in text(far), typo
    runs_before = await count_rows(backend, "billing_run")
    asked = await post_form(
        web,
        "/ccas-castres/admin/facturation/",
        {"ledger": "seniors", "period": "2018-01"},
        page=page.text,
    )
    assert "Lancer la facturation de janvier 2018 ?" in text(asked)
    assert "« FACTURATION SERVICE SÉNIORS »" in text(asked)
    assert await count_rows(backend, "billing_run") == runs_before  # asked, not launched
    launched = await post_form(
        web,
        "/ccas-castres/admin/facturation/",
        {"ledger": "seniors", "period": "2018-01", "confirmation": "oui"},
        page=asked.text,
    )
    assert "La facturation de janvier 2018 est lancée" in text(launched)
    assert await count_rows(backend, "billing_run") == runs_before + 1
    # no worker here: the run waits, and the page says to reload it to follow it
    assert "Rechargez la page pour voir l'avancement" in text(launched)
    waiting = await set_waiting_runs_status(backend, "done")
    try:  # every run ended: nothing more to follow
        ended = await web.get("/ccas-castres/admin/facturation/", headers=FR)
        assert "terminée" in text(ended) and "Rechargez la page" not in text(ended)
    finally:
        await set_waiting_runs_status(backend, "queued", waiting)
    tokens = await web.get("/ccas-castres/admin/facturation/jetons", headers=FR)
    form_id = re.search(r'name="form_id" value="([\w-]+)"', tokens.text).group(1)
    tokens_before = await count_rows(backend, "api_token")
    created = await post_form(
        web,
        "/ccas-castres/admin/facturation/jetons",
        {"token_name": "Logiciel test", "form_id": form_id},
        page=tokens.text,
    )
    token = re.search(r"<code class=\"access-key\">(gch_[\w-]+)</code>", created.text).group(1)
    # the page refreshed (the same form sent again): no second token, and it says why
    again = await post_form(
        web,
        "/ccas-castres/admin/facturation/jetons",
        {"token_name": "Logiciel test", "form_id": form_id},
        page=tokens.text,
    )
    assert "Ce jeton est déjà créé et n'est plus affiché" in text(again)
    assert "gch_" not in again.text
    assert await count_rows(backend, "api_token") == tokens_before + 1
    api = await web.post(
        "/api/v1/ccas-castres/invoices",
        json={"invoices": []},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert api.status_code in (200, 201), api.text
    token_id = re.search(r"/jetons/([0-9a-f-]{36})/revoquer", created.text).group(1)
    revoke = f"/ccas-castres/admin/facturation/jetons/{token_id}/revoquer"
    # its row says it is in use, then « révoqué le … »
    row = re.search(r"<tr><td>Logiciel test</td>.*?</tr>", created.text, re.S).group(0)
    assert "actif" in unescape(row) and "révoqué" not in unescape(row)
    asked = await post_form(web, revoke, {}, page=created.text)
    assert "Révoquer le jeton « Logiciel test » ?" in text(asked)
    api = await web.post(
        "/api/v1/ccas-castres/invoices",
        json={"invoices": []},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert api.status_code in (200, 201), api.text  # asked, not revoked
    revoked = await post_form(web, revoke, {"confirmation": "oui"}, page=asked.text)
    assert "est révoqué" in text(revoked)
    api = await web.post(
        "/api/v1/ccas-castres/invoices",
        json={"invoices": []},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert api.status_code == 401


async def test_the_print_file_of_a_run_is_downloaded_by_volume_from_the_billing_page(web, backend):
    from tests.support.billing import run_with_print_file

    volumes = [b"%PDF-1.4 volume one\n%%EOF\n", b"%PDF-1.4 volume two\n%%EOF\n"]
    run_id = await run_with_print_file(backend.settings, "ccas-castres", volumes)
    single = await run_with_print_file(backend.settings, "ccas-castres", [b"%PDF-1.4 seul\n"])
    await signed_in_staff(web, backend.settings, role="regisseur")
    page = await web.get("/ccas-castres/admin/facturation/", headers=FR)
    base = f"/ccas-castres/admin/facturation/lancements/{run_id}/courrier"
    assert f'href="{base}/1"' in page.text and f'href="{base}/2"' in page.text
    assert "Volume 2 (PDF)" in text(page) and "Courrier à imprimer" in text(page)
    assert f"/lancements/{single}/courrier/1" in page.text and "Courrier (PDF)" in text(page)
    for number, data in enumerate(volumes, start=1):
        response = await web.get(f"{base}/{number}", headers=FR)
        assert response.status_code == 200 and response.content == data
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["cache-control"] == "no-store"
        assert f"-{number}.pdf" in response.headers["content-disposition"]
    for missing in (0, 3):
        assert (await web.get(f"{base}/{missing}", headers=FR)).status_code == 404
    web.cookies.clear()
    await signed_in_staff(web, backend.settings, role="agent")  # no billing permission
    refused = await web.get(f"{base}/1", headers=FR)
    assert refused.status_code == 403
    # the role is named as the reason, not an expired form
    shown = text(refused)
    assert "Votre rôle ne permet pas" in shown and "formulaire a expiré" not in shown
    # the way back is the agents' space, where this agent's work is, not the citizens' home
    assert 'href="/ccas-castres/agents/connexion"' in refused.text
    back = await web.get("/ccas-castres/agents/connexion", headers=FR, follow_redirects=True)
    assert str(back.url).endswith("/ccas-castres/agents/demandes/")
    web.cookies.clear()
    await signed_in_staff(web, backend.settings, slug="mairie-valdoree", role="administrateur")
    other = f"/mairie-valdoree/admin/facturation/lancements/{run_id}/courrier/1"
    assert (await web.get(other, headers=FR)).status_code == 404


async def test_operator_exports_then_deletes_a_tenant_in_two_steps(web, backend):
    import io
    import json
    import zipfile

    slug, admin = await onboarded(web, backend)
    page = await web.get(f"/{slug}/admin/services", headers=FR)
    await post_form(
        web, f"/{slug}/admin/services", {"name": "Enfance", "code": "enfance"}, page=page.text
    )
    web.cookies.clear()
    await operator_login(web, *await new_operator(backend.settings))
    page = await web.get(f"/operator/collectivites/{slug}/suppression", headers=FR)
    assert "Exportez d'abord les données" in text(page)
    refused = await post_form(
        web, f"/operator/collectivites/{slug}/suppression", {"confirm_slug": slug}, page=page.text
    )
    assert refused.status_code == 400
    tenant_page = await web.get(f"/operator/collectivites/{slug}", headers=FR)
    exported = await post_form(
        web, f"/operator/collectivites/{slug}/export", {}, page=tenant_page.text
    )
    assert "est prête" in text(exported)
    link = re.search(
        rf'href="(/operator/collectivites/{slug}/exports/[\w.-]+\.zip)"', exported.text
    ).group(1)
    archive = zipfile.ZipFile(io.BytesIO((await web.get(link)).content))
    assert json.loads(archive.read("tenant.json"))["slug"] == slug
    services = [json.loads(line) for line in archive.read("tables/service.jsonl").splitlines()]
    assert [s["code"] for s in services] == ["enfance"]
    staff = archive.read("tables/staff_user.jsonl").decode()
    assert admin in staff and "password_hash" not in staff and "totp_secret" not in staff
    assert "tables/outbox_message.jsonl" not in archive.namelist()
    assert (await web.get(f"/operator/collectivites/{slug}/exports/..%2Fx.zip")).status_code == 404
    page = await web.get(f"/operator/collectivites/{slug}/suppression", headers=FR)
    wrong = await post_form(
        web,
        f"/operator/collectivites/{slug}/suppression",
        {"confirm_slug": "autre"},
        page=page.text,
    )
    assert wrong.status_code == 400 and "Recopiez exactement" in text(wrong)
    # files no row names (a stop left them): deleted with the tenant; another tenant's stay
    from guichet.files import create_file_store
    from guichet.tenancy.models import Tenant

    db = Database(backend.settings)
    try:
        async with db.session(all_tenants=True) as session:
            ids = dict((await session.execute(select(Tenant.slug, Tenant.id))).all())
    finally:
        await db.dispose()
    files = create_file_store(backend.settings)
    own = [
        f"tenants/{ids[slug]}/billing/{unique('l')}/2020-02/courrier-77000001-0a1b2c.pdf",
        f"tenants/{ids[slug]}/invoices/{unique('i')}.pdf",
        f"tenants/{slug}/logo-0123456789abcdef.svg",
    ]
    others = [f"tenants/{ids['ccas-castres']}/billing/{unique('l')}/2020-02/courrier-1-0a.pdf"]
    for key in own + others:
        files.put(key, b"%PDF-1.7 left by a stop")
    deleted = await post_form(
        web, f"/operator/collectivites/{slug}/suppression", {"confirm_slug": slug}, page=page.text
    )
    assert "est supprimée" in text(deleted)
    assert [files.exists(key) for key in own + others] == [False, False, False, True]
    files.delete(others[0])
    assert [key for key, _ in files.listing(f"exports/{slug}/")]  # its archive stays
    assert (await web.get(f"/{slug}/", headers=FR)).status_code == 404
    db = Database(backend.settings)
    try:
        async with db.session(all_tenants=True) as session:
            lines = (
                (await session.execute(select(AuditEvent.action).where(AuditEvent.target == slug)))
                .scalars()
                .all()
            )
            assert "tenant.deleted" in lines and "tenant.onboarded" in lines  # the log stays
    finally:
        await db.dispose()
    health = text(await web.get("/operator/sante", headers=FR))
    assert "database" in health and "répond" in health


async def test_ledger_options_are_kept_encrypted_never_shown_and_tested(web, backend):
    from guichet.billing.crypto import decrypt_options
    from guichet.billing.models import Ledger

    slug, _admin = await onboarded(web, backend)
    db = Database(backend.settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            from guichet.tenancy.models import Service, Tenant

            tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
            service = Service(tenant_id=tenant.id, code="seniors", name="Seniors")
            session.add(service)
            await session.flush()
            session.add(
                Ledger(tenant_id=tenant.id, code="regie", name="Régie", service_id=service.id)
            )
        url = f"/{slug}/admin/facturation/regies/regie"
        page = await web.get(url, headers=FR)
        # the bank's options named in French, with the bank's own code as a hint
        shown = unescape(page.text)
        assert "Mode de capture (IMMEDIATE ou AUTHOR_CAPTURE)" in shown
        assert "Nom dans la documentation de la banque : <code>capture_mode</code>" in shown
        assert "Capture Mode" not in page.text and "Client number" not in page.text
        form = {
            "name": "FACTURATION SERVICE SÉNIORS",
            "merchant_label": "CCAS TEST VADS",
            "backend": "paybox",
            "online_payment": "oui",
            "min_amount": "1,00",
            "max_amount": "500,00",
            "option-paybox-site": "1999888",
            "option-paybox-rang": "32",
            "option-paybox-identifiant": "107904482",
            "option-paybox-shared_secret": "0123456789ABCDEF0123456789ABCDEF",
        }
        bad = await post_form(web, url, {**form, "max_amount": "0,50"}, page=page.text)
        assert bad.status_code == 400 and "au moins le minimum" in text(bad)
        saved = await post_form(web, url, form, page=page.text)
        assert "La régie est enregistrée." in text(saved)
        assert "0123456789ABCDEF" not in saved.text and "enregistré" in text(saved)
        # an empty field keeps what is stored
        await post_form(web, url, {**form, "option-paybox-shared_secret": ""}, page=saved.text)
        async with db.session(all_tenants=True) as session:
            ledger = await session.scalar(
                select(Ledger).where(Ledger.code == "regie", Ledger.tenant_id == tenant.id)
            )
            assert "0123456789ABCDEF" not in ledger.backend_options
            options = decrypt_options(backend.settings.web.secret_key, ledger.backend_options)
            assert options["shared_secret"] == "0123456789ABCDEF0123456789ABCDEF"
            assert ledger.max_amount_cents == 50000 and ledger.backend == "paybox"
        tested = await post_form(web, f"{url}/test", {}, page=saved.text)
        assert tested.status_code == 200
        assert "La banque accepte la configuration" in text(tested), text(tested)[:3000]
        journal = text(await web.get(f"/{slug}/admin/journal", headers=FR))
        assert "billing.ledger_changed" in journal and "0123456789ABCDEF" not in journal
    finally:
        await db.dispose()


async def test_ledger_options_under_an_older_secret_key_are_asked_again(web, backend):
    """GUICHET_SECRET_KEY changed: the ledger's page says its bank options must be entered
    again (it answered 500), and entering them makes them readable."""
    from guichet.billing.crypto import decrypt_options, encrypt_options
    from guichet.billing.models import Ledger

    slug, _admin = await onboarded(web, backend)
    db = Database(backend.settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            from guichet.tenancy.models import Service, Tenant

            tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
            service = Service(tenant_id=tenant.id, code="seniors", name="Seniors")
            session.add(service)
            await session.flush()
            old = encrypt_options("an-older-secret-key-0123456789-0123456789", {"site": "1"})
            session.add(
                Ledger(
                    tenant_id=tenant.id,
                    code="ancienne",
                    name="Régie",
                    service_id=service.id,
                    backend="paybox",
                    backend_options=old,
                )
            )
        url = f"/{slug}/admin/facturation/regies/ancienne"
        page = await web.get(url, headers=FR)
        assert page.status_code == 200
        assert "ne peuvent pas être lus avec la clé secrète actuelle" in text(page)
        form = {
            "name": "Régie",
            "merchant_label": "CCAS TEST VADS",
            "backend": "paybox",
            "min_amount": "1,00",
            "max_amount": "500,00",
            "option-paybox-site": "1999888",
        }
        saved = await post_form(web, url, form, page=page.text)
        assert "La régie est enregistrée." in text(saved)
        assert "ne peuvent pas être lus" not in text(saved)
        async with db.session(all_tenants=True) as session:
            ledger = await session.scalar(
                select(Ledger).where(Ledger.code == "ancienne", Ledger.tenant_id == tenant.id)
            )
            stored = decrypt_options(backend.settings.web.secret_key, ledger.backend_options)
            assert stored == {"site": "1999888"}
    finally:
        await db.dispose()


async def test_files_imported_from_csv_get_letters_and_emails(web, backend):
    slug, _admin = await onboarded(web, backend)
    page = await web.get(f"/{slug}/admin/services", headers=FR)
    service = await post_form(
        web, f"/{slug}/admin/services", {"name": "Action sociale", "code": "as"}, page=page.text
    )
    url = f"/{slug}/admin/services/as/import"

    async def send(content: bytes):
        return await web.post(
            url,
            data={"_csrf_token": csrf(service.text)},
            files={"file": ("dossiers.csv", content, "text/csv")},
            headers=FR,
        )

    bad = await send(
        b"reference;holder_name;email\nAS-1;Madame UN;un@exemple.fr\n;Madame DEUX;\n"
        b"AS-3;Madame TROIS;pas-un-courriel\nAS-1;Doublon;\n"
    )
    assert bad.status_code == 400
    report = text(bad)
    assert "Ligne 3" in report and "Ligne 4" in report and "Ligne 5" in report
    assert "Ligne 3 : le numéro de dossier manque" in report  # it ended after a colon
    nothing = await web.post(url, data={"_csrf_token": csrf(service.text)}, headers=FR)
    assert nothing.status_code == 400
    assert "Choisissez le fichier CSV à importer." in text(nothing)
    assert "aucune ligne de dossier" not in text(nothing)
    assert "AS-1" not in report.split("Importer des dossiers")[0]  # nothing imported
    good = await send(
        "\ufeffreference;holder_name;email;postal_address\r\n"
        "AS-1;Madame UN Odile;un@exemple.fr;\r\n"
        "AS-2;Monsieur DEUX Jean;;4 rue Émile Zola | 81100 CASTRES\r\n".encode()
    )
    page = text(good)
    assert "2 dossiers importés" in page and "2 clés à remettre" in page
    letters = await web.get(f"/{slug}/admin/services/as/lettres")
    assert letters.status_code == 200 and letters.content.startswith(b"%PDF")
    import io

    from pypdf import PdfReader

    pdf = PdfReader(io.BytesIO(letters.content))
    assert len(pdf.pages) == 2
    assert "Madame UN Odile" in pdf.pages[0].extract_text()
    # the address goes under the name, where an envelope's window shows it
    second_letter = pdf.pages[1].extract_text()
    assert "Monsieur DEUX Jean\n4 rue Émile Zola\n81100 CASTRES" in second_letter
    assert "4 rue Émile Zola, 81100 CASTRES" in text(good)
    assert "sans adresse postale" in text(good)  # AS-1 has none
    # AS-1's address added later, on its own page; a too long one is said and kept
    edit = re.search(rf'href="(/{slug}/admin/services/as/[0-9a-f-]{{36}}/modifier)"', good.text)
    page = await web.get(edit.group(1), headers=FR)
    assert "Dossier AS-1" in text(page) and 'value="Madame UN Odile"' in page.text
    assert "Les lignes sous le nom, 5 au plus" in text(page)  # the limit said before typing
    long_one = "\n".join(f"ligne {n}" for n in range(7))
    refused = await post_form(
        web,
        edit.group(1),
        {"holder_name": "Madame UN Odile", "email": "un@exemple.fr", "postal_address": long_one},
        page=page.text,
    )
    assert refused.status_code == 400 and "5 lignes et 300 caractères au plus" in text(refused)
    assert "ligne 6" in refused.text
    saved = await post_form(
        web,
        edit.group(1),
        {
            "holder_name": "Madame UN Odile",
            "email": "un@exemple.fr",
            "postal_address": "Résidence du Parc\r\n  1 allée des Tilleuls  \r\n\r\n81100 CASTRES",
        },
        page=page.text,
    )
    assert "Le dossier AS-1 est enregistré." in text(saved)
    assert "Résidence du Parc, 1 allée des Tilleuls, 81100 CASTRES" in text(saved)
    # the service renamed (its code stays); a name is needed
    rename = f"/{slug}/admin/services/as/nom"
    nameless = await post_form(web, rename, {"name": " ", "description": "Aides"}, page=saved.text)
    assert nameless.status_code == 400 and "Ce champ est obligatoire." in text(nameless)
    assert 'value="Aides"' in nameless.text
    renamed = await post_form(
        web, rename, {"name": "Action sociale et solidarités", "description": ""}, page=saved.text
    )
    assert "Le service est enregistré." in text(renamed)
    assert "<h1>Action sociale et solidarités</h1>" in text(renamed)
    assert str(renamed.url).endswith(f"/{slug}/admin/services/as")
    asked = await post_form(web, f"/{slug}/admin/services/as/courriels", {}, page=good.text)
    assert "Envoyer les clés par courriel ?" in text(asked)
    assert "La clé d'accès va être envoyée à 1 dossier qui a une adresse" in text(asked)
    assert not await outbox(backend.settings, slug, "un@exemple.fr", "access_key")
    sent = await post_form(
        web, f"/{slug}/admin/services/as/courriels", {"confirmation": "oui"}, page=asked.text
    )
    assert "1 courriel envoyé." in text(sent)
    [mail] = await outbox(backend.settings, slug, "un@exemple.fr", "access_key")
    key = re.search(r"\b([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})\b", mail.text_body).group(1)
    web.cookies.clear()
    username = unique()
    response = await wizard(
        web, slug, username=username, email=f"{username}@exemple.fr", keys={"as": key}
    )
    assert "Votre espace est créé" in text(response)


async def test_help_and_legal_pages_can_be_rewritten_and_reset(web, backend):
    slug, _admin = await onboarded(web, backend)
    listing = text(await web.get(f"/{slug}/admin/pages", headers=FR))
    assert "Mentions légales" in listing and "texte par défaut" in listing
    url = f"/{slug}/admin/pages/page.mentions-legales/fr"
    page = await web.get(url, headers=FR)
    saved = await post_form(
        web, url, {"body": "## Éditeur\n\nLe CCAS de Test, 1 place de la Mairie."}, page=page.text
    )
    assert "La page est enregistrée." in text(saved)
    public = text(await web.get(f"/{slug}/mentions-legales", headers=FR))
    assert "Le CCAS de Test, 1 place de la Mairie." in public
    reset = await post_form(web, url, {"action": "defaut"}, page=saved.text)
    assert "texte par défaut" in text(reset)
    assert "1 place de la Mairie" not in text(
        await web.get(f"/{slug}/mentions-legales", headers=FR)
    )
    # the leaflet too, and its PDF follows the new text
    listing = text(await web.get(f"/{slug}/admin/pages", headers=FR))
    assert "Dépliant explicatif" in listing
    url = f"/{slug}/admin/pages/page.depliant/fr"
    page = await web.get(url, headers=FR)
    await post_form(web, url, {"body": "## Notre dépliant\n\nPermanence le mardi."}, page=page.text)
    assert "Permanence le mardi." in text(await web.get(f"/{slug}/depliant", headers=FR))
    import io

    from pypdf import PdfReader

    leaflet = await web.get(f"/{slug}/depliant.pdf", headers=FR)
    assert "Permanence le mardi." in PdfReader(io.BytesIO(leaflet.content)).pages[0].extract_text()
    assert (await web.get(f"/{slug}/admin/pages/page.inconnue/fr", headers=FR)).status_code == 404
    assert (await web.get(f"/{slug}/admin/pages/page.contacts/de", headers=FR)).status_code == 404


async def test_a_procedure_made_on_screen_is_offered_to_citizens(web, backend):
    slug, _admin = await onboarded(web, backend)
    page = await web.get(f"/{slug}/admin/demarches/", headers=FR)
    created = await post_form(
        web,
        f"/{slug}/admin/demarches/",
        {"title": "Inscription au colis de Noël", "code": "colis-noel"},
        page=page.text,
    )
    assert "La démarche est créée, hors ligne" in text(created)
    url = f"/{slug}/admin/demarches/colis-noel"
    general = {
        "title": "Inscription au colis de Noël",
        "description": "Un colis pour les **aînés**.",
        "processing_days": "5",
        "statuses": ["transmise", "acceptee", "refusee"],
        "active": "oui",
    }
    empty = await post_form(web, f"{url}/general", general, page=created.text)
    assert empty.status_code == 400 and "Ajoutez au moins un champ" in text(empty)
    bad = await post_form(
        web,
        f"{url}/champs",
        {"label": "Régime", "key": "Régime", "kind": "choice", "choices": "Normal"},
        page=created.text,
    )
    assert bad.status_code == 400
    assert "Lettres minuscules" in text(bad) and "Au moins deux choix différents" in text(bad)
    for field in (
        {
            "label": "Nom et prénom",
            "key": "nom",
            "kind": "text",
            "required": "oui",
            "prefill": "full_name",
        },
        {
            "label": "Colis",
            "key": "colis",
            "kind": "choice",
            "choices": "Sucré\nSalé",
            "required": "oui",
        },
        {
            "label": "Personnes",
            "key": "personnes",
            "kind": "number",
            "min": "1",
            "max": "4",
            "integer": "oui",
        },
    ):
        saved = await post_form(web, f"{url}/champs", field, page=created.text)
        assert "La démarche est enregistrée." in text(saved), text(saved)[:2000]
    wrong_prefill = await post_form(
        web,
        f"{url}/champs",
        {"label": "X", "key": "x", "kind": "date", "prefill": "email"},
        page=created.text,
    )
    assert wrong_prefill.status_code == 400 and "prérempli" in text(wrong_prefill)
    # what the catalog itself refuses is said in words, not by the value's path
    upside_down = await post_form(
        web,
        f"{url}/champs",
        {"label": "Âge", "key": "age", "kind": "number", "min": "90", "max": "60"},
        page=created.text,
    )
    assert upside_down.status_code == 400
    assert "Champ « Âge » — maximum : au moins le minimum" in text(upside_down)
    assert "procedures[0]" not in upside_down.text and "at least" not in upside_down.text
    moved = await post_form(web, f"{url}/champs/colis", {"action": "monter"}, page=created.text)
    assert text(moved).index("Colis") < text(moved).index("Nom et prénom")
    online = await post_form(web, f"{url}/general", general, page=created.text)
    assert "En ligne :" in text(online)
    # a citizen of that tenant sees and fills it
    web.cookies.clear()
    listing = text(await web.get(f"/{slug}/demarches/", headers=FR))
    assert "Inscription au colis de Noël" in listing
    form = text(await web.get(f"/{slug}/demarches/colis-noel", headers=FR))
    assert "Sucré" in form and "Personnes" in form
    refused = await post_form(
        web,
        f"/{slug}/demarches/colis-noel",
        {
            "_name": "A",
            "_email": "a@exemple.fr",
            "nom": "A",
            "colis": "Salé",
            "personnes": "9",
            "action": "continuer",
        },
    )
    assert refused.status_code == 400 and "au plus 4" in text(refused)


async def test_citizens_sensitive_actions_in_the_journal_and_captcha_setting(web, backend):
    from tests.support.accounts import new_citizen

    slug, _admin = await onboarded(web, backend)
    admin_cookies = dict(web.cookies)
    page = await web.get(f"/{slug}/admin/parametres", headers=FR)
    form = dict(SETTINGS_FORM)
    await post_form(web, f"/{slug}/admin/parametres", form, page=page.text)  # captcha unticked

    async def authentication_page(tenant: str) -> str:
        """The wizard walked up to its last step, as the wizard helper does."""
        web.cookies.clear()
        base = f"/{tenant}/creer-mon-espace"
        await post_form(web, base, {})
        await post_form(web, f"{base}/cgu", {"action": "next", "accept_terms": "yes"})
        await post_form(
            web,
            f"{base}/identite",
            {"action": "next", "civility": "Madame", "last_name": "Test", "first_names": "Anne"},
        )
        await post_form(web, f"{base}/adresse", {"action": "next"})
        await post_form(web, f"{base}/contact", {"action": "next", "email": "anne.test@exemple.fr"})
        page = await web.get(f"{base}/authentification", headers=FR)
        assert str(page.url).endswith("/authentification"), page.url
        return page.text

    assert 'name="captcha_id"' not in await authentication_page(slug)
    assert 'name="captcha_id"' in await authentication_page("ccas-castres")
    web.cookies.clear()
    username, _mail = await new_citizen(web, backend.settings, slug=slug)
    web.cookies.clear()
    web.cookies.update(admin_cookies)
    journal = text(await web.get(f"/{slug}/admin/journal?source=habitants", headers=FR))
    assert "citizen.login" in journal and username in journal
    assert "citizen.activated" in journal
    assert "Connexion" in journal and "Activation de l'espace" in journal


async def test_operator_onboards_from_a_tenant_toml(web, backend):
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    source = (root / "tenants" / "mairie-valdoree" / "tenant.toml").read_text()
    slug = unique("mairie-")
    toml = source.replace('slug = "mairie-valdoree"', f'slug = "{slug}"')
    logo = (root / "tenants" / "mairie-valdoree" / "logo.svg").read_bytes()
    web.cookies.clear()
    await operator_login(web, *await new_operator(backend.settings))
    page = await web.get("/operator/collectivites/nouvelle", headers=FR)

    async def upload(content: str, with_logo: bool = True):
        files = {"tenant_toml": ("tenant.toml", content.encode(), "text/plain")}
        if with_logo:
            files["logo"] = ("logo.svg", logo, "image/svg+xml")
        return await web.post(
            "/operator/collectivites/fichier",
            data={
                "_csrf_token": csrf(page.text),
                "file_admin_name": "Léa ADMIN",
                "file_admin_email": "lea@exemple.fr",
            },
            files=files,
            headers=FR,
        )

    broken = await upload(toml.replace('on_accent = "#ffffff"', 'on_accent = "#ff9966"'))
    assert broken.status_code == 400 and "branding.on_accent" in text(broken)
    assert 'id="f-file_admin_email"' in broken.text and 'value="lea@exemple.fr"' in broken.text
    # the two forms have ids of their own; an error of one is said under its own field only
    ids = re.findall(r' id="(f-[\w-]+)"', broken.text)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    no_name = await web.post(
        "/operator/collectivites/fichier",
        data={"_csrf_token": csrf(page.text), "file_admin_email": "lea@exemple.fr"},
        files={"tenant_toml": ("tenant.toml", toml.encode(), "text/plain")},
        headers=FR,
    )
    assert no_name.status_code == 400
    assert 'href="#f-file_admin_name"' in no_name.text and "#f-admin_name" not in no_name.text
    no_logo = await upload(toml, with_logo=False)
    assert no_logo.status_code == 400 and "branding.logo" in text(no_logo)
    created = await upload(toml)
    assert "est créée" in text(created), text(created)[:3000]
    home = text(await web.get(f"/{slug}/", headers=FR))
    assert "Val-Dorée" in home
    [invitation] = await outbox(backend.settings, slug, "lea@exemple.fr", "staff_invitation")
    assert "comme administrateur" in invitation.text_body
    again = await upload(toml)
    assert again.status_code == 400 and "déjà prise" in text(again)


async def test_second_review_fixes(web, backend):
    from tests.support.accounts import new_citizen
    from tests.support.billing import invoice_for

    # maintenance set by an administrator does not lock the staff out
    slug, _admin = await onboarded(web, backend)
    page = await web.get(f"/{slug}/admin/parametres", headers=FR)
    form = {**SETTINGS_FORM, "captcha": "oui", "maintenance_message": "Retour à 14 h."}
    await post_form(
        web, f"/{slug}/admin/parametres", {**form, "maintenance": "oui"}, page=page.text
    )
    admin_cookies = dict(web.cookies)
    web.cookies.clear()
    assert (await web.get(f"/{slug}/", headers=FR)).status_code == 503
    web.cookies.update(admin_cookies)
    page = await web.get(f"/{slug}/admin/parametres", headers=FR)
    assert page.status_code == 200
    await post_form(web, f"/{slug}/admin/parametres", form, page=page.text)
    assert (await web.get(f"/{slug}/", headers=FR)).status_code == 200
    # NaN limits and a broken CSV are refused, not a 500
    page = await web.get(f"/{slug}/admin/demarches/", headers=FR)
    await post_form(web, f"/{slug}/admin/demarches/", {"title": "T", "code": "t"}, page=page.text)
    nan = await post_form(
        web,
        f"/{slug}/admin/demarches/t/champs",
        {"label": "N", "key": "n", "kind": "number", "min": "nan"},
        page=page.text,
    )
    assert nan.status_code == 400
    page = await web.get(f"/{slug}/admin/services", headers=FR)
    await post_form(web, f"/{slug}/admin/services", {"name": "S", "code": "s"}, page=page.text)
    broken = await web.post(
        f"/{slug}/admin/services/s/import",
        data={"_csrf_token": csrf(page.text)},
        files={"file": ("x.csv", b'reference;holder_name\nA;"' + b"x" * 20000, "text/csv")},
        headers=FR,
    )
    assert broken.status_code == 400 and "mal formé" in text(broken)
    # a counter payment sent twice is recorded once; formulas stay text in the CSV
    web.cookies.clear()
    username, _mail = await new_citizen(web, backend.settings)
    invoice = await invoice_for(backend.settings, "ccas-castres", username, cents=2000)
    web.cookies.clear()
    await signed_in_staff(web, backend.settings, role="regisseur")
    page = await web.get(f"/ccas-castres/admin/facturation/factures/{invoice}", headers=FR)
    once = re.search(r'name="once" value="([0-9a-f]{32})"', page.text).group(1)
    data = {
        "amount": "5,00",
        "paid_on": "03/11/2026",
        "method": "cheque",
        "reference": "=1+1",
        "once": once,
    }
    url = f"/ccas-castres/admin/facturation/factures/{invoice}/reglement"
    first = await post_form(web, url, data, page=page.text)
    second = await post_form(web, url, data, page=page.text)
    assert "Le règlement est enregistré." in text(first)
    assert "Ce règlement est déjà enregistré." in text(second)
    assert "15,00" in text(second)  # 20,00 less one payment of 5,00
    export = await web.get(
        "/ccas-castres/admin/facturation/paiements.csv?du=03/11/2026&au=03/11/2026"
    )
    assert ";'=1+1" in export.content.decode("utf-8-sig")
    # a far date is no 500: it is refused next to its field (it was clamped to 2100 silently)
    far = await web.get("/ccas-castres/admin/facturation/paiements.csv?au=31/12/9999", headers=FR)
    assert far.status_code == 400 and "Date invalide" in text(far)


async def test_new_pages_in_english(web, backend):
    EN = {"Accept-Language": "en-GB,en;q=0.9"}
    await web.get("/ccas-castres/langue/en", headers=EN)
    listing = await web.get("/ccas-castres/demarches/", headers=EN)
    assert listing.status_code == 200 and "Online procedures" in listing.text
    form = await web.get("/ccas-castres/demarches/registre-canicule", headers=EN)
    assert form.status_code == 200 and "Check before sending" in form.text
    track = await web.get("/ccas-castres/demarches/suivi", headers=EN)
    assert "Follow a request" in track.text
    await signed_in_staff(web, backend.settings, role="administrateur")
    await web.get("/ccas-castres/langue/en", headers=EN)
    for path, expected in (
        ("/admin/", "Administration"),
        ("/admin/apparence", "Appearance"),
        ("/admin/contenus", "Content"),
        ("/admin/parametres", "Settings"),
        ("/admin/services", "Services and access keys"),
        ("/admin/habitants/", "Residents"),
        ("/admin/facturation/", "Billing"),
        ("/admin/demarches/portage-repas", "Form fields"),
        ("/admin/pages", "Help and legal pages"),
        ("/admin/journal", "Audit log"),
        ("/agents/demandes/", "Requests to handle"),
    ):
        response = await web.get(f"/ccas-castres{path}", headers=EN)
        assert response.status_code == 200 and expected in unescape(response.text), path


async def test_an_administrator_resets_a_locked_out_members_access(web, backend):
    email, password, _secret = await new_staff(backend.settings, name="Perdu TÉLÉPHONE")
    # the member is signed in elsewhere: that session ends with the reset
    landing = await staff_login(web, "ccas-castres", email, password, _secret)
    assert "/agents/demandes/" in str(landing.url)
    elsewhere = dict(web.cookies)
    web.cookies.clear()
    await signed_in_staff(web, backend.settings, role="administrateur")
    page = await web.get("/ccas-castres/admin/agents", headers=FR)
    member_id = await staff_id(backend, email)
    asked = await post_form(
        web, f"/ccas-castres/admin/agents/{member_id}", {"action": "reinitialiser"}, page=page.text
    )
    # one click only asks: nothing is changed or sent yet
    assert "Réinitialiser l'accès de Perdu TÉLÉPHONE" in text(asked)
    assert "Ne rien faire et revenir à la page précédente" in text(asked)
    assert f"Elle reçoit à {email} un lien, valable 7 jours" in text(asked)
    assert not await outbox(backend.settings, "ccas-castres", email, "staff_access_reset")
    assert await status_with(web, elsewhere, "/ccas-castres/agents/demandes/") == 200
    done = await post_form(
        web,
        f"/ccas-castres/admin/agents/{member_id}",
        {"action": "reinitialiser", "confirmation": "oui"},
        page=asked.text,
    )
    assert f"un lien pour choisir un nouveau mot de passe est envoyé à {email}" in text(done)
    assert "double authentification à activer" not in text(done)  # no password yet
    assert await status_with(web, elsewhere, "/ccas-castres/agents/demandes/") == 303
    [lost] = await outbox(backend.settings, "ccas-castres", email, "staff_access_reset")
    # the link lost: the administrator sends another, and the first one stops working
    page = await web.get("/ccas-castres/admin/agents", headers=FR)
    assert "Renvoyer le lien" in text(page)
    again = await post_form(
        web, f"/ccas-castres/admin/agents/{member_id}", {"action": "renvoyer"}, page=page.text
    )
    assert f"Un nouveau lien est envoyé à {email}." in text(again)
    lost_link = await web.get(link_path(lost, backend.settings.web.public_url), headers=FR)
    assert lost_link.status_code == 404 and "Ce lien ne sert plus" in text(lost_link)
    assert "demandez un nouveau lien" in text(lost_link)
    _lost, mail = await outbox(backend.settings, "ccas-castres", email, "staff_access_reset")
    assert "votre ancien mot de passe et votre double authentification ne fonctionnent plus" in (
        mail.text_body
    )
    # not the citizens' help line: a staff member asks their administrator
    assert "Besoin d'aide ?" not in mail.text_body and "Besoin d'aide ?" not in mail.html_body
    # the old password opens nothing
    web.cookies.clear()
    refused = await post_form(
        web, "/ccas-castres/agents/connexion", {"email": email, "password": password}
    )
    assert refused.status_code == 400
    path = link_path(mail, backend.settings.web.public_url)
    chosen = await web.get(path, headers=FR)
    assert "votre accès a été réinitialisé" in text(chosen)
    new = "Nouveau-Passe-2027"
    enrol = await post_form(
        web, path, {"password": new, "password_confirmation": new}, page=chosen.text
    )
    assert "Double authentification" in text(enrol), text(enrol)[:2000]
    secret = re.search(r'class="totp-key">([A-Z2-7 ]+)<', enrol.text).group(1).replace(" ", "")
    assert secret != _secret
    signed = await post_form(
        web,
        "/ccas-castres/agents/double-authentification",
        {"code": pyotp.TOTP(secret).now()},
        page=enrol.text,
    )
    assert "/ccas-castres/agents/demandes/" in str(signed.url), text(signed)[:2000]
    assert (await web.get(path, headers=FR)).status_code == 404  # the link is spent
    actions = await audit_actions(backend, email)
    assert "staff.access_reset" in actions and "staff.password_reset" in actions
    assert "staff.invitation_accepted" not in actions  # a member of old, not a newcomer


async def test_a_staff_member_who_forgot_their_password_still_needs_their_code(web, backend):
    email, password, secret = await new_staff(backend.settings, name="Oubli MOTDEPASSE")
    web.cookies.clear()
    login = await web.get("/ccas-castres/agents/connexion", headers=FR)
    assert 'href="/ccas-castres/agents/mot-de-passe-oublie"' in login.text
    empty = await post_form(web, "/ccas-castres/agents/mot-de-passe-oublie", {"email": ""})
    assert empty.status_code == 400 and "Indiquez l'adresse de courriel" in text(empty)
    bad = await post_form(web, "/ccas-castres/agents/mot-de-passe-oublie", {"email": "oubli@"})
    assert bad.status_code == 400 and "Adresse de courriel invalide" in text(bad)
    assert 'value="oubli@"' in bad.text  # what was typed is kept
    unknown = await post_form(
        web, "/ccas-castres/agents/mot-de-passe-oublie", {"email": "personne@exemple.fr"}
    )
    sent = await post_form(web, "/ccas-castres/agents/mot-de-passe-oublie", {"email": email})
    # the same answer whether or not the address is a member's
    assert "Si cette adresse est celle d'un membre de l'équipe" in text(unknown)
    assert text(unknown) == text(sent).replace(email, "personne@exemple.fr")
    assert not await outbox(backend.settings, "ccas-castres", "personne@exemple.fr")
    # a member who never enrolled a second factor gets no link: the mailbox alone would do
    other, _password, _secret = await new_staff(backend.settings, name="Jamais ENRÔLÉ")
    db = Database(backend.settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            unenrolled = await session.scalar(select(StaffUser).where(StaffUser.email == other))
            unenrolled.totp_secret = ""
    finally:
        await db.dispose()
    await post_form(web, "/ccas-castres/agents/mot-de-passe-oublie", {"email": other})
    assert not await outbox(backend.settings, "ccas-castres", other, "staff_password_reset")
    [mail] = await outbox(backend.settings, "ccas-castres", email, "staff_password_reset")
    assert "valable 60 minutes" in mail.text_body
    path = link_path(mail, backend.settings.web.public_url)
    # the link is this tenant's only
    assert (await web.get(path.replace("ccas-castres", "mairie-valdoree"))).status_code == 404
    # until the link is used, the password is unchanged (asking opens nothing to whoever asks)
    still = await staff_login(web, "ccas-castres", email, password, secret)
    assert "/agents/demandes/" in str(still.url)
    web.cookies.clear()
    page = await web.get(path, headers=FR)
    assert "choisissez un nouveau mot de passe pour" in text(page)
    new = "Souvenir-Neuf-2027"
    code_page = await post_form(
        web, path, {"password": new, "password_confirmation": new}, page=page.text
    )
    # the password is changed but nobody is signed in before the second factor
    assert str(code_page.url).endswith("/ccas-castres/agents/connexion/code")
    assert "Votre mot de passe est changé" in text(code_page)
    assert "Code de vérification" in text(code_page) and "Me déconnecter" not in text(code_page)
    signed = await post_form(
        web,
        "/ccas-castres/agents/connexion/code",
        # the current code served to sign in above: the next one (a code serves once)
        {"code": pyotp.TOTP(secret).at(time.time() + 30)},
        page=code_page.text,
    )
    assert "/ccas-castres/agents/demandes/" in str(signed.url), text(signed)[:2000]
    assert (await web.get(path, headers=FR)).status_code == 404  # spent
    web.cookies.clear()
    old = await post_form(
        web, "/ccas-castres/agents/connexion", {"email": email, "password": password}
    )
    assert old.status_code == 400
    actions = await audit_actions(backend, email)
    assert "staff.password_reset_asked" in actions and "staff.password_reset" in actions


async def status_with(web, cookies, path):
    """The status of ``path`` for the browser whose cookies are ``cookies``."""
    mine = dict(web.cookies)
    web.cookies.clear()
    web.cookies.update(cookies)
    try:
        response = await web.get(path, headers=FR, follow_redirects=False)
    finally:
        web.cookies.clear()
        web.cookies.update(mine)
    return response.status_code


async def staff_id(backend, email):
    db = Database(backend.settings)
    try:
        async with db.session(all_tenants=True) as session:
            return await session.scalar(select(StaffUser.id).where(StaffUser.email == email))
    finally:
        await db.dispose()


async def audit_actions(backend, target_or_actor):
    db = Database(backend.settings)
    try:
        async with db.session(all_tenants=True) as session:
            rows = await session.execute(
                select(AuditEvent.action).where(
                    (AuditEvent.target == target_or_actor)
                    | AuditEvent.actor_name.contains(target_or_actor)
                )
            )
            return {action for (action,) in rows}
    finally:
        await db.dispose()


async def set_waiting_runs_status(backend, status, ids=None):
    """Sets the status of the billing runs waiting or running (or of ``ids``); returns their ids."""
    db = Database(backend.settings)
    try:
        async with db.session(all_tenants=True) as session:
            if ids is None:
                rows = await session.execute(
                    sql("SELECT id FROM billing_run WHERE status IN ('queued', 'running')")
                )
                ids = [row[0] for row in rows]
            for run_id in ids:
                await session.execute(
                    sql("UPDATE billing_run SET status = :status WHERE id = :id"),
                    {"status": status, "id": run_id},
                )
            await session.commit()
            return ids
    finally:
        await db.dispose()


async def count_rows(backend, table):
    db = Database(backend.settings)
    try:
        async with db.session(all_tenants=True) as session:
            return await session.scalar(sql(f"SELECT count(*) FROM {table}"))
    finally:
        await db.dispose()


async def test_a_new_access_key_is_asked_for_first(web, backend):
    from tests.security.test_secrets_in_logs import _new_file

    account_id = await _new_file(backend.settings)
    await signed_in_staff(web, backend.settings, role="administrateur")
    service = "/ccas-castres/admin/services/action-sociale"
    page = await web.get(service, headers=FR)
    new_key = f"{service}/{account_id}/nouvelle-cle"
    assert new_key in page.text

    async def digest():
        db = Database(backend.settings)
        try:
            async with db.session(all_tenants=True) as session:
                return await session.scalar(
                    select(ServiceAccount.key_digest).where(ServiceAccount.id == account_id)
                )
        finally:
            await db.dispose()

    before = await digest()
    asked = await post_form(web, new_key, {}, page=page.text)
    assert "Nouvelle clé pour le dossier LOG-" in text(asked)
    assert "(Madame TEST) ne fonctionnera plus" in text(asked)
    assert await digest() == before  # asked, not changed: the key handed out still works
    renewed = await post_form(web, new_key, {"confirmation": "oui"}, page=asked.text)
    assert "L'ancienne ne fonctionne plus" in text(renewed)
    assert await digest() != before


async def test_the_money_still_due_is_shown_to_those_who_handle_billing_only(web, backend):
    for role, shown in (("agent", False), ("regisseur", True), ("administrateur", True)):
        web.cookies.clear()
        await signed_in_staff(web, backend.settings, role=role)
        dashboard = text(await web.get("/ccas-castres/admin/", headers=FR))
        assert "Espaces personnels" in dashboard, role
        assert ("Reste à encaisser" in dashboard) is shown, role


async def test_the_citizens_search_ignores_accents_and_case_and_has_no_wildcards(web, backend):
    from guichet.accounts.models import Citizen

    mark = "z" + "".join(chr(ord("a") + int(c, 16)) for c in unique("")[:8])  # letters only
    username = unique()
    created = await wizard(
        web,
        "ccas-castres",
        username=username,
        email=f"{username}@exemple.fr",
        identity={"civility": "Madame", "last_name": f"Lœuvré-{mark}", "first_names": "Anaïs"},
    )
    assert "Votre espace est créé" in text(created), text(created)[:3000]
    web.cookies.clear()
    await signed_in_staff(web, backend.settings, role="agent")

    async def found(query):
        page = text(await web.get(f"/ccas-castres/admin/habitants/?q={query}", headers=FR))
        return "1 espace trouvé" in page and username in page

    for query in (f"loeuvre-{mark}", f"LŒUVRÉ-{mark.upper()}", f"anais {mark}", f"ANAÏS {mark}"):
        assert await found(query), query
    assert not await found(f"anne {mark}")
    # % and _ are what they are, not "anything"
    for query in ("%", "_", "%25", f"{mark[:3]}%{mark[4:]}", f"{mark[:3]}_{mark[4:]}"):
        page = text(await web.get(f"/ccas-castres/admin/habitants/?q={query}", headers=FR))
        assert username not in page, query
    # a name changed later is found by its new form
    db = Database(backend.settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            citizen = await session.scalar(select(Citizen).where(Citizen.username == username))
            citizen.last_name = f"Bérénice-{mark}"
    finally:
        await db.dispose()
    assert await found(f"berenice-{mark}") and not await found(f"loeuvre-{mark}")


async def test_a_reset_ends_a_sign_in_left_half_done(web, backend):
    """Password typed, code not yet: an administrator's reset meanwhile ends that step too."""
    email, password, secret = await new_staff(backend.settings, name="Moitié CONNECTÉ")
    web.cookies.clear()
    halfway = await post_form(
        web, "/ccas-castres/agents/connexion", {"email": email, "password": password}
    )
    assert str(halfway.url).endswith("/agents/connexion/code")
    member_cookies = dict(web.cookies)
    web.cookies.clear()
    await signed_in_staff(web, backend.settings, role="administrateur")
    member_id = await staff_id(backend, email)
    page = await web.get("/ccas-castres/admin/agents", headers=FR)
    done = await post_form(
        web,
        f"/ccas-castres/admin/agents/{member_id}",
        {"action": "reinitialiser", "confirmation": "oui"},
        page=page.text,
    )
    assert "est réinitialisé" in text(done)
    web.cookies.clear()
    web.cookies.update(member_cookies)
    late = await post_form(
        web,
        "/ccas-castres/agents/connexion/code",
        {"code": pyotp.TOTP(secret).now()},
        page=halfway.text,
    )
    assert str(late.url).endswith("/ccas-castres/agents/connexion")
    assert "Le délai est passé" in text(late)


async def test_empty_sign_in_forms_say_what_is_missing_and_count_nothing(web, backend):
    """An empty submit said « mot de passe incorrect » and counted as a failed attempt (a
    tester's walk): the agents' and the operators' sign-in forms now ask for what is missing,
    as often as needed, and a first visit's « identifiez-vous » is a notice, not an error."""
    email, password, secret = await new_staff(backend.settings)
    operator_email, operator_password, operator_secret = await new_operator(backend.settings)
    asked = "Saisissez votre mot de passe."
    for _attempt in range(7):  # more than the attempts allowed before a wait
        staff = await post_form(
            web, "/ccas-castres/agents/connexion", {"email": email, "password": ""}
        )
        operator = await post_form(
            web, "/operator/connexion", {"email": operator_email, "password": ""}
        )
        for response in (staff, operator):
            assert response.status_code == 400 and asked in text(response)
            assert "incorrect" not in text(response)
            assert f'value="{email if response is staff else operator_email}"' in response.text
    nothing = await post_form(web, "/operator/connexion", {"email": "", "password": ""})
    assert "Saisissez votre adresse de courriel et votre mot de passe." in text(nothing)
    no_email = await post_form(web, "/ccas-castres/agents/connexion", {"password": "x"})
    assert "Saisissez votre adresse de courriel." in text(no_email)
    # the second factor too: an empty code is asked for, not « Code incorrect », not counted
    pending = await post_form(
        web, "/ccas-castres/agents/connexion", {"email": email, "password": password}
    )
    assert str(pending.url).endswith("/agents/connexion/code")
    for _attempt in range(7):
        no_code = await post_form(
            web, "/ccas-castres/agents/connexion/code", {"code": " "}, page=pending.text
        )
        assert no_code.status_code == 400
        assert "Saisissez le code à six chiffres que montre l'application." in text(no_code)
    landing = await post_form(
        web,
        "/ccas-castres/agents/connexion/code",
        {"code": pyotp.TOTP(secret).now()},
        page=pending.text,
    )
    assert "/agents/connexion" not in str(landing.url), text(landing)[:500]
    landing = await operator_login(web, operator_email, operator_password, operator_secret)
    assert str(landing.url).endswith("/operator/"), text(landing)[:500]
    web.cookies.clear()
    for protected in ("/ccas-castres/admin/", "/operator/"):
        page = await web.get(protected, headers=FR)
        assert "connexion" in str(page.url)
        assert 'class="notice notice-info"' in page.text and "Identifiez-vous" in text(page)


async def test_an_operator_enrolling_reads_about_the_operators_space(web, backend):
    from guichet.accounts.passwords import hash_password
    from guichet.staff.models import Operator
    from tests.support.staff import PASSWORD

    email = f"operateur-{unique()}@exemple.fr"
    db = Database(backend.settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            session.add(
                Operator(
                    email=email, name="Opératrice NEUVE", password_hash=hash_password(PASSWORD)
                )
            )
    finally:
        await db.dispose()
    page = await post_form(web, "/operator/connexion", {"email": email, "password": PASSWORD})
    assert str(page.url).endswith("/operator/double-authentification")
    assert "L'espace des opérateurs donne accès aux données de toutes les collectivités" in text(
        page
    )
    assert "espace agents" not in text(page)


async def test_a_logo_chosen_before_a_preview_or_a_mistake_is_kept(web, backend):
    """A file input comes back empty with the page: the logo chosen before « Prévisualiser »
    or before a mistake elsewhere in the form was lost at « Enregistrer » (a tester's walk).
    It is kept in the store, shown as « Logo choisi », and saved with the rest."""
    slug, _admin = await onboarded(web, backend)
    page = await web.get(f"/{slug}/admin/apparence", headers=FR)
    form = {
        "_csrf_token": csrf(page.text),
        "name": "CCAS de Test",
        "short_name": "",
        "tagline": "",
        "theme": "default",
        "logo_alt": "CCAS de Test",
        "primary_color": "#0b5d1e",
        "on_primary_color": "#777777",  # under 4.5:1: refused
        "accent_color": "#8a2b06",
        "on_accent_color": "#ffffff",
    }
    refused = await web.post(
        f"/{slug}/admin/apparence",
        data=form,
        files={"logo": ("logo.png", PNG, "image/png")},
        headers=FR,
    )
    assert refused.status_code == 400 and "Contraste de" in text(refused)
    kept = re.search(r'name="pending_logo" value="(logo-[0-9a-f]{16}\.png)"', refused.text)
    assert kept and 'alt="Logo choisi"' in refused.text
    form.update(on_primary_color="#ffffff", pending_logo=kept.group(1), action="apercu")
    preview = await web.post(f"/{slug}/admin/apparence", data=form, headers=FR)
    assert "Aperçu (non enregistré)" in text(preview) and kept.group(1) in preview.text
    # a name that is not a logo's is ignored, never read from the store
    form.update(action="enregistrer", pending_logo="../../secrets.png")
    ignored = await web.post(f"/{slug}/admin/apparence", data=form, headers=FR)
    assert "L'apparence du portail est enregistrée." in text(ignored)
    assert (await web.get(f"/{slug}/logo")).status_code == 404
    form.update(pending_logo=kept.group(1))
    saved = await web.post(f"/{slug}/admin/apparence", data=form, headers=FR)
    assert "L'apparence du portail est enregistrée." in text(saved)
    home = await web.get(f"/{slug}/", headers=FR)
    logo = await web.get(re.search(rf'src="(/{slug}/logo\?v=\w+)"', home.text).group(1))
    assert logo.content == PNG
