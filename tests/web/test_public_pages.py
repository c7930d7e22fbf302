"""Every public page renders for both demo tenants, on both backends, branded and in French."""

import re
from html import unescape

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="session")

TENANTS = ["ccas-castres", "mairie-valdoree"]
PUBLIC_PAGES = [
    "/",
    "/aide",
    "/cgu",
    "/mentions-legales",
    "/contacts",
    "/accessibilite",
    "/donnees-personnelles",
    "/depliant",
]
FR = {"Accept-Language": "fr-FR,fr;q=0.9"}


@pytest.mark.parametrize("slug", TENANTS)
@pytest.mark.parametrize("page", PUBLIC_PAGES)
async def test_public_page_renders(client, slug, page):
    response = await client.get(f"/{slug}{page}", headers=FR)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<html lang="fr">' in html
    assert f'href="/{slug}/branding.css' in html
    assert "Mentions légales" in html and "Conditions générales d'utilisation" in html
    # CSP without inline script: the one script is forms.js (a form sent once per double
    # click), from the static files; the pages work without it (test_pages_work_without_
    # javascript, in Chromium with JavaScript off)
    scripts = re.findall(r"<script[^>]*>", html)
    assert len(scripts) == 1 and re.fullmatch(
        r'<script src="/static/[a-z]+/js/forms\.js\?v=[0-9a-f]+" defer>', scripts[0]
    ), scripts
    assert html.count("</script>") == 1 and "<script></script>" not in html
    served = await client.get(re.search(r'src="([^"]+)"', scripts[0]).group(1))
    assert served.status_code == 200 and "javascript" in served.headers["content-type"]


async def test_home_reproduces_the_guide(client):
    html = unescape((await client.get("/ccas-castres/", headers=FR)).text)
    for text in [
        "MON ESPACE PERSO",
        "Identifiant",
        "Mot de passe",
        "J'ai oublié mon mot de passe",
        "Connexion",
        "BIENVENUE SUR VOTRE ESPACE",
        "12 DÉCEMBRE 2019",
        "Payer directement en ligne",
        "Récupérer vos factures",
        "JE N'AI PAS D'ESPACE",
        "Créer mon espace",
        "Besoin d'aide ?",
        "05 63 71 56 13",
        "espace.seniors@ville-castres.fr",
        "Du lundi au vendredi : 8h-17h",
        "LES +",
        "Démarches simplifiées",
        "Accès 7j/7 et 24h/24",
        "Espace privé et sécurisé",
        "Espace de stockage des justificatifs",
        "Paiement en ligne",
        "Retour au site principal",
        "Contacts",
        "Accessibilité",
        "AIDE",
        "CCAS Castres",
        "Centre Communal d'Action Sociale",
        "Le Centre Communal d'Action Sociale de la ville de Castres vous propose",
    ]:
        assert text in html, text
    assert re.search(r"© 2018-\d{4} CCAS de Castres", html)


async def test_second_tenant_looks_different(client):
    castres = (await client.get("/ccas-castres/", headers=FR)).text
    valdoree = (await client.get("/mairie-valdoree/", headers=FR)).text
    assert "horizon.css" in valdoree and "horizon.css" not in castres
    assert "Mairie de Val-Dorée" in valdoree and "CCAS de Castres" not in valdoree
    css_a = (await client.get("/ccas-castres/branding.css")).text
    css_b = (await client.get("/mairie-valdoree/branding.css")).text
    assert "--brand-primary:#00607a" in css_a and "--brand-primary:#5b2a86" in css_b


async def test_help_has_the_six_sections_of_the_guide(client):
    html = unescape((await client.get("/ccas-castres/aide", headers=FR)).text)
    for title in [
        "GÉRER VOTRE ESPACE PERSONNEL",
        "SAISIR UNE DÉMARCHE EN DEHORS D'UN ESPACE PERSONNEL",
        "SAISIR UNE DÉMARCHE DANS VOTRE ESPACE PERSONNEL",
        "SUIVRE UNE DEMANDE",
        "GÉRER VOTRE TABLEAU DE BORD",
        "ACCÉDER AUX ESPACES PARTENAIRES",
    ]:
        assert html.count(title) >= 2, title  # in the table of contents and as a heading
    assert "Pourquoi se créer un espace personnel" in html


async def test_terms_page_shows_the_current_version(client):
    html = (await client.get("/ccas-castres/cgu", headers=FR)).text
    assert "PRÉAMBULE" in html and "OPPOSABILITÉ" in html and "Version 1" in html


async def test_accessibility_statement_names_the_tenant_contact(client):
    html = (await client.get("/ccas-castres/accessibilite", headers=FR)).text
    assert "RGAA" in html and "espace.seniors@ville-castres.fr" in html
    assert "{contact_email}" not in html


async def test_english_through_accept_language(client):
    response = await client.get("/ccas-castres/", headers={"Accept-Language": "en-GB,en"})
    assert '<html lang="en">' in response.text
    assert "MY PERSONAL SPACE" in response.text
    assert "December 12, 2019".upper() in response.text


async def test_language_choice_wins_and_is_kept_for_the_tenant_only(client):
    response = await client.get(
        "/ccas-castres/langue/en",
        params={"next_url": "/ccas-castres/aide"},
        headers=FR,
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/ccas-castres/aide"
    cookie = response.headers["set-cookie"]
    assert "guichet_locale=en" in cookie and "Path=/ccas-castres" in cookie
    html = (
        await client.get("/ccas-castres/aide", headers={**FR, "Cookie": "guichet_locale=en"})
    ).text
    assert '<html lang="en">' in html and "HELP" in html


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/mairie-valdoree/", "/\\evil.example"]
)
async def test_language_switch_never_redirects_elsewhere(client, target):
    response = await client.get(
        "/ccas-castres/langue/fr", params={"next_url": target}, follow_redirects=False
    )
    assert response.headers["location"] == "/ccas-castres/"


async def test_platform_landing_does_not_list_tenants(client):
    html = (await client.get("/", headers=FR)).text
    assert "ccas-castres" not in html and "CCAS de Castres" not in html
    assert "mairie-valdoree" not in html


async def test_unknown_tenant_is_a_platform_404(client):
    response = await client.get("/mairie-inconnue/", headers=FR)
    assert response.status_code == 404
    assert "Page introuvable" in response.text
    assert "branding.css" not in response.text  # the platform's page, no tenant revealed


async def test_unknown_page_of_a_tenant_is_a_branded_404(client):
    response = await client.get("/ccas-castres/nulle-part", headers=FR)
    assert response.status_code == 404
    assert "Page introuvable" in response.text and "/ccas-castres/branding.css" in response.text


async def test_logo_is_served_sandboxed(client):
    response = await client.get("/ccas-castres/logo")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert "sandbox" in response.headers["content-security-policy"]


async def test_static_files_are_cache_busted(client):
    html = (await client.get("/ccas-castres/", headers=FR)).text
    url = re.search(r'href="(/static/default/css/main\.css\?v=[0-9a-f]{12})"', html).group(1)
    response = await client.get(url)
    assert response.status_code == 200
    assert "immutable" in response.headers["cache-control"]
    assert (await client.get("/static/default/../../pyproject.toml")).status_code == 404
    assert (await client.get("/static/nope/css/main.css")).status_code == 404


async def test_platform_pages_follow_the_browser_language(client):
    english = await client.get("/", headers={"Accept-Language": "en-GB,en"})
    assert '<html lang="en">' in english.text
    missing = await client.get("/inconnu/", headers={"Accept-Language": "en"})
    assert missing.status_code == 404 and "Page not found" in missing.text


async def test_a_logo_missing_from_the_store_is_a_404_not_an_error(web, backend):
    page = (await web.get("/ccas-castres/")).text
    logo = re.search(r'src="/ccas-castres/logo\?v=[^"]*"', page)
    assert logo, "the demo tenant shows its logo"
    stored = [p for p in backend.settings.files_dir.glob("tenants/ccas-castres/logo-*")]
    assert stored
    moved = [p.rename(p.with_name(p.name + ".away")) for p in stored]
    try:
        response = await web.get("/ccas-castres/logo")
        assert response.status_code == 404
    finally:
        for path in moved:
            path.rename(path.with_name(path.name.removesuffix(".away")))
    assert (await web.get("/ccas-castres/logo")).status_code == 200


async def test_the_tenant_is_named_with_its_article_in_french(client):
    """« Contactez le CCAS de Castres », « la Mairie de Val-Dorée »; in English, the name."""

    def text(response):
        return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.text)).split())

    castres = text(await client.get("/ccas-castres/mot-de-passe-oublie", headers=FR))
    assert "Contactez le CCAS de Castres" in castres
    valdoree = text(await client.get("/mairie-valdoree/mot-de-passe-oublie", headers=FR))
    assert "Contactez la Mairie de Val-Dorée" in valdoree
    english = text(
        await client.get("/mairie-valdoree/mot-de-passe-oublie", headers={"Accept-Language": "en"})
    )
    assert "Contact Mairie de Val-Dorée" in english


async def test_the_guides_leaflet_is_one_click_from_the_home_page_and_prints(client, backend):
    """« Besoin d'aide ? retrouvez le dépliant explicatif en cliquant ici » (guide, home page):
    a page in the tenant's words and colours, and the same as an A4 PDF to print."""
    import io

    from pypdf import PdfReader

    home = await client.get("/ccas-castres/", headers=FR)
    assert 'href="/ccas-castres/depliant">Retrouvez le dépliant explicatif</a>' in home.text
    page = unescape((await client.get("/ccas-castres/depliant", headers=FR)).text)
    assert "Sur le portail du CCAS de Castres" in page and "05 63 71 56 13" in page
    assert 'href="/ccas-castres/depliant.pdf"' in page
    first = await client.get("/ccas-castres/depliant.pdf", headers=FR)
    assert first.status_code == 200 and first.headers["content-type"] == "application/pdf"
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(first.content)).pages)
    assert "Votre espace personnel" in text and "Créer votre espace : 4 étapes" in text
    assert "05 63 71 56 13" in text
    # rendered once and kept in the file store, not at each visit
    again = await client.get("/ccas-castres/depliant.pdf", headers=FR)
    assert again.content == first.content
    from sqlalchemy import select

    from guichet.db.session import Database
    from guichet.files import create_file_store
    from guichet.tenancy.models import Tenant

    db = Database(backend.settings)
    try:
        async with db.session(all_tenants=True) as session:
            tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == "ccas-castres"))
    finally:
        await db.dispose()
    kept = [
        key
        for key, _when in create_file_store(backend.settings).listing(f"tenants/{tenant_id}/")
        if "/depliant-fr-" in key
    ]
    store = create_file_store(backend.settings)
    assert any(store.get(key) == first.content for key in kept), kept
    # each tenant's own
    other = unescape((await client.get("/mairie-valdoree/depliant", headers=FR)).text)
    assert "Val-Dorée" in other and "CCAS de Castres" not in other
    other_pdf = await client.get("/mairie-valdoree/depliant.pdf", headers=FR)
    other_text = PdfReader(io.BytesIO(other_pdf.content)).pages[0].extract_text()
    assert "Val-Dorée" in other_text and "Castres" not in other_text


@pytest.mark.parametrize(
    ("slug", "says"),
    [
        (
            "ccas-castres",
            [
                "Ce service en ligne est édité par le CCAS de Castres.",
                "Le directeur de la publication est le président ou la présidente du CCAS de "
                "Castres.",
                "appartiennent au CCAS de Castres ou",
            ],
        ),
        (
            "mairie-valdoree",
            [
                "Ce service en ligne est édité par la Mairie de Val-Dorée.",
                "Le directeur de la publication est le maire ou la maire.",
                "appartiennent à la Mairie de Val-Dorée ou",
            ],
        ),
    ],
)
async def test_legal_pages_name_the_tenant_as_french_does(client, slug, says):
    """« édité par le CCAS de Castres », not « par CCAS de Castres »; a commune's publication
    director is its mayor, not « le président ou la présidente de Mairie de … »."""
    page = unescape((await client.get(f"/{slug}/mentions-legales", headers=FR)).text)
    for sentence in says:
        assert sentence in page, sentence
    contacts = unescape((await client.get(f"/{slug}/contacts", headers=FR)).text)
    assert "contactez le CCAS de Castres" in contacts or "contactez la Mairie" in contacts
