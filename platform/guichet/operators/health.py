"""What operators check first when something goes wrong: each dependency answers or not, and
the backlogs that tell whether the workers keep up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.billing.models import BillingRun, RunStatus
from guichet.notifications.models import OutboxMessage

__all__ = ["Check", "system_checks"]


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


async def _probe(name: str, work: Any) -> Check:
    try:
        detail = await asyncio.wait_for(work(), timeout=3)
        return Check(name, True, str(detail or "OK"))
    except Exception as exc:
        return Check(name, False, f"{type(exc).__name__}: {str(exc)[:200]}")


async def system_checks(db: AsyncSession, services: Any) -> list[Check]:
    async def database() -> str:
        await db.execute(text("SELECT 1"))
        return services.settings.database_url.split(":", 1)[0]

    async def store() -> str:
        namespace = services.store.with_namespace("health")
        await namespace.set("ping", "1", expires_in=10)
        return "OK" if await namespace.get("ping") else "no answer"

    async def files() -> str:
        await asyncio.to_thread(services.files.check)
        return "OK"

    async def broker() -> str:
        from guichet.notifications.services import _celery

        def connect() -> str:
            with _celery(services.settings).connection_for_write() as connection:
                connection.ensure_connection(max_retries=0)
            return services.settings.broker_url.split(":", 1)[0]

        return await asyncio.to_thread(connect)

    async def outbox() -> str:
        pending = await db.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.sent_at.is_(None))
        )
        oldest = await db.scalar(
            select(func.min(OutboxMessage.created_at)).where(OutboxMessage.sent_at.is_(None))
        )
        if oldest is not None and datetime.now(UTC) - oldest > timedelta(minutes=15):
            raise RuntimeError(f"{pending} email(s) waiting, the oldest since {oldest:%d/%m %H:%M}")
        return f"{pending or 0} email(s) waiting"

    async def runs() -> str:
        stale = await db.scalar(
            select(func.count(BillingRun.id)).where(
                BillingRun.status.in_((RunStatus.QUEUED, RunStatus.RUNNING)),
                BillingRun.updated_at < datetime.now(UTC) - timedelta(minutes=30),
            )
        )
        failed = await db.scalar(
            select(func.count(BillingRun.id)).where(BillingRun.status == RunStatus.FAILED)
        )
        if stale:
            raise RuntimeError(f"{stale} billing run(s) waiting for more than 30 minutes")
        return f"{failed or 0} failed run(s) in all"

    return [
        await _probe("database", database),
        await _probe("store (sessions, limits)", store),
        await _probe("file store", files),
        await _probe("broker (workers)", broker),
        await _probe("outbox", outbox),
        await _probe("billing runs", runs),
    ]
