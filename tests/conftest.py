"""Test fixtures: the suite runs on SQLite and on a real PostgreSQL + Redis.

``backend`` is parametrized over both. Each backend's database is built by the Alembic
migrations (never ``create_all``) and loaded with the tenant catalog of ``tenants/``. On
PostgreSQL the migrations run as the owner and the app connects as a separate plain role, so
row-level security applies to it exactly as in production.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from guichet.app import create_app
from guichet.cli import apply_folders, run_migrations
from guichet.settings import (
    DatabaseSettings,
    Settings,
    StoreSettings,
    WebSettings,
    WorkerSettings,
)
from tests.support import services as svc

ROOT = Path(__file__).resolve().parents[1]
TENANTS = [ROOT / "tenants" / "ccas-castres", ROOT / "tenants" / "mairie-valdoree"]


# The documented deterministic captcha (first image, audio code 1234); refused in production.
# The suite creates many accounts from one address: the signup limit is tested on its own.
TEST_WEB = WebSettings(
    captcha_test_mode=True, signups_per_ip_per_hour=10_000, logins_per_ip_per_hour=10_000
)


@dataclass
class Backend:
    name: str
    settings: Settings
    admin_url: str | None = None  # PostgreSQL: the owner's URL (migrations, RLS checks)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[svc.PgServer]:
    with svc.postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def redis_srv() -> Iterator[svc.RedisServer]:
    with svc.redis_server() as server:
        yield server


def _asyncpg_url(dsn_user: str, host: str, port: int, db: str) -> str:
    return f"postgresql+asyncpg://{dsn_user}@{host}:{port}/{db}"


def _isolated(function, *args):
    """Run blocking setup (Alembic and the catalog use asyncio.run) outside any running loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


def _setup(settings: Settings, migrations_url: str | None = None) -> None:
    run_migrations(settings, database_url=migrations_url)
    asyncio.run(apply_folders(settings, TENANTS, demo=True))


def make_sqlite_backend(tmp: Path) -> Backend:
    settings = Settings(
        mode="test",
        root=ROOT,
        var_dir=tmp,
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp / 'guichet.db'}"),
        web=TEST_WEB,
    )
    _isolated(_setup, settings)
    return Backend("sqlite", settings)


@pytest.fixture(scope="session")
def sqlite_backend() -> Iterator[Backend]:
    tmp = Path(tempfile.mkdtemp(prefix="guichet-test-sqlite-"))
    try:
        yield make_sqlite_backend(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def postgres_backend_on(pg_server: svc.PgServer, redis_srv: svc.RedisServer) -> Iterator[Backend]:
    """A database of its own on ``pg_server``, migrated as the owner, used by a plain role."""
    tmp = Path(tempfile.mkdtemp(prefix="guichet-test-pg-"))
    # As docs/operations.md asks: migrations run as the database's owner, a plain role (not a
    # superuser: row-level security, forced on the tenants' tables, applies to it too).
    owner = svc.create_role(pg_server, f"guichet_owner_{uuid.uuid4().hex[:10]}")
    dbname = svc.create_database(pg_server, owner=owner)
    role = svc.create_role(pg_server, f"guichet_app_{uuid.uuid4().hex[:10]}")
    namespace = f"guichettest{uuid.uuid4().hex[:10]}"
    admin_url = _asyncpg_url(owner, pg_server.host, pg_server.port, dbname)
    try:
        base = Settings(mode="test", root=ROOT, var_dir=tmp)
        _isolated(run_migrations, base, admin_url)
        with psycopg2.connect(pg_server.dsn(dbname, user=owner)) as conn, conn.cursor() as cur:
            cur.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
            cur.execute(
                f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"'
            )
            cur.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
            # as docs/operations.md asks: tables a later migration creates are granted too
            cur.execute(
                "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
                f'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{role}"'
            )
        settings = Settings(
            mode="test",
            root=ROOT,
            var_dir=tmp,
            database=DatabaseSettings(
                url=_asyncpg_url(role, pg_server.host, pg_server.port, dbname), pool_size=5
            ),
            store=StoreSettings(redis_url=redis_srv.url, namespace=namespace),
            worker=WorkerSettings(broker_url=redis_srv.url),
            web=TEST_WEB,
        )
        _isolated(lambda: asyncio.run(apply_folders(settings, TENANTS, demo=True)))
        yield Backend("postgresql", settings, admin_url=admin_url)
    finally:
        svc.drop_database(pg_server, dbname)
        svc.drop_role(pg_server, role)
        svc.drop_role(pg_server, owner)
        svc.cleanup_prefix(redis_srv.url, namespace)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_backend(pg_server: svc.PgServer, redis_srv: svc.RedisServer) -> Iterator[Backend]:
    with postgres_backend_on(pg_server, redis_srv) as backend:
        yield backend


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A database of its own for one test, for tests that change what every tenant shares."""
    if request.param == "sqlite":
        yield make_sqlite_backend(tmp_path)
    else:
        pg_server = request.getfixturevalue("pg_server")
        with postgres_backend_on(pg_server, request.getfixturevalue("redis_srv")) as backend:
            yield backend


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.getfixturevalue(f"{request.param}_backend")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def client(backend: Backend) -> AsyncIterator[AsyncTestClient]:
    app = create_app(backend.settings, configure_logs=False)
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


# The longest test (a quarter of the suite's time alone) goes first, so that with `pytest -n 2`
# one process crawls while the other takes the next tests (worksteal: the first to run out of
# work takes tests from the end of the other's share).
FIRST = "tests/e2e/test_a11y_crawl.py::"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The crawl first, the other browser tests after the rest. Playwright's sync API runs an
    event loop in the main thread while its browser is open, and the asyncio tests must not run
    meanwhile: the browser is module-scoped, so it is closed when a process moves on to another
    module, whatever the order (worksteal may hand a process asyncio tests after browser ones)."""
    items.sort(
        key=lambda item: 0 if item.nodeid.startswith(FIRST) else 1 + ("tests/e2e/" in item.nodeid)
    )


os.environ.setdefault("GUICHET_MODE", "test")


@pytest_asyncio.fixture(loop_scope="session")
async def web(client: AsyncTestClient) -> AsyncIterator[AsyncTestClient]:
    """The backend's client with an empty cookie jar: a new visitor for each test."""
    client.cookies.clear()
    yield client
    client.cookies.clear()


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) on a free port; (controller, inbox)."""
    from aiosmtpd.controller import Controller

    from tests.support.processes import Inbox, free_port

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()
