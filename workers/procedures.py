"""Requests upkeep."""

from __future__ import annotations

from celery import shared_task

from guichet.db.session import Database
from guichet.files import create_file_store
from guichet.procedures.maintenance import PURGE_DRAFTS_TASK, purge_anonymous_drafts
from workers.base import run_with_database, settings

__all__ = ["purge_drafts"]


@shared_task(name=PURGE_DRAFTS_TASK, acks_late=True)
def purge_drafts() -> int:
    async def work(db: Database) -> int:
        async with db.session(all_tenants=True) as session:
            return await purge_anonymous_drafts(session, create_file_store(settings()))

    return run_with_database(work)
