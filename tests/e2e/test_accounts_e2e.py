"""The citizen account journeys of the guide (§2-3) in real Chromium: the creation wizard, the
captcha (images, audio, keyboard), the activation email, login, logout and the forgotten
password, in both themes. Emails are delivered from the outbox as a worker would, then read from
the ``.eml`` files of the embedded default."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import (
    CASTRES,
    VALDOREE,
    accept_terms,
    activate,
    assert_no_axe_violation,
    click,
    create_account,
    expect_created,
    expect_step,
    fill_address,
    fill_credentials,
    fill_identity,
    link_in,
    log_in,
    main_text,
    reach_authentication,
    start_wizard,
    the_email,
    unique,
    validate,
)

pytestmark = pytest.mark.e2e


def test_guide_journey_creation_activation_login_logout(live_server, page, sqlite_backend):
    slug = CASTRES
    username = unique("calquier")
    password = "jardin-bleu-42"
    mail = f"{username}@exemple.fr"

    page.goto(f"{live_server}/{slug}/")
    page.get_by_role("link", name="Créer mon espace").click()
    expect(page).to_have_url(f"{live_server}/{slug}/creer-mon-espace")
    expect(page.get_by_role("heading", name="BONJOUR ET BIENVENUE")).to_be_visible()
    assert_no_axe_violation(page)
    click(page, "JE CRÉE MON ESPACE")

    # CGU: SUIVANT without the box is refused, and the page stays on the CGU step.
    expect_step(page, live_server, slug, "cgu")
    assert_no_axe_violation(page)
    click(page, "SUIVANT")
    expect_step(page, live_server, slug, "cgu")
    checkbox = page.get_by_label("J'accepte les conditions générales d'utilisation")
    expect(page.locator("#e-accept_terms")).to_contain_text(
        "Vous devez accepter les conditions générales d'utilisation"
    )
    expect(checkbox).to_have_attribute("aria-invalid", "true")
    expect(checkbox).not_to_be_checked()
    assert_no_axe_violation(page)
    checkbox.check()
    click(page, "SUIVANT")

    # IDENTITÉ: empty first (error state), then the guide's values.
    expect_step(page, live_server, slug, "identite")
    assert_no_axe_violation(page)
    click(page, "SUIVANT")
    expect_step(page, live_server, slug, "identite")
    expect(page.locator("#e-last_name")).to_contain_text("obligatoire")
    assert_no_axe_violation(page)
    fill_identity(page)
    page.get_by_label("Date de naissance").fill("1948-03-21")
    page.get_by_label("Département de naissance").select_option("81")
    page.get_by_label("Commune de naissance").fill("Castres")
    click(page, "SUIVANT")

    # ADRESSE
    expect_step(page, live_server, slug, "adresse")
    assert_no_axe_violation(page)
    fill_address(page)
    click(page, "SUIVANT")

    # MOYENS DE CONTACT: PRÉCÉDENT goes back to ADRESSE with the typed values kept.
    expect_step(page, live_server, slug, "contact")
    assert_no_axe_violation(page)
    page.get_by_label("Courriel").fill(mail)
    page.get_by_label("Téléphone").fill("05 63 71 56 13")
    click(page, "PRÉCÉDENT")
    expect_step(page, live_server, slug, "adresse")
    expect(page.get_by_label("Numéro", exact=True)).to_have_value("12")
    expect(page.get_by_label("Complément du numéro")).to_have_value("bis")
    expect(page.get_by_label("Nom de la voie")).to_have_value("rue de la République")
    expect(page.get_by_label("Code postal")).to_have_value("81100")
    expect(page.get_by_label("Ville")).to_have_value("Castres")
    click(page, "SUIVANT")
    expect_step(page, live_server, slug, "contact")
    expect(page.get_by_label("Courriel")).to_have_value(mail)
    expect(page.get_by_label("Téléphone")).to_have_value("05 63 71 56 13")
    click(page, "SUIVANT")

    # AUTHENTIFICATION
    expect_step(page, live_server, slug, "authentification")
    assert_no_axe_violation(page)
    fill_credentials(page, username, password)
    page.get_by_label("Clé d'accès Action sociale").fill("CAST-RES8-1AS4")
    validate(page, live_server, slug)
    expect(page.get_by_role("status")).to_contain_text(mail)
    assert_no_axe_violation(page)

    # The activation email: both parts, and its link activates the space.
    message = the_email(sqlite_backend, mail, "activation")
    assert "Activez votre espace" in message["Subject"]
    assert message.get_body(preferencelist=("plain",)) is not None
    html = message.get_body(preferencelist=("html",))
    assert html is not None and "Activer mon espace" in html.get_content()
    page.goto(link_in(message, sqlite_backend, live_server))
    expect(page.get_by_role("heading", name="Activation de votre espace")).to_be_visible()
    assert_no_axe_violation(page)
    click(page, "Activer mon espace")
    expect(page).to_have_url(f"{live_server}/{slug}/")
    expect(page.get_by_role("status")).to_contain_text("Votre espace est activé")

    # Log in from the home page (guide §3), MON ACCUEIL, then log out.
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(password)
    click(page, "Connexion")
    expect(page).to_have_url(f"{live_server}/{slug}/mon-espace")
    expect(page.get_by_role("heading", name="MON ACCUEIL", exact=True)).to_be_visible()
    expect(page.get_by_text("Madame ALQUIER", exact=True)).to_be_visible()
    services = page.locator("section", has=page.get_by_role("heading", name="MON ESPACE"))
    expect(services).to_contain_text("Action sociale")
    click(page, "Se déconnecter")
    expect(page.get_by_role("heading", name="Vous êtes déconnecté")).to_be_visible()
    page.goto(f"{live_server}/{slug}/mon-espace")
    expect(page).to_have_url(f"{live_server}/{slug}/")
    expect(page.get_by_label("Identifiant")).to_be_visible()


def test_other_theme_stricter_password_policy(live_server, page, sqlite_backend):
    slug = VALDOREE
    username = unique("ldurand")
    mail = f"{username}@exemple.fr"
    reach_authentication(page, live_server, slug, mail, first="Léa", last="Durand")
    hint = page.locator("#h-password")
    expect(hint).to_contain_text("10 caractère(s)")
    expect(hint).to_contain_text("1 majuscule(s)")
    assert_no_axe_violation(page)

    # 12 characters with digits but no uppercase: refused, the message beside the field.
    fill_credentials(page, username, "tournesol-42")
    page.locator("label[for=captcha-0]").click()
    click(page, "VALIDER")
    expect_step(page, live_server, slug, "authentification")
    error = page.locator("#e-password")
    expect(error).to_contain_text("10 caractère(s)")
    expect(error).to_contain_text("1 majuscule(s)")
    password_field = page.get_by_label("* Mot de passe", exact=True)
    expect(password_field).to_have_attribute("aria-invalid", "true")
    assert "e-password" in (password_field.get_attribute("aria-describedby") or "")
    expect(page.get_by_label("Nom d'utilisateur")).to_have_value(username)
    assert_no_axe_violation(page)

    fill_credentials(page, username, "Tournesol-42")
    page.get_by_label("Clé d'accès Enfance").fill("VALD-OREE-0001")
    validate(page, live_server, slug)
    activate(page, sqlite_backend, live_server, slug, mail)
    log_in(page, live_server, slug, username, "Tournesol-42")
    expect(page.get_by_text("Madame DURAND", exact=True)).to_be_visible()
    services = page.locator("section", has=page.get_by_role("heading", name="MON ESPACE"))
    expect(services).to_contain_text("Enfance")
    click(page, "Se déconnecter")
    expect(page.get_by_role("heading", name="Vous êtes déconnecté")).to_be_visible()
    assert_no_axe_violation(page)


def test_audio_captcha_by_keyboard_alone(live_server, page, sqlite_backend):
    slug = CASTRES
    username = unique("clavier")
    mail = f"{username}@exemple.fr"
    reach_authentication(page, live_server, slug, mail)

    # The audio answers with a WAV file, in this browser's session.
    href = page.get_by_role("link", name="Écouter le code (fichier audio)").get_attribute("href")
    audio = page.request.get(f"{live_server}{href}")
    assert audio.status == 200
    assert audio.headers["content-type"] == "audio/wav"
    body = audio.body()
    assert len(body) > 44 and body[:4] == b"RIFF" and body[8:12] == b"WAVE"

    page.get_by_label("Nom d'utilisateur").focus()
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "f-password"
    page.keyboard.type("clavier-sonore-7")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "f-password_confirmation"
    page.keyboard.type("clavier-sonore-7")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "f-captcha_audio":
            break
    assert page.evaluate("document.activeElement.id") == "f-captcha_audio"
    page.keyboard.type("1234")
    # the guide's order: ANNULER, PRÉCÉDENT, VALIDER
    for expected in ("ANNULER", "PRÉCÉDENT", "VALIDER"):
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent.trim()") == expected
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    expect_created(page, live_server, slug)
    assert the_email(sqlite_backend, mail, "activation")["To"] == mail


def test_enter_in_code_field_validates_the_last_step(live_server, page):
    slug = CASTRES
    username = unique("entree")
    reach_authentication(page, live_server, slug, f"{username}@exemple.fr")
    fill_credentials(page, username, "touche-entree-5")
    code = page.get_by_label("Code entendu")
    code.fill("1234")
    default = "document.querySelector('form.wizard-form :default').textContent.trim()"
    assert page.evaluate(default) == "VALIDER"
    with page.expect_navigation():
        code.press("Enter")
    expect_created(page, live_server, slug)


def test_enter_in_a_field_goes_to_the_next_step(live_server, page):
    """On the other steps the default button (the first submit button) is SUIVANT."""
    slug = CASTRES
    start_wizard(page, live_server, slug)
    accept_terms(page, live_server, slug)
    default = "document.querySelector('form.wizard-form :default').textContent.trim()"
    assert page.evaluate(default) == "SUIVANT"
    fill_identity(page)
    page.get_by_label("Prénom(s)").press("Enter")
    expect_step(page, live_server, slug, "adresse")


def test_three_wrong_captcha_answers_ask_a_new_question(live_server, page):
    slug = CASTRES
    username = unique("captcha")
    reach_authentication(page, live_server, slug, f"{username}@exemple.fr")
    captcha_id = page.locator("input[name=captcha_id]")
    first_id = captcha_id.get_attribute("value")
    for attempt in range(3):
        fill_credentials(page, username, "mauvaise-image-3")
        page.get_by_label("Clé d'accès Action sociale").fill("CAST-RES8-1AS2")
        page.locator("label[for=captcha-1]").click()  # never the right one in test mode
        click(page, "VALIDER")
        expect_step(page, live_server, slug, "authentification")
        error = page.locator("#e-captcha")
        if attempt < 2:
            expect(error).to_contain_text("Mauvaise réponse")
            expect(captcha_id).to_have_value(first_id)
    expect(error).to_contain_text("a expiré ou a échoué trop de fois")
    expect(captcha_id).not_to_have_value(first_id)
    expect(page.get_by_label("Nom d'utilisateur")).to_have_value(username)
    expect(page.get_by_label("Clé d'accès Action sociale")).to_have_value("CAST-RES8-1AS2")
    expect(page.locator("input[name=captcha_choice]:checked")).to_have_count(0)
    assert_no_axe_violation(page)
    # The new question can be answered (without the key, left for other tests).
    fill_credentials(page, username, "mauvaise-image-3")
    page.get_by_label("Clé d'accès Action sociale").fill("")
    validate(page, live_server, slug)


def test_cancel_asks_for_confirmation_then_abandons(live_server, page):
    slug = CASTRES
    start_wizard(page, live_server, slug)
    accept_terms(page, live_server, slug)
    fill_identity(page, first="Paule", last="Rouquette")
    click(page, "SUIVANT")
    expect_step(page, live_server, slug, "adresse")
    page.get_by_label("Nom de la voie").fill("avenue Albert 1er")

    click(page, "ANNULER")
    expect(page).to_have_url(re.compile(r"/creer-mon-espace/abandon\?etape=adresse$"))
    expect(
        page.get_by_role("heading", name="Abandonner la création de votre espace ?")
    ).to_be_visible()
    assert_no_axe_violation(page)
    page.get_by_role("link", name="Non, continuer ma saisie").click()
    expect_step(page, live_server, slug, "adresse")
    expect(page.get_by_label("Nom de la voie")).to_have_value("avenue Albert 1er")
    click(page, "PRÉCÉDENT")
    expect_step(page, live_server, slug, "identite")
    expect(page.get_by_label("Nom usuel")).to_have_value("Rouquette")
    expect(page.get_by_label("Prénom(s)")).to_have_value("Paule")
    expect(page.get_by_label("Civilité")).to_have_value("Madame")

    click(page, "ANNULER")
    click(page, "Oui, abandonner")
    expect(page).to_have_url(f"{live_server}/{slug}/")
    expect(page.get_by_role("status")).to_contain_text(
        "La création de votre espace a été abandonnée"
    )
    page.goto(f"{live_server}/{slug}/creer-mon-espace/identite")
    expect(page).to_have_url(f"{live_server}/{slug}/creer-mon-espace")  # no wizard any more
    start_wizard(page, live_server, slug)
    expect(
        page.get_by_label("J'accepte les conditions générales d'utilisation")
    ).not_to_be_checked()
    accept_terms(page, live_server, slug)
    expect(page.get_by_label("Nom usuel")).to_have_value("")
    expect(page.get_by_label("Prénom(s)")).to_have_value("")
    expect(page.get_by_label("Civilité")).to_have_value("")


def test_taken_username_suggests_free_ones_and_is_free_in_the_other_tenant(
    live_server, page, sqlite_backend
):
    username = unique("prouquette")
    create_account(
        page,
        live_server,
        CASTRES,
        username,
        "violette-77",
        f"{username}@exemple.fr",
        first="Paule",
        last="Rouquette",
    )

    mail = f"{username}.bis@exemple.fr"
    reach_authentication(page, live_server, CASTRES, mail, first="Paule", last="Rouquette")
    fill_credentials(page, username.upper(), "violette-77")  # usernames ignore case
    page.locator("label[for=captcha-0]").click()
    click(page, "VALIDER")
    expect_step(page, live_server, CASTRES, "authentification")
    error = page.locator("#e-username")
    expect(error).to_contain_text("Ce nom d'utilisateur est déjà pris. Vous pouvez choisir :")
    suggestions = page.locator(".suggestions strong").all_inner_texts()
    assert 1 <= len(suggestions) <= 3 and username not in suggestions
    for suggestion in suggestions:
        assert suggestion in error.inner_text()
    assert_no_axe_violation(page)
    # A suggestion is free: the space is created with it.
    fill_credentials(page, suggestions[-1], "violette-77")
    validate(page, live_server, CASTRES)

    # The same username is free in the other tenant.
    other = f"{username}@val-doree.example.org"
    create_account(
        page, live_server, VALDOREE, username, "Violette-77", other, first="Paule", last="Rouquette"
    )
    activate(page, sqlite_backend, live_server, VALDOREE, other)
    log_in(page, live_server, VALDOREE, username, "Violette-77")
    expect(page.get_by_text("Madame ROUQUETTE", exact=True)).to_be_visible()


def test_suggested_username_for_an_accented_name_is_accepted(live_server, page):
    username = unique("calquier")
    create_account(page, live_server, CASTRES, username, "violette-77", f"{username}@exemple.fr")
    reach_authentication(page, live_server, CASTRES, f"{username}.2@exemple.fr")  # Cécile
    fill_credentials(page, username, "violette-77")
    page.locator("label[for=captcha-0]").click()
    click(page, "VALIDER")
    suggestions = page.locator(".suggestions strong").all_inner_texts()
    assert suggestions
    fill_credentials(page, suggestions[0], "violette-77")
    page.locator("label[for=captcha-0]").click()
    with page.expect_navigation():
        click(page, "VALIDER")
    expect(page.locator("#e-username")).to_have_count(0)
    expect_created(page, live_server, CASTRES)


@pytest.mark.parametrize("slug", [CASTRES, VALDOREE])
def test_forgotten_password(live_server, page, sqlite_backend, slug):
    username = unique("oubli")
    mail = f"{username}@exemple.fr"
    create_account(page, live_server, slug, username, "Premier-mot-1", mail)
    activate(page, sqlite_backend, live_server, slug, mail)

    def ask_reset(login: str) -> str:
        page.goto(f"{live_server}/{slug}/")
        page.get_by_role("link", name="J'ai oublié mon mot de passe").click()
        expect(page).to_have_url(f"{live_server}/{slug}/mot-de-passe-oublie")
        page.get_by_label("Nom d'utilisateur ou courriel").fill(login)
        click(page, "Recevoir le lien")
        expect(page.get_by_role("status")).to_contain_text("Si un espace correspond")
        return main_text(page)

    known = ask_reset(username)
    assert_no_axe_violation(page)
    unknown = ask_reset(unique("inconnu"))
    assert known == unknown

    link = link_in(the_email(sqlite_backend, mail, "password_reset"), sqlite_backend, live_server)
    page.goto(link)
    expect(page.get_by_role("heading", name="Nouveau mot de passe")).to_be_visible()
    new_password = page.get_by_label("Nouveau mot de passe")
    new_password.fill("court1")
    page.get_by_label("Confirmation du mot de passe").fill("court1")
    click(page, "Enregistrer")
    expect(page.locator("#e-password")).to_contain_text("au minimum")
    expect(new_password).to_have_attribute("aria-invalid", "true")
    assert_no_axe_violation(page)
    new_password.fill("Second-mot-22")
    page.get_by_label("Confirmation du mot de passe").fill("Second-mot-22")
    click(page, "Enregistrer")
    expect(page).to_have_url(f"{live_server}/{slug}/")
    expect(page.get_by_role("status")).to_contain_text("Votre mot de passe a été modifié")

    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill("Premier-mot-1")
    click(page, "Connexion")
    expect(page.get_by_role("alert")).to_contain_text("Identifiant ou mot de passe incorrect")
    log_in(page, live_server, slug, username, "Second-mot-22")

    page.goto(link)
    expect(page.get_by_role("status")).to_contain_text("Ce lien n'est plus valable")
    expect(page.get_by_label("Nouveau mot de passe")).to_have_count(0)


def test_signed_in_home_has_no_axe_violation(live_server, page, sqlite_backend):
    slug = CASTRES
    username = unique("axe")
    mail = f"{username}@exemple.fr"
    create_account(page, live_server, slug, username, "lecteur-ecran-9", mail)
    activate(page, sqlite_backend, live_server, slug, mail)
    log_in(page, live_server, slug, username, "lecteur-ecran-9")
    assert_no_axe_violation(page)
