"""Every page of both demo tenants (default and horizon themes), in French and in English, as a
visitor, a signed-in citizen and an administrator: axe-core finds no violation. The pages are
found by following links (tools/a11y_report.py, which also writes each tenant's report), and
every HTML page of the route table must have been reached — a page added later is covered, or
this test names it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import re
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import CHROMIUM
from tests.support.accounts import FR, csrf, new_citizen, post_form
from tests.support.billing import invoice_for
from tests.support.procedures import send_meal_request
from tests.support.staff import new_staff

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from a11y_report import audit, audit_with_own_browser, axe_checker, kind_of, markdown

pytestmark = pytest.mark.e2e

TENANTS = ["ccas-castres", "mairie-valdoree"]
# HTML pages of the route table no crawl reaches, with the reason.
NOT_CRAWLED = {
    "/{tenant_slug}/{rest}": "the catch-all 404 (checked in test_public_portal)",
    "/{tenant_slug}/activer/{token}": "a one-time emailed link (checked in test_accounts_e2e)",
    "/{tenant_slug}/reinitialiser/{token}": "a one-time emailed link",
    "/{tenant_slug}/confirmer-courriel/{token}": "a one-time emailed link",
    "/{tenant_slug}/agents/invitation/{token}": "a one-time emailed link (test_admin_e2e)",
    "/{tenant_slug}/agents/double-authentification": "first sign-in only (test_admin_e2e)",
    "/{tenant_slug}/agents/connexion/code": "reached while signing in, before the crawl",
    "/{tenant_slug}/cgu-a-accepter": "only when new terms wait for the citizen",
    "/{tenant_slug}/demarches/suivi/envoyee": "right after an anonymous request is sent",
    "/{tenant_slug}/demarches/suivi/{request_id}": "a request made without an account",
    "/{tenant_slug}/demarches/{code}/recapitulatif": "after a form is filled in",
    "/{tenant_slug}/creer-mon-espace/{slug}": "the wizard's later steps (test_accounts_e2e)",
    "/{tenant_slug}/mon-espace/factures/paiement/{reference}": "the return from the bank",
    "/{tenant_slug}/mon-espace/factures/paiement/{reference}/banque": (
        "after PAYER LA FACTURE (axe-checked in test_billing_e2e)"
    ),
    "/{tenant_slug}/admin/services/{code}/lettres": "a PDF",
    "/{tenant_slug}/mon-espace/photo": "an image",
}


def _prepare(settings, base: str, slug: str) -> tuple[tuple[str, str], tuple[str, str, str]]:
    """A citizen with one object of each kind the tenant has, and an administrator."""

    async def work() -> tuple[str, str]:
        async with httpx.AsyncClient(base_url=base, follow_redirects=True, timeout=30) as web:
            if slug == "ccas-castres":
                email, _path = await send_meal_request(web, type("B", (), {"settings": settings}))
                username = email.split("@")[0]
                await invoice_for(settings, slug, username)
            else:
                username, _email = await new_citizen(web, settings, slug=slug)
                page = (await web.get(f"/{slug}/demarches/repas-aines", headers=FR)).text
                await web.post(
                    f"/{slug}/demarches/repas-aines",
                    data={
                        "_csrf_token": csrf(page),
                        "nom": "Léa DURAND",
                        "accompagne": "Non",
                        "action": "continuer",
                    },
                    headers=FR,
                )
            await post_form(
                web,
                f"/{slug}/mon-espace/contacts/nouveau",
                {
                    "kind": "medecin",
                    "civility": "Monsieur",
                    "first_name": "Henri",
                    "last_name": "Bon",
                },
            )
            page = (await web.get(f"/{slug}/mon-espace/pieces/", headers=FR)).text
            await web.post(
                f"/{slug}/mon-espace/pieces/",
                headers=FR,
                data={"_csrf_token": csrf(page), "title": "Avis", "kind": "justificatif_domicile"},
                files={"file": ("avis.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")},
            )
            return username, "Tarn2castres81x"

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        citizen = pool.submit(asyncio.run, work()).result()
        staff = pool.submit(asyncio.run, new_staff(settings, slug, "administrateur")).result()
    return citizen, staff


def _html_routes(app) -> list[str]:
    found = []
    for route in app.routes:
        path = route.path_format
        if "GET" not in getattr(route, "methods", set()) or not path.startswith("/{tenant_slug}"):
            continue
        if re.search(
            r"(pdf|telecharger|lettre|export|\.csv|avoir|courrier/|recu/|accuse-reception|"
            r"pieces/\{attachment_id\}|langue|logo|captcha|branding\.css|apercu\.css|"
            r"paiement/retour)",
            path,
        ):
            continue  # files and redirects, not pages
        found.append(path)
    return found


def test_every_page_in_both_themes_and_languages_passes_axe(
    live_server, browser, sqlite_backend, tmp_path
):
    from guichet.app import create_app

    accounts = {slug: _prepare(sqlite_backend.settings, live_server, slug) for slug in TENANTS}
    first, *others = TENANTS
    # The other tenants are crawled by a Chromium of their own in another process, side by
    # side with the first (a third of the suite's time was this test, one page after another).
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(len(others), mp_context=spawn) as pool:
        running = {
            slug: pool.submit(
                audit_with_own_browser, CHROMIUM, live_server, slug, ["fr", "en"], *accounts[slug]
            )
            for slug in others
        }
        audited = {
            first: audit(browser, live_server, first, ["fr", "en"], *accounts[first], axe_checker())
        }
        audited |= {slug: future.result() for slug, future in running.items()}
    results = []
    for slug, checked in audited.items():
        (tmp_path / f"a11y-{slug}.md").write_text(markdown(slug, checked, {}), encoding="utf-8")
        results += checked

    failing = [f"{r.path} ({r.role}, {r.locale}): {r.violations}" for r in results if r.violations]
    assert not failing, "\n".join(failing)
    assert not [(r.path, r.status) for r in results if r.status >= 500]
    for slug in TENANTS:
        for locale in ("fr", "en"):
            roles = {r.role for r in results if r.locale == locale and f"/{slug}/" in r.path + "/"}
            assert roles == {"visitor", "citizen", "staff"}, (slug, locale, roles)

    visited = {re.sub(r"^/[a-z0-9-]+", "", kind_of(r.path)) for r in results}
    app = create_app(sqlite_backend.settings, configure_logs=False)
    missing = []
    for template in _html_routes(app):
        if template in NOT_CRAWLED:
            continue
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template.removeprefix("/{tenant_slug}"))
        if not any(re.fullmatch(pattern + "/?", page) for page in visited):
            missing.append(template)
    assert missing == [], missing
    assert len(results) > 100, len(results)
