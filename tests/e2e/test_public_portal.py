"""The public pages in real Chromium: axe-core finds no violation in either theme, and the login
form is usable with the keyboard alone."""

import pytest
from axe_playwright_python.sync_playwright import Axe

pytestmark = pytest.mark.e2e

TENANTS = ["ccas-castres", "mairie-valdoree"]  # default theme, horizon theme
PAGES = [
    "/",
    "/aide",
    "/cgu",
    "/mentions-legales",
    "/contacts",
    "/accessibilite",
    "/donnees-personnelles",
    "/page-inexistante",
]

_axe = Axe()


def _violations(page):
    results = _axe.run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(n["target"][0] for n in v["nodes"][:3])
        for v in results.response["violations"]
    ]


@pytest.mark.parametrize("slug", TENANTS)
@pytest.mark.parametrize("path", PAGES)
def test_public_page_has_no_axe_violation(live_server, page, slug, path):
    response = page.goto(f"{live_server}/{slug}{path}")
    assert response.status == (404 if path == "/page-inexistante" else 200)
    assert page.locator("html").get_attribute("lang") == "fr"
    assert _violations(page) == []


def test_platform_pages_have_no_axe_violation(live_server, page):
    for path in ("/", "/inconnu/"):
        page.goto(f"{live_server}{path}")
        assert _violations(page) == []


@pytest.mark.parametrize("slug", TENANTS)
def test_english_pages_have_no_axe_violation(live_server, browser, slug):
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.goto(f"{live_server}/{slug}/")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="MY PERSONAL SPACE").is_visible()
    assert _violations(page) == []
    context.close()


@pytest.mark.parametrize("slug", TENANTS)
def test_login_form_is_reachable_by_keyboard_alone(live_server, page, slug):
    page.goto(f"{live_server}/{slug}/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")  # "Aller au contenu"
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "login-identifiant":
            break
    assert page.evaluate("document.activeElement.id") == "login-identifiant"
    page.keyboard.type("calquier")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "login-mot-de-passe"
    page.keyboard.type("motdepasse1")
    page.keyboard.press("Tab")
    assert (
        page.evaluate("document.activeElement.textContent.trim()") == "J'ai oublié mon mot de passe"
    )
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Connexion"
    # Focus is visible: the focused button has an outline.
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/{slug}/connexion")
    # Unknown credentials: one generic message, what was typed kept, focus order unchanged.
    assert (
        page.get_by_role("alert").inner_text().strip() == "Identifiant ou mot de passe incorrect."
    )
    assert page.get_by_label("Identifiant").input_value() == "calquier"


def test_labels_of_the_guide_are_usable_by_name(live_server, page):
    page.goto(f"{live_server}/ccas-castres/")
    page.get_by_label("Identifiant").fill("calquier")
    page.get_by_label("Mot de passe").fill("secret1")
    assert page.get_by_role("button", name="Connexion").is_visible()
    page.get_by_role("link", name="Créer mon espace").click()
    assert page.url.endswith("/ccas-castres/creer-mon-espace")


def test_language_switcher(live_server, page):
    page.goto(f"{live_server}/ccas-castres/aide")
    page.get_by_role("link", name="English").click()
    assert page.url.endswith("/ccas-castres/aide")
    assert page.locator("html").get_attribute("lang") == "en"
    page.goto(f"{live_server}/ccas-castres/")
    assert page.locator("html").get_attribute("lang") == "en"  # the choice is kept
    page.get_by_role("link", name="Français").click()
    assert page.locator("html").get_attribute("lang") == "fr"


def test_pages_work_without_javascript(live_server, browser):
    context = browser.new_context(java_script_enabled=False, locale="fr-FR")
    page = context.new_page()
    page.goto(f"{live_server}/ccas-castres/")
    assert page.get_by_role("heading", name="MON ESPACE PERSO").is_visible()
    page.get_by_role("link", name="AIDE", exact=True).click()
    assert page.get_by_role("heading", name="AIDE", exact=True).is_visible()
    context.close()


def test_a_double_click_sends_a_form_once(live_server, page):
    """Many of our users double-click: a sign-in sent twice counted two failed attempts, a
    captcha step sent twice answered that the check had expired. The browser now sends a form
    once; a while later (a slow line, a second try) it sends it again. Counted by a listener
    that runs after the page's own and keeps the browser from leaving the page."""
    page.goto(f"{live_server}/ccas-castres/")
    page.evaluate(
        """() => {
            window.sent = 0;
            window.addEventListener("submit", (event) => {
                if (!event.defaultPrevented) { window.sent += 1; }
                event.preventDefault();
            });
        }"""
    )
    page.get_by_role("button", name="Connexion").dblclick()
    page.get_by_role("button", name="Connexion").click()
    assert page.evaluate("window.sent") == 1
    page.wait_for_timeout(4500)
    page.get_by_role("button", name="Connexion").click()
    assert page.evaluate("window.sent") == 2
