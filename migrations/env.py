"""Alembic environment: runs the migrations on SQLite or PostgreSQL with the async engine."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from guichet.models import Base
from guichet.settings import Settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if url:
        return str(url)
    settings = Settings.from_env()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    return settings.database_url


def _compare_type(_ctx, _inspected_col, _metadata_col, _inspected_type, metadata_type):  # type: ignore[no-untyped-def]
    """Portable types reflect differently per dialect (GUID as NUMERIC(16) on SQLite): skip them."""
    if isinstance(metadata_type, GUID | DateTimeUTC):
        return False
    return None


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=_compare_type,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
    else:
        asyncio.run(_run_async())
