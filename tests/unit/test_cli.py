"""The `guichet` command line."""

import hashlib
import re
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from guichet.models import TENANT_OWNED_TABLES
from guichet.operators.archive import NOT_EXPORTED

ROOT = Path(__file__).resolve().parents[2]


def test_cli_rejects_a_bad_file_with_file_field_and_reason(tmp_path):
    folder = tmp_path / "ccas-castres"
    shutil.copytree(ROOT / "tenants" / "ccas-castres", folder)
    path = folder / "tenant.toml"
    path.write_text(path.read_text().replace('on_accent = "#ffffff"', 'on_accent = "#ff9966"'))
    result = subprocess.run(
        [sys.executable, "-m", "guichet.cli", "tenants", "apply", str(folder)],
        capture_output=True,
        text=True,
        env={"GUICHET_VAR_DIR": str(tmp_path / "var"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert f"{path}: branding.on_accent:" in result.stderr
    assert "4.5:1" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_refuses_production_with_defaults_and_says_why(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "guichet.cli", "migrate"],
        capture_output=True,
        text=True,
        env={
            "GUICHET_MODE": "production",
            "GUICHET_VAR_DIR": str(tmp_path),
            "PATH": "/usr/bin:/bin",
        },
    )
    assert result.returncode == 1
    assert "refuses to start in production mode" in result.stderr
    assert "GUICHET_SECRET_KEY" in result.stderr and "Traceback" not in result.stderr


def test_forwarded_addresses_are_trusted_only_from_the_configured_proxies():
    from guichet.cli import uvicorn_options
    from guichet.settings import Settings

    none = uvicorn_options(Settings.from_env({}))
    assert none["proxy_headers"] is False
    behind = uvicorn_options(Settings.from_env({"GUICHET_TRUSTED_PROXIES": "10.0.0.5, 10.0.0.6"}))
    assert behind["proxy_headers"] is True
    assert behind["forwarded_allow_ips"] == "10.0.0.5,10.0.0.6"


def test_uvicorn_really_uses_the_forwarded_address_from_a_trusted_proxy():
    """The same options given to uvicorn's own proxy middleware: the client address a rate limit
    sees is the citizen's, not the ingress's."""
    import asyncio

    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from guichet.cli import uvicorn_options
    from guichet.settings import Settings

    seen = {}

    async def app(scope, receive, send):
        seen["client"] = scope["client"]

    options = uvicorn_options(Settings.from_env({"GUICHET_TRUSTED_PROXIES": "10.0.0.5"}))
    middleware = ProxyHeadersMiddleware(app, trusted_hosts=options["forwarded_allow_ips"])
    scope = {
        "type": "http",
        "client": ("10.0.0.5", 1234),
        "scheme": "http",
        "headers": [(b"x-forwarded-for", b"203.0.113.7")],
    }
    asyncio.run(middleware(scope, None, None))
    assert seen["client"][0] == "203.0.113.7"
    scope = {
        "type": "http",
        "client": ("198.51.100.9", 1234),
        "scheme": "http",
        "headers": [(b"x-forwarded-for", b"203.0.113.7")],
    }
    asyncio.run(middleware(scope, None, None))
    assert seen["client"][0] == "198.51.100.9"  # an untrusted peer cannot pick its address


def test_cli_creates_staff_with_a_strong_password_once(tmp_path):
    env = {"GUICHET_VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def guichet(*args, **extra):
        return subprocess.run(
            [sys.executable, "-m", "guichet.cli", *args],
            capture_output=True,
            text=True,
            env={**env, **extra},
        )

    assert guichet("migrate").returncode == 0
    assert guichet("tenants", "apply", str(ROOT / "tenants" / "ccas-castres")).returncode == 0
    create = ("staff", "create", "ccas-castres", "Agent@CCAS.fr", "Sophie MARTY")
    weak = guichet(*create, "--password", "court1")
    assert weak.returncode == 1 and "12 caractère" in weak.stderr
    done = guichet(*create, GUICHET_STAFF_PASSWORD="Tres-long-mot2passe")
    assert done.returncode == 0, done.stderr
    assert "agent@ccas.fr (agent) created in ccas-castres" in done.stdout
    again = guichet(*create, GUICHET_STAFF_PASSWORD="Tres-long-mot2passe")
    assert again.returncode == 1 and "already a staff member" in again.stderr
    unknown = guichet("staff", "create", "nulle-part", "a@b.fr", "X", "--password", "x")
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
    # a member locked out with no administrator left: the operator resets their access
    [database] = tmp_path.glob("*.db")

    def stored() -> tuple[str, str, str]:
        with sqlite3.connect(database) as connection:
            return connection.execute(
                "SELECT password_hash, invite_hash, invite_expires_at FROM staff_user "
                "WHERE email = 'agent@ccas.fr'"
            ).fetchone()

    assert stored()[0] and stored()[1] is None
    reset = guichet("staff", "reset-access", "ccas-castres", "AGENT@ccas.fr")
    assert reset.returncode == 0, reset.stderr
    [link] = re.findall(r"http://\S+/ccas-castres/agents/invitation/(\S+)", reset.stdout)
    password_hash, invite_hash, expires = stored()
    assert password_hash == "" and invite_hash == hashlib.sha256(link.encode()).hexdigest()
    assert expires > str(datetime.now(UTC) + timedelta(days=6))
    nobody = guichet("staff", "reset-access", "ccas-castres", "personne@ccas.fr")
    assert nobody.returncode == 1 and "not an active staff member" in nobody.stderr


def test_cli_onboards_lists_exports_and_deletes_a_tenant(tmp_path):
    env = {"GUICHET_VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def guichet(*args):
        return subprocess.run(
            [sys.executable, "-m", "guichet.cli", *args], capture_output=True, text=True, env=env
        )

    assert guichet("migrate").returncode == 0
    created = guichet(
        "tenants",
        "create",
        "ccas-albi",
        "CCAS d'Albi",
        "--kind",
        "ccas",
        "--admin-email",
        "dgs@ccas-albi.fr",
        "--admin-name",
        "Anne ADMIN",
    )
    assert created.returncode == 0, created.stderr
    # handed to the (embedded) broker at once, though no web process has made its folders yet
    assert "broker unavailable" not in created.stderr, created.stderr
    assert list((tmp_path / "broker" / "queue").iterdir())
    assert "invitation sent to dgs@ccas-albi.fr" in created.stdout
    assert "ccas-albi" in guichet("tenants", "list").stdout
    assert "1 invitation(s) sent again" in guichet("tenants", "reinvite", "ccas-albi").stdout
    status = guichet("tenants", "status", "ccas-albi", "maintenance", "--message", "Retour à 14 h")
    assert status.returncode == 0 and "maintenance" in guichet("tenants", "list").stdout
    refused = guichet("tenants", "delete", "ccas-albi", "--confirm", "ccas-albi")
    assert refused.returncode == 1 and "no export" in refused.stderr
    archive = tmp_path / "albi.zip"
    exported = guichet("tenants", "export", "ccas-albi", "--output", str(archive))
    assert exported.returncode == 0 and archive.stat().st_size > 0
    with zipfile.ZipFile(archive) as zipped:  # every tenant table, though the command loads few
        tables = {n[len("tables/") : -len(".jsonl")] for n in zipped.namelist() if "tables/" in n}
    assert tables == TENANT_OWNED_TABLES - NOT_EXPORTED
    deleted = guichet("tenants", "delete", "ccas-albi", "--confirm", "ccas-albi")
    assert deleted.returncode == 0, deleted.stderr
    assert "ccas-albi" not in guichet("tenants", "list").stdout
    health = guichet("health")
    assert "database" in health.stdout


COMMANDS_WITHOUT_PAGES = """
import os
import sys

from click.testing import CliRunner
from litestar import Controller
from litestar.handlers import HTTPRouteHandler

from guichet.cli import main

archive = os.path.join(os.environ["GUICHET_VAR_DIR"], "albi.zip")
for args in (
    ["migrate"],
    ["tenants", "create", "ccas-albi", "CCAS d'Albi", "--kind", "ccas",
     "--admin-email", "dgs@ccas-albi.fr", "--admin-name", "Anne ADMIN"],
    ["tenants", "list"],
    ["tenants", "reinvite", "ccas-albi"],
    ["tenants", "status", "ccas-albi", "maintenance"],
    ["tenants", "export", "ccas-albi", "--output", archive],
    ["tenants", "delete", "ccas-albi", "--confirm", "ccas-albi"],
):
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, (args, result.output)


def pages(module):
    return any(
        isinstance(value, HTTPRouteHandler)
        or isinstance(value, type) and issubclass(value, Controller) and value is not Controller
        for value in vars(module).values()
    )


print(sorted(
    name for name, module in list(sys.modules.items())
    if name == "guichet.app" or name.startswith("guichet.") and pages(module)
))
"""


def test_commands_import_no_page_controller(tmp_path):
    """An operator's command starts without the web pages (about a second less each)."""
    result = subprocess.run(
        [sys.executable, "-c", COMMANDS_WITHOUT_PAGES],
        capture_output=True,
        text=True,
        env={"GUICHET_VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_guichet_run_sends_emails_with_links_to_the_address_it_serves():
    from guichet.cli import run_environment

    served = run_environment({"PATH": "/bin"}, "127.0.0.1", 8211)
    assert served["GUICHET_PUBLIC_URL"] == "http://127.0.0.1:8211" and served["PATH"] == "/bin"
    assert run_environment({}, "0.0.0.0", 8000)["GUICHET_PUBLIC_URL"] == "http://127.0.0.1:8000"
    assert run_environment({}, "::1", 8000)["GUICHET_PUBLIC_URL"] == "http://[::1]:8000"
    chosen = {"GUICHET_PUBLIC_URL": "https://guichet.example.fr"}
    assert run_environment(chosen, "127.0.0.1", 8211) == chosen  # set by the operator: kept
