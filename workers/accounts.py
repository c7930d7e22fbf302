"""Accounts upkeep."""

from __future__ import annotations

from celery import shared_task

from guichet.accounts.maintenance import PURGE_TASK, purge_unactivated
from guichet.db.session import Database
from guichet.files import create_file_store
from workers.base import run_with_database, settings

__all__ = ["purge"]


@shared_task(name=PURGE_TASK, acks_late=True)
def purge() -> int:
    async def work(db: Database) -> int:
        async with db.session(all_tenants=True) as session:
            return await purge_unactivated(session, create_file_store(settings()))

    return run_with_database(work)
