"""Billing runs in the worker (late acknowledgement: an interrupted run is run again, and
resumes where it stopped)."""

from __future__ import annotations

import uuid

from celery import shared_task

from guichet.billing.runs import RUN_TASK, SWEEP_PARTS_TASK, execute_run, sweep_print_parts
from guichet.billing.services import (
    EXPIRE_TASK,
    REMIND_TASK,
    expire_attempts,
    send_reminders,
)
from guichet.db.session import Database
from guichet.files import create_file_store
from guichet.notifications.services import enqueue_delivery
from guichet.web.templates import TemplateRenderer
from workers.base import run_with_database, settings

__all__ = ["expire", "remind", "run", "sweep_parts"]


@shared_task(name=RUN_TASK, acks_late=True)
def run(tenant_id: str, run_id: str) -> int:
    async def work(db: Database) -> int:
        conf = settings()
        queued = await execute_run(
            db,
            conf,
            TemplateRenderer(conf.themes_dir),
            create_file_store(conf),
            uuid.UUID(tenant_id),
            uuid.UUID(run_id),
        )
        enqueue_delivery(conf, queued)
        return len(queued)

    return run_with_database(work)


@shared_task(name=EXPIRE_TASK, acks_late=True)
def expire() -> int:
    async def work(db: Database) -> int:
        async with db.session(all_tenants=True) as session:
            return await expire_attempts(session)

    return run_with_database(work)


@shared_task(name=REMIND_TASK, acks_late=True)
def remind() -> int:
    async def work(db: Database) -> int:
        conf = settings()
        async with db.session(all_tenants=True) as session:
            queued = await send_reminders(session, conf, TemplateRenderer(conf.themes_dir))
        enqueue_delivery(conf, queued)
        return len(queued)

    return run_with_database(work)


@shared_task(name=SWEEP_PARTS_TASK, acks_late=True)
def sweep_parts() -> int:
    async def work(db: Database) -> int:
        async with db.session(all_tenants=True) as session:
            return await sweep_print_parts(session, create_file_store(settings()))

    return run_with_database(work)
