"""Load run with wrk on loopback, production configuration (PostgreSQL, Redis, uvicorn with uvloop
and httptools, one web process unless ``--web-processes``), against a database filled by
``bench/generate.py``.

    .venv/bin/python bench/load.py --tenant ccas-castres --connections 32 64 --duration 10

Pages: the tenant's home (anonymous), MON ACCUEIL, MES FACTURES, an invoice page, the
invoice's PDF, a payment start (POST), and in the same run a bare Litestar page rendering a
Jinja template (``bench/bare/``) as the ceiling. Sign-in (argon2 by design) is measured apart,
by a Python client. Prints one Markdown table; the figures go to ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import BENCH_SECRET_KEY

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "Bench-2026-motdepasse"
APP_ROLE = "guichet_bench_app"
LUA = """
local method, body, headers = "GET", nil, {}
function init(args)
  method = args[1] or "GET"
  if args[2] and args[2] ~= "" then body = args[2] end
end
request = function()
  return wrk.format(method, nil, nil, body)
end
done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "non2xx": %d, "errors": %d, ' ..
    '"p50": %.2f, "p95": %.2f, "p99": %.2f}\\n',
    summary.requests, summary.duration / 1e6, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} does not answer")


def app_role(dsn: str) -> str:
    """A plain role (no superuser, no BYPASSRLS), as production runs: RLS applies."""
    connection = psycopg2.connect(dsn)
    connection.autocommit = True
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,))
        if not cur.fetchone():
            cur.execute(f'CREATE ROLE "{APP_ROLE}" LOGIN')
        cur.execute(f'GRANT USAGE ON SCHEMA public TO "{APP_ROLE}"')
        cur.execute(
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{APP_ROLE}"'
        )
        cur.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{APP_ROLE}"')
    connection.close()
    params = psycopg2.extensions.parse_dsn(dsn)
    return (
        f"postgresql+asyncpg://{APP_ROLE}@{params.get('host', '127.0.0.1')}:"
        f"{params.get('port', 5432)}/{params['dbname']}"
    )


def production_env(database_url: str, redis: str, var: Path) -> dict[str, str]:
    return {
        **os.environ,
        "GUICHET_MODE": "production",
        "GUICHET_ROOT": str(ROOT),
        "GUICHET_VAR_DIR": str(var),
        "GUICHET_SECRET_KEY": BENCH_SECRET_KEY,
        "GUICHET_DATABASE_URL": database_url,
        "GUICHET_REDIS_URL": f"{redis}/7",
        "GUICHET_STORE_NAMESPACE": f"bench{secrets.token_hex(4)}",
        "GUICHET_BROKER_URL": f"{redis}/8",
        "GUICHET_SMTP_HOST": "127.0.0.1",
        "GUICHET_FILES_BACKEND": "local",
        "GUICHET_FILES_DIR": str(var / "files"),
        "GUICHET_LOG_LEVEL": "WARNING",
        "GUICHET_PUBLIC_URL": "http://127.0.0.1",
    }


class Browser:
    """A client that keeps cookies itself: production's cookies are ``Secure``, and the bench
    talks plain HTTP on loopback (a real deployment sits behind TLS)."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=30)
        self.cookies: dict[str, str] = {}

    def header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        for _ in range(10):
            response = self.http.request(method, path, headers={"Cookie": self.header()}, **kwargs)
            for line in response.headers.get_list("set-cookie"):
                name, _, rest = line.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            method, path, kwargs = "GET", response.headers["location"], {}
        return response


def sign_in(base: str, slug: str, username: str) -> tuple[Browser, float]:
    client = Browser(base)
    home = client.request("GET", f"/{slug}/")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', home.text).group(1)
    started = time.perf_counter()
    response = client.request(
        "POST",
        f"/{slug}/connexion",
        data={"_csrf_token": token, "username": username, "password": PASSWORD},
    )
    elapsed = time.perf_counter() - started
    if not str(response.url).endswith("/mon-espace"):
        raise SystemExit(f"sign-in of {username} failed: {response.status_code}")
    return client, elapsed


def wrk(
    url: str,
    connections: int,
    duration: int,
    cookie: str = "",
    method: str = "GET",
    body: str = "",
    content_type: str = "",
) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA)
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        script.name,
    ]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    if content_type:
        command += ["-H", f"Content-Type: {content_type}"]
    command += [url, "--", method, body]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    result = json.loads(output.strip().splitlines()[-1])
    result["rps"] = result["requests"] / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/guichet_bench")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--tenant", default="ccas-castres")
    parser.add_argument("--citizen", default="", help="default: c<n>-1 of that tenant")
    parser.add_argument("--connections", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--pages", nargs="*", default=None, help="a subset of the pages")
    parser.add_argument(
        "--profile",
        default="",
        help="py-spy the web process during this page's run (collapsed "
        "stacks in var/bench/profile-<page>.txt)",
    )
    parser.add_argument(
        "--web-processes",
        type=int,
        default=1,
        help="guichet web --workers (the goal is stated for one; more shows how it scales)",
    )
    args = parser.parse_args()

    var = ROOT / "var/bench"  # where bench/generate.py stored the tenants' files (logos)
    env = production_env(app_role(args.dsn), args.redis, var)
    web_port, bare_port = free_port(), free_port()
    web = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/guichet"),
            "web",
            "--port",
            str(web_port),
            "--workers",
            str(args.web_processes),
        ],
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    bare = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/uvicorn"),
            "bench.bare.app:app",
            "--port",
            str(bare_port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{web_port}"
    try:
        wait_http(f"{base}/healthz")
        wait_http(f"http://127.0.0.1:{bare_port}/")
        connection = psycopg2.connect(args.dsn)
        with connection.cursor() as cur:
            cur.execute("SELECT id FROM tenant WHERE slug = %s", (args.tenant,))
            tenant_id = cur.fetchone()[0]
            username = args.citizen
            if not username:
                cur.execute(
                    "SELECT username FROM citizen WHERE tenant_id = %s AND username LIKE 'c%%-1'",
                    (tenant_id,),
                )
                username = cur.fetchone()[0]
            cur.execute(
                "SELECT i.id FROM invoice i JOIN service_account a ON a.id = i.service_account_id "
                "JOIN citizen c ON c.id = a.citizen_id WHERE c.tenant_id = %s AND c.username = %s "
                "AND i.status = 'non_reglee' ORDER BY i.number LIMIT 1",
                (tenant_id, username),
            )
            invoice = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM tenant")
            tenants = cur.fetchone()[0]
        connection.close()
        client, _ = sign_in(base, args.tenant, username)
        page = client.request("GET", f"/{args.tenant}/mon-espace/factures/{invoice}").text
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)
        pdf = client.request("GET", f"/{args.tenant}/mon-espace/factures/{invoice}/pdf")
        assert pdf.headers["content-type"] == "application/pdf", pdf.status_code
        cookie = client.header()

        slug = args.tenant
        pages = {
            "bare Litestar + Jinja page": (f"http://127.0.0.1:{bare_port}/", "", "GET", "", ""),
            "home (anonymous)": (f"{base}/{slug}/", "", "GET", "", ""),
            "MON ACCUEIL": (f"{base}/{slug}/mon-espace", cookie, "GET", "", ""),
            "MES FACTURES": (f"{base}/{slug}/mon-espace/factures", cookie, "GET", "", ""),
            "invoice page": (f"{base}/{slug}/mon-espace/factures/{invoice}", cookie, "GET", "", ""),
            "invoice PDF": (
                f"{base}/{slug}/mon-espace/factures/{invoice}/pdf",
                cookie,
                "GET",
                "",
                "",
            ),
            "payment start (POST)": (
                f"{base}/{slug}/mon-espace/factures/{invoice}/payer",
                cookie,
                "POST",
                f"_csrf_token={token}&email=payeur%40exemple.fr",
                "application/x-www-form-urlencoded",
            ),
        }
        if args.pages:
            pages = {k: v for k, v in pages.items() if k in args.pages or k.startswith("bare")}
        print(
            f"\n{tenants} tenants; tenant {slug}, citizen {username}, "
            f"{args.web_processes} web process(es), wrk -t2, {args.duration} s per row\n"
        )
        print("| page | connections | requests/s | p50 ms | p95 ms | p99 ms | non-2xx |")
        print("|---|---|---|---|---|---|---|")
        for connections in args.connections:
            for name, (url, cookies, method, body, content_type) in pages.items():
                spy = None
                if name == args.profile:
                    target = ROOT / "var/bench" / f"profile-{name.replace(' ', '-')}.txt"
                    spy = subprocess.Popen(
                        [
                            str(ROOT / ".venv/bin/py-spy"),
                            "record",
                            "--format",
                            "raw",
                            "--rate",
                            "200",
                            "--duration",
                            str(args.duration),
                            "--pid",
                            str(web.pid),
                            "--subprocesses",
                            "-o",
                            str(target),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                result = wrk(url, connections, args.duration, cookies, method, body, content_type)
                if spy is not None:
                    spy.wait(timeout=60)
                print(
                    f"| {name} | {connections} | {result['rps']:.0f} | {result['p50']:.1f} | "
                    f"{result['p95']:.1f} | {result['p99']:.1f} | "
                    f"{result['non2xx'] + result['errors']} |",
                    flush=True,
                )

        # Sign-in apart: argon2 on purpose, and per-account limits.
        times = []
        for n in range(2, 22):
            _, elapsed = sign_in(base, slug, re.sub(r"-1$", f"-{n}", username))
            times.append(elapsed * 1000)
        times.sort()
        print(
            f"\nsign-in (one client, 20 accounts): median {times[10]:.0f} ms, "
            f"max {times[-1]:.0f} ms"
        )
        rss = (
            subprocess.run(
                ["ps", "-o", "rss=", "--ppid", str(web.pid)], capture_output=True, text=True
            ).stdout.split()
            or subprocess.run(
                ["ps", "-o", "rss=", "-p", str(web.pid)], capture_output=True, text=True
            ).stdout.split()
        )
        print(f"web process memory after the run: {sum(int(r) for r in rss) / 1024:.0f} MB RSS")
    finally:
        for process in (web, bare):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
