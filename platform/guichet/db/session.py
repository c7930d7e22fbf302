"""Engine and sessions; the tenant of each transaction for PostgreSQL row-level security.

A session opened for a tenant (``session.info["tenant_id"]``) sets the transaction-local setting
``guichet.tenant_id`` at the start of every transaction; the RLS policies created by the
migrations compare each row's ``tenant_id`` with it. Platform-level work (the catalog, operators)
opens a session with ``all_tenants=True`` instead, which sets ``guichet.all_tenants``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
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
        kwargs["pool_pre_ping"] = True
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

    return engine


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
