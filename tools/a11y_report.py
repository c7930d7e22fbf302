"""Accessibility report of one tenant, for its Déclaration d'accessibilité.

    .venv/bin/python tools/a11y_report.py --url http://127.0.0.1:8000 --tenant ccas-castres \
        --citizen calquier:Castres-2020 \
        --staff "agent.demo@ccas-castres.example:Agent-Castres-2026:$DEMO_TOTP_SECRET" \
        --output var/a11y-ccas-castres.md

Crawls the tenant's pages in headless Chromium — as a visitor, as a signed-in citizen, as a
member of its staff — following the links of each page (one page per kind of address: the
first invoice stands for all invoices), in each of the tenant's languages, and runs axe-core
(WCAG 2.1 A and AA rules, those RGAA 4 relies on) on every page; then goes through each page
with the Tab key alone: every link and form control must be reached, with a visible focus
mark. The report lists the pages, the rules that failed and where. Automated rules cover part
of RGAA only: the declaration also needs a manual audit; this report is its starting point and
its regression check.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urljoin, urlsplit

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Links that are not pages to check: files, leaving, switching language, one-time actions.
SKIP = re.compile(
    r"(/deconnexion|/pdf$|/telecharger$|/lettre$|/lettres$|/export$|\.csv$|/avoir$|/courrier/|"
    r"/recu/|/accuse-reception$|/(demandes|suivi)/[0-9a-f-]{36}/pieces/|/langue/|/logo$|/captcha/|"
    r"/paiement/|/branding\.css|/apercu\.css|/static/)"
)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic"]


def kind_of(path: str) -> str:
    """The address with its ids replaced: one page stands for all of its kind."""
    return UUID.sub("{id}", path)


@dataclass
class Checked:
    path: str
    role: str
    locale: str
    status: int
    violations: list[dict] = field(default_factory=list)


def crawl(
    page,
    base: str,
    slug: str,
    starts: Iterable[str],
    check: Callable[[object], list[dict]],
    *,
    role: str,
    locale: str,
    allowed: Callable[[str], bool],
    limit: int = 120,
) -> list[Checked]:
    """Breadth-first over the tenant's links from ``starts``; each kind of page once."""
    prefix = f"/{slug}"
    queue = [f"{prefix}{s}" for s in starts]
    seen: set[str] = set()
    results: list[Checked] = []
    while queue and len(results) < limit:
        path = queue.pop(0)
        if kind_of(path) in seen or SKIP.search(path) or not allowed(path):
            continue
        seen.add(kind_of(path))
        response = page.goto(f"{base}{path}")
        status = response.status if response else 0
        if not (response and "text/html" in response.headers.get("content-type", "")):
            continue
        current = urlsplit(page.url).path
        if current != path:  # sent elsewhere (sign-in, a form's first step): count that page
            if kind_of(current) in seen:
                continue
            seen.add(kind_of(current))
            path = current
        results.append(Checked(path, role, locale, status, check(page)))
        for href in page.eval_on_selector_all(
            "a[href]", "els => els.map(e => e.getAttribute('href'))"
        ):
            target = urlsplit(urljoin(f"{base}{path}", href))
            if target.netloc == urlsplit(base).netloc and target.path.startswith(prefix):
                if kind_of(target.path) not in seen:
                    queue.append(target.path)
    return results


KEYBOARD_JS = """() => {
  const all = [...document.querySelectorAll(
    'a[href], button:not([disabled]), select:not([disabled]), textarea:not([disabled]),' +
    'input:not([type=hidden]):not([disabled])')];
  // Shown now: not hidden, not inside a closed disclosure (reached once it is opened).
  const shown = all.filter(e => e.offsetParent !== null && e.getAttribute('tabindex') !== '-1'
    && (!e.checkVisibility || e.checkVisibility({visibilityProperty: true}))
    && !(e.closest('details') && !e.closest('details').open && !e.closest('summary')));
  shown.forEach((e, i) => e.setAttribute('data-kbd', String(i)));
  return shown.length;
}"""


FOCUS_LOG_JS = """() => {
  // Each element the Tab key focuses, with whether it shows a focus mark, noted by the page
  // itself: one evaluation at the end instead of one per key press.
  window.__kbdLog = [];
  document.addEventListener('focusin', () => {
    const e = document.activeElement; if (!e) return;
    const s = getComputedStyle(e);
    window.__kbdLog.push([e.getAttribute('data-kbd'), e.outerHTML.slice(0, 80),
      (s.outlineStyle !== 'none' && s.outlineWidth !== '0px') || s.boxShadow !== 'none']);
  }, true);
  if (document.activeElement) document.activeElement.blur();
}"""


def keyboard_check(page) -> list[dict]:
    """Every visible link and form control is reached with Tab alone, with a visible focus
    mark; the ones that are not, as axe-like findings."""
    count = page.evaluate(KEYBOARD_JS)
    reached: set[str] = set()
    marked: set[str] = set()
    seen_html: dict[str, str] = {}
    page.evaluate(FOCUS_LOG_JS)
    for _ in range(count + 5):
        page.keyboard.press("Tab")
    for kbd, html, mark in page.evaluate("() => window.__kbdLog"):
        if kbd is not None:
            reached.add(kbd)
            seen_html[kbd] = html
            if mark:  # a date field's inner parts are visited too: one mark is enough
                marked.add(kbd)
    unmarked = [seen_html[i] for i in sorted(reached - marked, key=int)]
    findings = []
    missing = [str(i) for i in range(count) if str(i) not in reached]
    if missing:
        targets = page.evaluate(
            "ids => ids.map(i => document.querySelector(`[data-kbd='${i}']`)"
            ".outerHTML.slice(0, 80))",
            missing[:5],
        )
        findings.append(
            {
                "id": "keyboard-unreachable",
                "impact": "serious",
                "help": "Not reached with the Tab key",
                "targets": targets,
            }
        )
    if unmarked:
        findings.append(
            {
                "id": "focus-not-visible",
                "impact": "serious",
                "help": "No visible focus mark",
                "targets": unmarked[:5],
            }
        )
    return findings


def axe_checker(keyboard: bool = True) -> Callable[[object], list[dict]]:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    versions: dict[str, str] = {}

    def check(page) -> list[dict]:
        response = axe.run(page).response
        versions["axe"] = response.get("testEngine", {}).get("version", "?")
        found = [
            {
                "id": v["id"],
                "impact": v["impact"],
                "help": v["help"],
                "targets": [n["target"][0] for n in v["nodes"][:5]],
            }
            for v in response["violations"]
        ]
        return found + (keyboard_check(page) if keyboard else [])

    check.versions = versions  # type: ignore[attr-defined]

    return check


def sign_in_citizen(page, base: str, slug: str, username: str, password: str) -> None:
    page.goto(f"{base}/{slug}/")
    page.fill("#login-identifiant", username)
    page.fill("#login-mot-de-passe", password)
    page.locator("#login-mot-de-passe").press("Enter")
    page.wait_for_url(re.compile(r".*/mon-espace$"))


def sign_in_staff(page, base: str, slug: str, email: str, password: str, secret: str) -> None:
    import pyotp

    page.goto(f"{base}/{slug}/agents/connexion")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.locator("input[name=password]").press("Enter")
    page.wait_for_url(re.compile(r".*/agents/connexion/code$"))
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.locator("input[name=code]").press("Enter")
    page.wait_for_url(re.compile(r".*/(admin|agents/demandes)/?$"))


def audit(
    browser,
    base: str,
    slug: str,
    locales: list[str],
    citizen: tuple[str, str] | None,
    staff: tuple[str, str, str] | None,
    check: Callable[[object], list[dict]],
) -> list[Checked]:
    """Every role × language; each in a fresh browser context."""
    results: list[Checked] = []
    public = [
        "/",
        "/aide",
        "/contacts",
        "/accessibilite",
        "/mentions-legales",
        "/cgu",
        "/donnees-personnelles",
        "/creer-mon-espace",
        "/mot-de-passe-oublie",
        "/activation",
        "/demarches",
        "/demarches/suivi",
        "/agents/connexion",
    ]
    for locale in locales:
        runs: list[tuple[str, list[str], Callable[[str], bool], Callable | None]] = [
            ("visitor", public, lambda p: "/mon-espace" not in p and "/admin" not in p, None),
        ]
        if citizen:
            runs.append(
                (
                    "citizen",
                    ["/mon-espace", "/demarches"],
                    lambda p: "/admin" not in p and "/agents" not in p,
                    lambda pg: sign_in_citizen(pg, base, slug, *citizen),
                )
            )
        if staff:
            runs.append(
                (
                    "staff",
                    ["/admin", "/agents/demandes"],
                    lambda p: "/admin" in p or "/agents" in p,
                    lambda pg: sign_in_staff(pg, base, slug, *staff),
                )
            )
        for role, starts, allowed, sign_in in runs:
            context = browser.new_context(
                locale="fr-FR" if locale == "fr" else "en-GB",
                extra_http_headers={"Accept-Language": locale},
            )
            page = context.new_page()
            if sign_in:
                sign_in(page)
            results += crawl(
                page, base, slug, starts, check, role=role, locale=locale, allowed=allowed
            )
            context.close()
    return results


def audit_with_own_browser(
    chromium: str,
    base: str,
    slug: str,
    locales: list[str],
    citizen: tuple[str, str] | None,
    staff: tuple[str, str, str] | None,
) -> list[Checked]:
    """``audit`` in a Chromium of its own (for another process: tenants audited side by side)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            return audit(browser, base, slug, locales, citizen, staff, axe_checker())
        finally:
            browser.close()


def markdown(slug: str, results: list[Checked], versions: dict[str, str]) -> str:
    failing = [r for r in results if r.violations]
    lines = [
        f"# Rapport d'accessibilité automatique — {slug}",
        "",
        f"Date : {date.today().isoformat()}. Outils : axe-core {versions.get('axe', '?')} "
        f"(règles WCAG 2.1 A et AA), Chromium {versions.get('chromium', '?')}.",
        "",
        f"Pages vérifiées : {len(results)} ; pages sans erreur détectée : "
        f"{len(results) - len(failing)}.",
        "",
        "Ces vérifications automatiques couvrent une partie des critères du RGAA 4 ; la "
        "déclaration d'accessibilité s'appuie en outre sur un audit manuel.",
        "",
        "| page | profil | langue | statut | erreurs |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        errors = ", ".join(f"{v['id']} ({v['impact']})" for v in r.violations) or "aucune"
        lines.append(f"| `{kind_of(r.path)}` | {r.role} | {r.locale} | {r.status} | {errors} |")
    if failing:
        lines += ["", "## Détail des erreurs", ""]
        for r in failing:
            for v in r.violations:
                lines.append(
                    f"- `{r.path}` ({r.role}, {r.locale}) — **{v['id']}** : {v['help']} "
                    f"— {'; '.join(v['targets'])}"
                )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--locales", nargs="+", default=["fr", "en"])
    parser.add_argument("--citizen", default="", help="username:password")
    parser.add_argument("--staff", default="", help="email:password:totp-secret")
    parser.add_argument("--output", default="")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    citizen = tuple(args.citizen.split(":", 1)) if args.citizen else None
    staff = tuple(args.staff.split(":", 2)) if args.staff else None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        check = axe_checker()
        results = audit(browser, args.url, args.tenant, args.locales, citizen, staff, check)
        versions = {"chromium": browser.version, **check.versions}
        browser.close()
    report = markdown(args.tenant, results, versions)
    if args.output:
        Path(args.output).write_text(report, encoding="utf-8")
        print(f"{args.output}: {len(results)} pages")
    else:
        print(report)
    return 1 if any(r.violations for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
