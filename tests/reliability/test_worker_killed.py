"""A worker killed (SIGKILL) in the middle of sending an email: the task, acknowledged only
when done, goes to the next worker, and exactly one email arrives. Real redis-server, workers
and SMTP server; the SMTP server holds the first delivery open until the worker is dead."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from guichet.notifications.services import enqueue_delivery
from guichet.settings import EmailSettings, WorkerSettings
from tests.support.outbox import queue_activation, sent_state
from tests.support.processes import free_port, start_redis, start_worker, stop

pytestmark = pytest.mark.asyncio(loop_scope="session")


class HoldingInbox:
    """Accepts a message only when it answers 250; the first one is held, then refused."""

    def __init__(self) -> None:
        self.messages: list = []
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        if not self.holding.is_set():
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 the sender went away"  # never delivered
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


async def test_a_killed_worker_s_email_is_sent_once_by_the_next(sqlite_backend, tmp_path):
    inbox = HoldingInbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    port = free_port()
    settings = dataclasses.replace(
        sqlite_backend.settings,
        email=EmailSettings(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False),
        worker=WorkerSettings(broker_url=f"redis://127.0.0.1:{port}/0", visibility_timeout=3),
    )
    redis = start_redis(port)
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    worker = start_worker(settings, tmp_path / "first")
    try:
        username = f"tue{time.time_ns() % 10**8}"
        ids = await queue_activation(settings, username)
        enqueue_delivery(settings, ids)
        assert await asyncio.to_thread(inbox.holding.wait, 60), (
            tmp_path / "first" / "worker.log"
        ).read_text()[-3000:]
        worker.kill()  # SIGKILL, in the middle of the SMTP conversation
        worker.wait(timeout=10)
        worker.log.close()  # type: ignore[attr-defined]
        inbox.release.set()
        assert await sent_state(settings, ids) == [None]

        worker = start_worker(settings, tmp_path / "second")  # no sweep asked: redelivery only
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(await sent_state(settings, ids)):
            await asyncio.sleep(0.3)
        log = (tmp_path / "second" / "worker.log").read_text()[-3000:]
        assert all(await sent_state(settings, ids)), log
        await asyncio.sleep(1.5)
        mine = [m for m in inbox.messages if m["To"] == f"{username}@exemple.fr"]
        assert len(mine) == 1, len(mine)
    finally:
        inbox.release.set()
        stop(worker, redis)
        smtp.stop()


async def test_a_billing_run_killed_mid_pdfs_ends_with_one_pdf_per_invoice(
    sqlite_backend, tmp_path
):
    """SIGKILL while the worker renders a run's PDFs: the next worker takes the run again and
    ends it — the same invoices (no second number), each with one stored PDF."""
    from sqlalchemy import func, select

    from guichet.billing.models import BillingRun, Invoice
    from guichet.billing.runs import RUN_TASK, create_run
    from guichet.files import create_file_store
    from guichet.notifications.services import _celery
    from tests.support.billing import ledger_with_items

    port = free_port()
    settings = dataclasses.replace(
        sqlite_backend.settings,
        worker=WorkerSettings(broker_url=f"redis://127.0.0.1:{port}/0", visibility_timeout=3),
    )
    db, tenant_id, code, ledger_id = await ledger_with_items(settings, accounts=120)
    async with db.transaction(tenant_id) as session:
        run_id = (await create_run(session, tenant_id, code, "2020-02")).id

    async def state() -> tuple[str, int, int]:
        async with db.session(tenant_id) as session:
            run = await session.get(BillingRun, run_id)
            count = await session.scalar(
                select(func.count()).select_from(Invoice).where(Invoice.ledger_id == ledger_id)
            )
            return run.status, run.pdfs_rendered, count

    redis = start_redis(port)
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    worker = start_worker(settings, tmp_path / "first")
    try:
        _celery(settings).send_task(RUN_TASK, args=[str(tenant_id), str(run_id)])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            _status, rendered, _count = await state()
            if rendered > 0:
                break
            await asyncio.sleep(0.1)
        _status, rendered, invoices = await state()
        assert 0 < rendered < 120, (rendered, (tmp_path / "first/worker.log").read_text()[-2000:])
        assert invoices == 120  # every invoice made before the PDFs start
        worker.kill()  # in the middle of the PDFs
        worker.wait(timeout=10)
        worker.log.close()  # type: ignore[attr-defined]

        worker = start_worker(settings, tmp_path / "second")  # redelivery only
        while time.monotonic() < deadline + 120:
            status, rendered, count = await state()
            if status == "done":
                break
            await asyncio.sleep(0.3)
        log = (tmp_path / "second" / "worker.log").read_text()[-3000:]
        assert (status, rendered, count) == ("done", 120, 120), log
        files = create_file_store(settings)
        async with db.session(tenant_id) as session:
            rows = list(
                (
                    await session.execute(select(Invoice).where(Invoice.ledger_id == ledger_id))
                ).scalars()
            )
        assert len({invoice.number for invoice in rows}) == 120
        assert all(invoice.pdf_key and files.exists(invoice.pdf_key) for invoice in rows)
        assert len({invoice.pdf_key for invoice in rows}) == 120
    finally:
        stop(worker, redis)
        await db.dispose()
