"""Engine and sessions; the tenant of each transaction for PostgreSQL row-level security.

A session opened for a tenant (``session.info["tenant_id"]``) sets the transaction-local setting
``guichet.tenant_id`` at the start of every transaction; the RLS policies created by the
migrations compare each row's ``tenant_id`` with it. Platform-level work (the catalog, operators)
opens a session with ``all_tenants=True`` instead, which sets ``guichet.all_tenants``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, exc, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction

from guichet.settings import Settings

__all__ = ["Database", "create_engine"]


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.database_url
    kwargs: dict[str, Any] = {"echo": settings.database.echo}
    if url.startswith("sqlite"):
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_size"] = settings.database.pool_size
    engine = create_async_engine(url, **kwargs)
    if not url.startswith("sqlite"):
        _ping_when_idle(engine)
    if url.startswith("sqlite"):

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

    return engine


# A connection back in the pool for longer than this is tried before it is lent again.
IDLE_BEFORE_PING = 10.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    """SQLAlchemy's ``pool_pre_ping``, for connections that sat idle only.

    Pinging on every checkout cost a round trip to PostgreSQL and about 5 % of a page's CPU
    (bench/README.md). A connection in steady use is not pinged: if the server restarted under
    it, its first statement fails as a disconnection, SQLAlchemy then renews every connection
    of the pool made before, and that request answers the 503 page
    (``tests/reliability/test_postgres_restart.py``). A connection idle for a while, as after a
    quiet night during which the server restarted, is tried first, so that nobody gets that
    page for a restart long past.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < IDLE_BEFORE_PING:
            return  # a new connection, or one used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # renew this one and every older one; SQLAlchemy retries the checkout
            raise exc.InvalidatePoolError(str(error)) from error


# Built once: a new text() per transaction cost its cache key every time (bench/README.md).
_SET_TENANT = text(
    "SELECT set_config('guichet.tenant_id', :tenant, true), "
    "set_config('guichet.all_tenants', :all, true)"
)


def _set_tenant_for_transaction(
    session: Session, _transaction: SessionTransaction, connection: Connection
) -> None:
    if connection.dialect.name != "postgresql" or not session.info.get("rls", True):
        return
    tenant_id = session.info.get("tenant_id")
    all_tenants = session.info.get("all_tenants", False)
    connection.execute(
        _SET_TENANT,
        {"tenant": str(tenant_id) if tenant_id else "", "all": "on" if all_tenants else "off"},
    )


class TenantSession(Session):
    """Sync session class behind every AsyncSession of the platform (carries the RLS hook)."""


event.listen(TenantSession, "after_begin", _set_tenant_for_transaction)


class Database:
    """The engine and session factory of one process."""

    def __init__(self, settings: Settings, engine: AsyncEngine | None = None) -> None:
        self.settings = settings
        self.engine = engine or create_engine(settings)
        self._factory = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=TenantSession
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(
        self, tenant_id: uuid.UUID | None = None, *, all_tenants: bool = False
    ) -> AsyncSession:
        """A session scoped to one tenant, or to all of them for platform-level work."""
        if tenant_id is None and not all_tenants:
            raise ValueError("a session is opened for one tenant or explicitly for all tenants")
        session = self._factory()
        session.info["tenant_id"] = tenant_id
        session.info["all_tenants"] = all_tenants
        session.info["rls"] = self.settings.database.rls
        return session

    @asynccontextmanager
    async def transaction(
        self, tenant_id: uuid.UUID | None = None, *, all_tenants: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """A session that commits at the end of the block, or rolls back on error."""
        async with self.session(tenant_id, all_tenants=all_tenants) as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def dispose(self) -> None:
        await self.engine.dispose()
