"""The ``guichet`` command: migrations, the tenant catalog, the web server and the dev runner."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import click

from guichet.settings import ConfigurationError, Settings, settings_documentation

__all__ = ["main"]


@contextlib.asynccontextmanager
async def _platform(settings: Settings) -> AsyncIterator[Any]:
    """The services a command needs (database, store, files, resolver), closed after."""
    from guichet.services import build_services
    from guichet.web.stores import close_store

    services = build_services(settings)
    try:
        yield services
    finally:
        await services.db.dispose()
        await close_store(services.store)


def _settings() -> Settings:
    # Every table in Base.metadata before the first statement: a command imports only the
    # modules it uses, a foreign key names its table, and an export walks every table.
    import guichet.models  # noqa: F401

    try:
        return Settings.from_env()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def main() -> None:
    """Guichet, the citizen portal of communes and their CCAS."""


@main.command()
def migrate() -> None:
    """Bring the database to the latest schema (alembic upgrade head)."""
    settings = _settings()
    run_migrations(settings)
    click.echo("database is up to date")


def alembic_config(settings: Settings, database_url: str | None = None):
    from alembic.config import Config

    config = Config(str(settings.root / "alembic.ini"))
    config.set_main_option("script_location", str(settings.root / "migrations"))
    config.attributes["database_url"] = database_url or settings.database_url
    config.attributes["configure_logging"] = False
    return config


def run_migrations(settings: Settings, database_url: str | None = None) -> None:
    from alembic import command

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings, database_url), "head")


@main.group()
def tenants() -> None:
    """The tenant catalog (tenants/<slug>/tenant.toml)."""


@tenants.command("apply")
@click.argument(
    "folders",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option("--demo", is_flag=True, help="Also load each folder's demo.toml (demo accounts).")
def tenants_apply(folders: tuple[Path, ...], demo: bool) -> None:
    """Create or update tenants from their folders; applying twice changes nothing."""
    settings = _settings()
    from guichet.tenancy.catalog import CatalogError

    if demo and settings.is_production:
        raise click.ClickException(
            "--demo creates accounts with known passwords: refused in production mode"
        )
    try:
        results = asyncio.run(apply_folders(settings, list(folders), demo=demo))
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from None
    for folder, changes in results:
        if changes:
            click.echo(f"{folder}: {len(changes)} change(s)")
            for change in changes:
                click.echo(f"  - {change}")
        else:
            click.echo(f"{folder}: no change")


async def apply_folders(
    settings: Settings, folders: list[Path], demo: bool = False
) -> list[tuple[Path, list[str]]]:
    from guichet.db.session import Database
    from guichet.files import create_file_store
    from guichet.tenancy.catalog import apply_catalog, load_catalog
    from guichet.tenancy.resolver import bump_generation
    from guichet.web.stores import close_store, create_store

    catalogs = [load_catalog(folder, settings.themes_dir) for folder in folders]
    db = Database(settings)
    files = create_file_store(settings)
    results = []
    try:
        for catalog in catalogs:
            async with db.transaction(all_tenants=True) as session:
                changes = await apply_catalog(session, catalog, files, settings.web.secret_key)
                if demo:
                    from guichet.tenancy.demo import apply_demo

                    changes += await apply_demo(session, catalog.folder, settings.web.secret_key)
            results.append((catalog.folder, changes))
    finally:
        await db.dispose()
    if any(changes for _, changes in results):
        store = create_store(settings)
        try:
            await bump_generation(store.with_namespace("tenancy"))
        finally:
            await close_store(store)
    return results


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How the web server reads client addresses: ``X-Forwarded-For`` only from the proxies of
    ``GUICHET_TRUSTED_PROXIES`` (per-address rate limits depend on it)."""
    proxies = [p.strip() for p in settings.web.trusted_proxies.split(",") if p.strip()]
    return {
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": ",".join(proxies) if proxies else "127.0.0.1",
        "access_log": False,
        "log_config": None,
        "server_header": False,
    }


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="web processes")
def web(host: str, port: int, workers: int) -> None:
    """Serve the web application (uvicorn)."""
    import uvicorn

    settings = _settings()  # refuse a bad configuration before the server starts
    uvicorn.run(
        "guichet.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        **uvicorn_options(settings),
    )


def run_environment(environ: dict[str, str], host: str, port: int) -> dict[str, str]:
    """The environment of ``guichet run``'s processes: unless GUICHET_PUBLIC_URL is set, the
    links of the emails lead to the address served (another port than 8000 included)."""
    env = dict(environ)
    if not env.get("GUICHET_PUBLIC_URL"):
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
        shown = f"[{shown}]" if ":" in shown else shown
        env["GUICHET_PUBLIC_URL"] = f"http://{shown}:{port}"
    return env


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def run(host: str, port: int) -> None:
    """The embedded default: the web server and a Celery worker together; Ctrl-C stops both."""
    env = run_environment(dict(os.environ), host, port)
    os.environ["GUICHET_PUBLIC_URL"] = env["GUICHET_PUBLIC_URL"]
    settings = _settings()
    worker = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.celery_app",
            "worker",
            "--loglevel=INFO",
            "--concurrency=1",
            "--pool=solo",
            "--beat",
            "--schedule",
            str(settings.var_dir / "celerybeat-schedule"),
        ],
        env=env,
    )
    webp = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "guichet.cli", "web", "--host", host, "--port", str(port)],
        env=env,
    )
    url = f"http://{host}:{port}/"
    demo = sorted(p.name for p in settings.tenants_dir.iterdir() if (p / "tenant.toml").is_file())
    click.echo("")
    click.echo("  Guichet is running (embedded default: SQLite, file store, filesystem broker).")
    for slug in demo:
        click.echo(f"    {url}{slug}/")
    click.echo(f"  Emails are written to {settings.outbox_dir}/ and listed at {url}outbox")
    click.echo("  Press Ctrl-C to stop.")
    click.echo("")
    stopping = False

    def stop(*_args: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping:
            if webp.poll() is not None or worker.poll() is not None:
                click.echo("a process stopped; stopping the others", err=True)
                break
            time.sleep(0.3)
    finally:
        for proc in (webp, worker):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (webp, worker):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    sys.exit(0 if stopping else 1)


@main.group()
def billing() -> None:
    """Billing runs."""


@billing.command("run")
@click.argument("slug")
@click.argument("ledger")
@click.argument("period")
@click.option("--inline", is_flag=True, help="Run here instead of handing it to a worker.")
def billing_run(slug: str, ledger: str, period: str, inline: bool) -> None:
    """Invoice PERIOD (YYYY-MM) of LEDGER for tenant SLUG."""
    import re

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period):
        raise click.ClickException("PERIOD is a month written YYYY-MM, e.g. 2020-02")
    settings = _settings()
    asyncio.run(_billing_run(settings, slug, ledger, period, inline))


async def _billing_run(
    settings: Settings, slug: str, ledger: str, period: str, inline: bool
) -> None:
    import time as clock

    from sqlalchemy import select

    from guichet.billing.runs import RUN_TASK, create_run, execute_run
    from guichet.db.session import Database
    from guichet.files import create_file_store
    from guichet.notifications.services import _celery, enqueue_delivery
    from guichet.tenancy.models import Tenant
    from guichet.web.templates import TemplateRenderer

    db = Database(settings)
    try:
        async with db.session(all_tenants=True) as session:
            tenant = (
                await session.execute(select(Tenant).where(Tenant.slug == slug))
            ).scalar_one_or_none()
        if tenant is None:
            raise click.ClickException(f"no tenant {slug!r}")
        async with db.transaction(tenant.id) as session:
            try:
                run = await create_run(session, tenant.id, ledger, period)
            except Exception:
                raise click.ClickException(f"no ledger {ledger!r} in {slug}") from None
            run_id = run.id
        if not inline:
            _celery(settings).send_task(RUN_TASK, args=[str(tenant.id), str(run_id)])
            click.echo(f"billing run {run_id} handed to the workers")
            return
        started = clock.perf_counter()
        queued = await execute_run(
            db,
            settings,
            TemplateRenderer(settings.themes_dir),
            create_file_store(settings),
            tenant.id,
            run_id,
            progress=lambda r: click.echo(
                f"  {r.invoices_created} invoices, {r.pdfs_rendered} PDFs"
            ),
        )
        enqueue_delivery(settings, queued)
        click.echo(
            f"billing run {run_id} done in {clock.perf_counter() - started:.1f} s "
            f"({len(queued)} email(s) to adherents)"
        )
    finally:
        await db.dispose()


@billing.command("runs")
@click.argument("slug")
def billing_runs(slug: str) -> None:
    """The billing runs of tenant SLUG, newest first, with their progress."""
    settings = _settings()

    async def work() -> list[Any]:
        from sqlalchemy import select

        from guichet.billing.models import BillingRun, Ledger
        from guichet.db.session import Database

        tenant_id = await _tenant_id(settings, slug)
        db = Database(settings)
        try:
            async with db.session(tenant_id) as session:
                return list(
                    (
                        await session.execute(
                            select(BillingRun, Ledger.code)
                            .join(Ledger, Ledger.id == BillingRun.ledger_id)
                            .where(BillingRun.tenant_id == tenant_id)
                            .order_by(BillingRun.created_at.desc())
                        )
                    ).all()
                )
        finally:
            await db.dispose()

    rows = asyncio.run(work())
    if not rows:
        click.echo(f"no billing run in {slug}")
    for run, ledger_code in rows:
        line = (
            f"{run.id}  {ledger_code} {run.period}  {run.status}: {run.invoices_created} "
            f"invoices, {run.pdfs_rendered} PDFs, {run.emails_queued} emails"
        )
        if run.print_pdf_key:
            volumes = len(run.print_keys)
            line += ", print file ready" + (f" ({volumes} volumes)" if volumes > 1 else "")
        if run.error:
            line += f"  error: {run.error}"
        click.echo(line)


@billing.command("print-file")
@click.argument("slug")
@click.argument("run_id")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
def billing_print_file(slug: str, run_id: str, output: Path) -> None:
    """Write the print-ready PDF of the invoices to post (billing run RUN_ID) to OUTPUT; a
    large run's print file comes in volumes (OUTPUT's name with -1, -2…)."""
    import uuid

    settings = _settings()
    try:
        wanted = uuid.UUID(run_id)
    except ValueError:
        raise click.ClickException(f"{run_id!r} is not a run id (see `billing runs`)") from None

    async def work() -> list[str]:
        from guichet.billing.models import BillingRun
        from guichet.db.session import Database

        tenant_id = await _tenant_id(settings, slug)
        db = Database(settings)
        try:
            async with db.session(tenant_id) as session:
                run = await session.get(BillingRun, wanted)
                if run is None or run.tenant_id != tenant_id:
                    raise click.ClickException(f"no billing run {run_id} in {slug}")
                if not run.print_pdf_key and run.status == "done":
                    raise click.ClickException(
                        f"billing run {run_id}: every invoice goes by email, nothing to print"
                    )
                if not run.print_pdf_key:
                    raise click.ClickException(
                        f"billing run {run_id} has no print file yet ({run.status})"
                    )
                return run.print_keys
        finally:
            await db.dispose()

    from guichet.files import create_file_store

    keys = asyncio.run(work())
    store = create_file_store(settings)
    for number, key in enumerate(keys, start=1):
        path = output if len(keys) == 1 else output.with_name(f"{output.stem}-{number}.pdf")
        data = store.get(key)  # a volume: bounded in size
        path.write_bytes(data)
        click.echo(f"{path}: {len(data)} bytes")


@main.group()
def tokens() -> None:
    """API tokens of a tenant's billing software."""


@tokens.command("create")
@click.argument("slug")
@click.argument("name")
def tokens_create(slug: str, name: str) -> None:
    """Create a token for tenant SLUG; it is shown once."""
    settings = _settings()

    async def work() -> str:
        from guichet.billing.imports import create_token

        tenant_id = await _tenant_id(settings, slug)
        db = Database(settings)
        try:
            async with db.transaction(tenant_id) as session:
                return await create_token(session, tenant_id, name)
        finally:
            await db.dispose()

    from guichet.db.session import Database

    click.echo(asyncio.run(work()))


@main.group()
def staff() -> None:
    """Staff of a tenant (agents, administrators, régisseurs)."""


def _checked_email(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """An email address as the web forms take it (trimmed, lower case), or a usage error."""
    from guichet.accounts.forms import valid_email

    address = value.strip().lower()
    if not valid_email(address):
        raise click.BadParameter(f"{value!r} is not an email address")
    return address


@staff.command("create")
@click.argument("slug")
@click.argument("email", callback=_checked_email)
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["administrateur", "agent", "regisseur"]),
    default="agent",
    show_default=True,
)
@click.password_option(envvar="GUICHET_STAFF_PASSWORD", help="Asked for when not given.")
def staff_create(slug: str, email: str, name: str, role: str, password: str) -> None:
    """Create a staff member of tenant SLUG who signs in at /SLUG/agents/connexion."""
    from guichet.accounts.passwords import check_password
    from guichet.staff.services import STAFF_POLICY

    settings = _settings()
    problems = check_password(password, STAFF_POLICY, [email, name])
    if problems:
        raise click.ClickException("; ".join(problems))

    async def work() -> str:
        from guichet.staff.models import StaffRole
        from guichet.staff.services import StaffService

        tenant_id = await _tenant_id(settings, slug)
        db = Database(settings)
        try:
            async with db.transaction(tenant_id) as session:
                service = StaffService(session, tenant_id)
                if await service.by_email(email):
                    raise click.ClickException(f"{email} is already a staff member of {slug}")
                user = await service.create(email, name, StaffRole(role), password)
                return f"{user.email} ({user.role.value}) created in {slug}"
        finally:
            await db.dispose()

    from guichet.db.session import Database

    click.echo(asyncio.run(work()))


@staff.command("reset-access")
@click.argument("slug")
@click.argument("email")
def staff_reset_access(slug: str, email: str) -> None:
    """Reset the access of EMAIL, a staff member of tenant SLUG who lost their password or
    their phone and has no administrator left to do it from /SLUG/admin/agents: the password
    and the second factor are erased, their sessions end, and the link printed (valid seven
    days) lets them choose a password and enrol a new authenticator. Hand it to them yourself;
    nothing is emailed."""
    settings = _settings()

    async def work() -> str:
        from guichet.audit.services import audit
        from guichet.staff.services import INVITATION_DAYS, StaffService

        tenant_id = await _tenant_id(settings, slug)
        db = Database(settings)
        try:
            async with db.transaction(tenant_id) as session:
                service = StaffService(session, tenant_id)
                user = await service.by_email(email)
                if user is None or not user.active:
                    raise click.ClickException(f"{email} is not an active staff member of {slug}")
                token = service.reset_access(user)
                audit(
                    session,
                    tenant_id=tenant_id,
                    actor_kind="system",
                    actor_id=None,
                    actor_name="guichet CLI",
                    action="staff.access_reset",
                    target=user.email,
                )
        finally:
            await db.dispose()
        return (
            f"access of {user.email} reset in {slug}; link valid {INVITATION_DAYS} days:\n"
            f"{settings.web.public_url}/{slug}/agents/invitation/{token}"
        )

    from guichet.db.session import Database

    click.echo(asyncio.run(work()))


@main.group()
def operators() -> None:
    """Platform operators (they sign in at /operator/)."""


@operators.command("create")
@click.argument("email", callback=_checked_email)
@click.argument("name")
@click.password_option(envvar="GUICHET_OPERATOR_PASSWORD", help="Asked for when not given.")
def operators_create(email: str, name: str, password: str) -> None:
    """Create an operator; the first sign-in enrols the second factor."""
    from guichet.accounts.passwords import check_password, hash_password
    from guichet.staff.services import STAFF_POLICY

    problems = check_password(password, STAFF_POLICY, [email, name])
    if problems:
        raise click.ClickException("; ".join(problems))
    settings = _settings()

    async def work() -> str:
        from sqlalchemy import select

        from guichet.audit.services import audit
        from guichet.staff.models import Operator

        db = Database(settings)
        try:
            async with db.transaction(all_tenants=True) as session:
                address = email.strip().lower()
                if await session.scalar(select(Operator.id).where(Operator.email == address)):
                    raise click.ClickException(f"{address} is already an operator")
                session.add(
                    Operator(email=address, name=name, password_hash=hash_password(password))
                )
                audit(
                    session,
                    tenant_id=None,
                    actor_kind="system",
                    actor_id=None,
                    actor_name="guichet CLI",
                    action="operator.created",
                    target=address,
                )
                return f"operator {address} created"
        finally:
            await db.dispose()

    from guichet.db.session import Database

    click.echo(asyncio.run(work()))


@tenants.command("create")
@click.argument("slug")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(["ccas", "commune"]),
    required=True,
    help="A CCAS or a commune: the portal's words follow it (« le CCAS de … », « la Mairie »).",
)
@click.option(
    "--admin-email",
    required=True,
    callback=_checked_email,
    help="Its first administrator, invited by email.",
)
@click.option("--admin-name", required=True)
def tenants_create(slug: str, name: str, kind: str, admin_email: str, admin_name: str) -> None:
    """Onboard a tenant from nothing (as /operator/ does): default look, first administrator
    invited by email. A tenant described by a tenant.toml is applied with `tenants apply`."""
    from guichet.tenancy.slugs import slug_problem

    if problem := slug_problem(slug):
        raise click.ClickException(problem)
    settings = _settings()

    async def work() -> str:
        from sqlalchemy import select

        from guichet.audit.services import audit
        from guichet.notifications.services import enqueue_delivery
        from guichet.operators.onboarding import onboard_tenant
        from guichet.tenancy.models import Tenant, TenantKind

        async with _platform(settings) as services:
            async with services.db.transaction(all_tenants=True) as session:
                if await session.scalar(select(Tenant.id).where(Tenant.slug == slug)):
                    raise click.ClickException(f"tenant {slug!r} exists")
                tenant, message_id = await onboard_tenant(
                    session,
                    services,
                    slug=slug,
                    name=name,
                    kind=TenantKind(kind),
                    admin_email=admin_email,
                    admin_name=admin_name,
                )
                audit(
                    session,
                    tenant_id=tenant.id,
                    actor_kind="system",
                    actor_id=None,
                    actor_name="guichet CLI",
                    action="tenant.onboarded",
                    target=slug,
                    detail={"administrator": admin_email},
                )
            enqueue_delivery(settings, [message_id])
            await services.resolver.invalidate()
        return f"tenant {slug} created; invitation sent to {admin_email}"

    click.echo(asyncio.run(work()))


@tenants.command("status")
@click.argument("slug")
@click.argument("status", type=click.Choice(["active", "maintenance", "suspended"]))
@click.option("--message", default=None, help="The maintenance message shown to citizens.")
def tenants_status(slug: str, status: str, message: str | None) -> None:
    """Put a tenant in service, in maintenance or suspend it."""
    settings = _settings()

    async def work() -> str:
        from sqlalchemy import select

        from guichet.audit.services import audit
        from guichet.tenancy.models import Tenant, TenantStatus

        async with _platform(settings) as services:
            async with services.db.transaction(all_tenants=True) as session:
                tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
                if tenant is None:
                    raise click.ClickException(f"no tenant {slug!r}")
                tenant.status = TenantStatus(status)
                if message is not None:
                    tenant.maintenance_message = message
                audit(
                    session,
                    tenant_id=tenant.id,
                    actor_kind="system",
                    actor_id=None,
                    actor_name="guichet CLI",
                    action=f"tenant.{status}",
                    target=slug,
                )
            await services.resolver.invalidate()
        return f"tenant {slug}: {status}"

    click.echo(asyncio.run(work()))


@tenants.command("list")
def tenants_list() -> None:
    """Every tenant with its state and figures, as on /operator/."""
    settings = _settings()

    async def work() -> list[str]:
        from sqlalchemy import select

        from guichet.db.session import Database
        from guichet.operators.onboarding import tenant_figures
        from guichet.tenancy.models import Tenant

        db = Database(settings)
        try:
            async with db.session(all_tenants=True) as session:
                tenants = list(
                    (await session.execute(select(Tenant).order_by(Tenant.slug))).scalars()
                )
                figures = await tenant_figures(session)
        finally:
            await db.dispose()
        lines = []
        for tenant in tenants:
            numbers = figures.get(tenant.id, {})
            lines.append(
                f"{tenant.slug:30} {tenant.status.value:12} "
                f"spaces={numbers.get('citizens', 0)} "
                f"open_requests={numbers.get('open_requests', 0)} "
                f"unpaid={numbers.get('unpaid_cents', 0) / 100:.2f}  {tenant.name}"
            )
        return lines

    for line in asyncio.run(work()):
        click.echo(line)


@tenants.command("reinvite")
@click.argument("slug")
def tenants_reinvite(slug: str) -> None:
    """A new invitation to each administrator of SLUG who has not accepted theirs."""
    settings = _settings()

    async def work() -> int:
        from sqlalchemy import select

        from guichet.notifications.services import enqueue_delivery
        from guichet.operators.onboarding import reinvite_admins
        from guichet.tenancy.models import Tenant

        async with _platform(settings) as services:
            async with services.db.transaction(all_tenants=True) as session:
                tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
                if tenant is None:
                    raise click.ClickException(f"no tenant {slug!r}")
                queued = [
                    message_id
                    for _user, message_id in await reinvite_admins(session, services, tenant)
                ]
            enqueue_delivery(settings, queued)
        return len(queued)

    click.echo(f"{asyncio.run(work())} invitation(s) sent again")


@tenants.command("export")
@click.argument("slug")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the archive here.",
)
def tenants_export(slug: str, output: Path | None) -> None:
    """Write the tenant's data as one ZIP archive to the file store (exports/SLUG/)."""
    settings = _settings()

    async def work() -> str:
        from sqlalchemy import select

        from guichet.audit.services import audit
        from guichet.operators.archive import export_tenant
        from guichet.tenancy.models import Tenant

        async with _platform(settings) as services:
            async with services.db.transaction(all_tenants=True) as session:
                tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
                if tenant is None:
                    raise click.ClickException(f"no tenant {slug!r}")
                key, size, counts = await export_tenant(session, services.files, tenant)
                audit(
                    session,
                    tenant_id=tenant.id,
                    actor_kind="system",
                    actor_id=None,
                    actor_name="guichet CLI",
                    action="tenant.exported",
                    target=slug,
                    detail={"key": key, "size": size, "rows": sum(counts.values())},
                )
            if output is not None:
                await asyncio.to_thread(output.write_bytes, services.files.get(key))
        return f"{key}: {size} bytes, {sum(counts.values())} rows"

    click.echo(asyncio.run(work()))


@tenants.command("delete")
@click.argument("slug")
@click.option("--confirm", "confirm", required=True, help="The slug again.")
def tenants_delete(slug: str, confirm: str) -> None:
    """Delete a tenant and all its data; needs an export of the last seven days."""
    if confirm != slug:
        raise click.ClickException("--confirm must repeat the slug")
    settings = _settings()

    async def work() -> str:
        from sqlalchemy import select

        from guichet.audit.services import audit
        from guichet.operators.archive import delete_tenant, delete_tenant_files, recent_export
        from guichet.tenancy.models import Tenant

        async with _platform(settings) as services:
            async with services.db.transaction(all_tenants=True) as session:
                tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
                if tenant is None:
                    raise click.ClickException(f"no tenant {slug!r}")
                if await recent_export(session, tenant.id) is None:
                    raise click.ClickException(
                        f"no export of {slug} in the last 7 days: "
                        f"run `guichet tenants export {slug}`"
                    )
                tenant_id = tenant.id
                keys, rows = await delete_tenant(session, tenant)
                audit(
                    session,
                    tenant_id=tenant_id,
                    actor_kind="system",
                    actor_id=None,
                    actor_name="guichet CLI",
                    action="tenant.deleted",
                    target=slug,
                    detail={"rows": rows},
                )
            await services.resolver.invalidate()
            removed = await asyncio.to_thread(
                delete_tenant_files, services.files, tenant_id, slug, keys
            )
        return f"tenant {slug} deleted ({rows} rows, {removed} files)"

    click.echo(asyncio.run(work()))


@main.group()
def secrets() -> None:
    """GUICHET_SECRET_KEY rotation."""


@secrets.command("reencrypt")
def secrets_reencrypt() -> None:
    """Re-encrypt with GUICHET_SECRET_KEY what GUICHET_PREVIOUS_SECRET_KEYS encrypted: the
    ledgers' bank options and the staff's and operators' second-factor secrets."""
    settings = _settings()
    keys = settings.web.secret_keys
    if len(keys) < 2:
        raise click.ClickException(
            "GUICHET_PREVIOUS_SECRET_KEYS is empty: set it to the key being replaced"
        )

    async def work() -> Any:
        from guichet.db.session import Database
        from guichet.operators.rotation import reencrypt_all

        db = Database(settings)
        try:
            async with db.transaction(all_tenants=True) as session:
                return await reencrypt_all(session, keys)
        finally:
            await db.dispose()

    report = asyncio.run(work())
    click.echo(
        f"re-encrypted with the current key: {report.ledgers} ledger(s), {report.staff} staff "
        f"and {report.operators} operator second-factor secret(s)"
    )
    click.echo(
        f"{report.keys_not_used} service file(s) not linked yet: a key issued before the "
        "rotation opens only while the previous key is kept (it moves to the new key when "
        "used); keep GUICHET_PREVIOUS_SECRET_KEYS until they are used, or send new keys"
    )
    for name in report.unreadable:
        click.echo(f"unreadable with every key, to enter again: {name}", err=True)
    if report.unreadable:
        raise SystemExit(1)


@main.command()
def health() -> None:
    """Each dependency and backlog, as on /operator/sante; exit 1 when one is failing."""
    settings = _settings()

    async def work() -> list[Any]:
        from guichet.operators.health import system_checks

        async with _platform(settings) as services:
            async with services.db.session(all_tenants=True) as session:
                return await system_checks(session, services)

    checks = asyncio.run(work())
    for check in checks:
        click.echo(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    if not all(check.ok for check in checks):
        raise SystemExit(1)


async def _tenant_id(settings: Settings, slug: str) -> Any:
    from sqlalchemy import select

    from guichet.db.session import Database
    from guichet.tenancy.models import Tenant

    db = Database(settings)
    try:
        async with db.session(all_tenants=True) as session:
            tenant = (
                await session.execute(select(Tenant).where(Tenant.slug == slug))
            ).scalar_one_or_none()
    finally:
        await db.dispose()
    if tenant is None:
        raise click.ClickException(f"no tenant {slug!r}")
    return tenant.id


@billing.command("import")
@click.argument("slug")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def billing_import(slug: str, csv_file: Path) -> None:
    """Import invoices from a CSV file (columns: ledger;number;service;reference;label;
    issue_date;due_date;line_label;quantity;unit_price), one line per row."""
    settings = _settings()
    content = csv_file.read_bytes()

    from guichet.billing.imports import import_invoices, parse_csv

    invoices, problems, rows = parse_csv(content)

    async def work() -> Any:
        from guichet.db.session import Database

        tenant_id = await _tenant_id(settings, slug)
        db = Database(settings)
        try:
            async with db.transaction(tenant_id) as session:
                return await import_invoices(session, tenant_id, invoices)
        finally:
            await db.dispose()

    for problem in problems:
        if problem["index"] is None:  # the file's: not a CSV, a missing column
            click.echo(f"{csv_file}: {problem['field']}: {problem['message']}", err=True)
    if problems:
        _invoice_errors(csv_file, rows, [p for p in problems if p["index"] is not None])
        raise SystemExit(1)
    report = asyncio.run(work())
    click.echo(
        f"{len(report.created)} created, {len(report.unchanged)} unchanged, "
        f"{len(report.errors)} error(s)"
    )
    _invoice_errors(csv_file, rows, report.errors)
    if report.errors:
        raise SystemExit(1)


def _invoice_errors(csv_file: Path, rows: list[list[int]], errors: list[dict[str, Any]]) -> None:
    """Each error of an invoice import on its line of the file."""
    from guichet.billing.imports import csv_position

    for error in errors:
        index = error["index"]
        line, field_name = csv_position(rows[index] if index is not None else [], error["field"])
        where = f"line {line}" if line else "file"
        click.echo(
            f"{csv_file}: {where}: invoice {error['number'] or '?'}: "
            f"{field_name}: {error['message']}",
            err=True,
        )


@billing.command("import-items")
@click.argument("slug")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def billing_import_items(slug: str, csv_file: Path) -> None:
    """Import billable items (« prestations ») from a CSV file (columns: ledger;service;
    reference;date;label;quantity;unit_price), one item per row, for the billing runs of their
    months. Idempotent; nothing is taken when a row has an error."""
    settings = _settings()
    content = csv_file.read_bytes()

    async def work() -> Any:
        from guichet.billing.items import import_items, parse_items_csv
        from guichet.db.session import Database

        rows, lines, problems = parse_items_csv(content)
        if problems:
            return None, lines, problems
        tenant_id = await _tenant_id(settings, slug)
        db = Database(settings)
        try:
            async with db.transaction(tenant_id) as session:
                return await import_items(session, tenant_id, rows), lines, []
        finally:
            await db.dispose()

    report, lines, problems = asyncio.run(work())
    for _code, words in problems:
        click.echo(f"{csv_file}: {words}", err=True)
    if report is None:
        raise SystemExit(1)
    for problem in report.problems:
        where = f"line {lines[problem.index]}" if problem.index is not None else "file"
        words = problem.words(line_of=lines.__getitem__)
        click.echo(f"{csv_file}: {where}: {problem.field}: {words}", err=True)
    if report.problems:
        click.echo(f"{len(report.problems)} error(s): nothing imported", err=True)
        raise SystemExit(1)
    click.echo(f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged")


@main.command("settings-doc")
def settings_doc() -> None:
    """Print the table of GUICHET_* variables (docs/configuration.md)."""
    click.echo(settings_documentation(), nl=False)


if __name__ == "__main__":
    main()
