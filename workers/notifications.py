"""Email delivery from the outbox: right after a change (by id) and by a periodic sweep."""

from __future__ import annotations

import time
import uuid

from celery import shared_task

from guichet.db.session import Database
from guichet.notifications.services import DELIVER_TASK, SWEEP_TASK, send_pending
from workers.base import run_with_database, settings

__all__ = ["deliver", "sweep"]

SWEEP_SECONDS = 45.0


@shared_task(name=DELIVER_TASK, acks_late=True)
def deliver(message_id: str) -> int:
    async def work(db: Database) -> int:
        async with db.session(all_tenants=True) as session:
            return await send_pending(session, settings(), uuid.UUID(message_id))

    return run_with_database(work)


@shared_task(name=SWEEP_TASK, acks_late=True)
def sweep() -> int:
    """Deliver every due message: those the broker never carried, and retries."""

    async def work(db: Database) -> int:
        # Batches of 100 until nothing is due, within a budget shorter than beat's minute: after
        # a broker outage the backlog goes out in one sweep, not 100 a minute.
        sent, deadline = 0, time.monotonic() + SWEEP_SECONDS
        while time.monotonic() < deadline:
            async with db.session(all_tenants=True) as session:
                batch = await send_pending(session, settings())
            sent += batch
            if batch == 0:
                break
        return sent

    return run_with_database(work)
