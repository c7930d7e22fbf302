"""What a citizen's browser receives: every citizen page, first visit (empty cache), in headless
Chromium — bytes transferred (HTML, CSS, fonts, images; headers included, as Chromium counts
them) and, on a throttled "slow 3G" line (400 kbit/s each way, 400 ms round trip), the time to
the load event (all of the page arrived: the longest a reader waits). Also checks each page
works without JavaScript (the same page with JavaScript off shows its main heading).

    .venv/bin/python bench/page_weight.py

Runs the embedded default (SQLite) in a throwaway folder with the demo tenant; signs in as the
demo citizen (calquier). Prints one Markdown table for ``bench/README.md``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from a11y_report import sign_in_citizen

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("GUICHET_CHROMIUM", "/usr/bin/chromium")
SLUG = "ccas-castres"
PUBLIC = [
    "/",
    "/aide",
    "/contacts",
    "/accessibilite",
    "/mentions-legales",
    "/cgu",
    "/creer-mon-espace",
    "/mot-de-passe-oublie",
    "/demarches",
    "/demarches/suivi",
    "/demarches/registre-canicule",
]
PRIVATE = [
    "/mon-espace",
    "/mon-espace/coordonnees",
    "/mon-espace/identifiants",
    "/mon-espace/contacts",
    "/mon-espace/pieces",
    "/mon-espace/factures",
    "/mon-espace/factures/{invoice}",
    "/mon-espace/factures/adhesion",
    "/mon-espace/cles",
    "/mon-espace/historique",
    "/mon-espace/mes-donnees",
    "/mon-espace/demandes",
    "/demarches/aide-facultative",
]
SLOW_3G = {
    "offline": False,
    "latency": 400,
    "downloadThroughput": 400_000 / 8,
    "uploadThroughput": 400_000 / 8,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve() -> tuple[subprocess.Popen, str]:
    var = Path(tempfile.mkdtemp(prefix="guichet-weight-"))
    env = {**os.environ, "GUICHET_VAR_DIR": str(var), "GUICHET_ROOT": str(ROOT)}
    guichet = str(ROOT / ".venv/bin/guichet")
    subprocess.run([guichet, "migrate"], env=env, cwd=ROOT, check=True, capture_output=True)
    subprocess.run(
        [guichet, "tenants", "apply", "--demo", f"tenants/{SLUG}"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    port = free_port()
    process = subprocess.Popen(
        [guichet, "web", "--port", str(port)],
        env=env,
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("the server did not start")


def sign_in(page, base: str) -> None:
    """The demo citizen, as tools/a11y_report.py signs in."""
    sign_in_citizen(page, base, SLUG, "calquier", "Castres-2020")


def measure(context, base: str, path: str, signed_in: bool, throttle: bool) -> dict:
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    if signed_in:
        sign_in(page, base)
    cdp.send("Network.clearBrowserCache")
    if throttle:
        cdp.send("Network.emulateNetworkConditions", SLOW_3G)
    transferred: list[float] = []
    cdp.on("Network.loadingFinished", lambda event: transferred.append(event["encodedDataLength"]))
    response = page.goto(f"{base}/{SLUG}{path}", wait_until="load")
    # Headless Chromium does not always report a first paint: the conservative figure is the
    # load event (HTML, style sheets, fonts and images all arrived; CSS blocks rendering).
    fcp = page.evaluate(
        "() => { const paint = performance.getEntriesByName('first-contentful-paint')[0];"
        " const nav = performance.getEntriesByType('navigation')[0];"
        " return Math.max(paint ? paint.startTime : 0, nav ? nav.loadEventEnd : 0); }"
    )
    status = response.status if response else 0
    page.close()
    return {"bytes": sum(transferred), "requests": len(transferred), "fcp": fcp, "status": status}


def without_javascript(browser, base: str, path: str, signed_in: bool) -> bool:
    context = browser.new_context(java_script_enabled=False, locale="fr-FR")
    page = context.new_page()
    if signed_in:
        sign_in(page, base)
    page.goto(f"{base}/{SLUG}{path}")
    ok = page.locator("main h1").count() >= 1
    context.close()
    return ok


def main() -> None:
    process, base = serve()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            context = browser.new_context(locale="fr-FR")
            probe = context.new_page()
            sign_in(probe, base)
            probe.goto(f"{base}/{SLUG}/mon-espace/factures")
            invoice = re.search(r"/mon-espace/factures/([0-9a-f-]{36})", probe.content()).group(1)
            context.close()
            rows = []
            for path, private in [(p, False) for p in PUBLIC] + [(p, True) for p in PRIVATE]:
                path = path.format(invoice=invoice)
                fresh = browser.new_context(locale="fr-FR")
                plain = measure(fresh, base, path, private, throttle=False)
                fresh.close()
                slow_context = browser.new_context(locale="fr-FR")
                slow = measure(slow_context, base, path, private, throttle=True)
                slow_context.close()
                no_js = without_javascript(browser, base, path, private)
                rows.append((path, plain, slow, no_js))
            browser.close()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    print("| page | status | requests | transferred (KB) | slow 3G: loaded (s) | without JS |")
    print("|---|---|---|---|---|---|")
    for path, plain, slow, no_js in rows:
        print(
            f"| `{path}` | {plain['status']} | {plain['requests']} | {plain['bytes'] / 1024:.1f} "
            f"| {slow['fcp'] / 1000:.2f} | {'yes' if no_js else 'NO'} |"
        )
    heaviest = max(rows, key=lambda r: r[1]["bytes"])
    slowest = max(rows, key=lambda r: r[2]["fcp"])
    print(
        f"\nheaviest: {heaviest[0]} {heaviest[1]['bytes'] / 1024:.1f} KB; "
        f"slowest on slow 3G (load event): {slowest[0]} {slowest[2]['fcp'] / 1000:.2f} s"
    )


if __name__ == "__main__":
    sys.exit(main())
