"""The broker is down right after a payment is committed: the bank is answered, the payment is
kept, and its confirmation email (a row of the outbox, committed with the payment) goes out
once the broker and a worker are back — once. Real redis-server, worker and SMTP server."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from guichet.app import create_app
from guichet.billing.models import Invoice, InvoiceStatus
from guichet.db.session import Database
from guichet.notifications.models import OutboxMessage
from guichet.notifications.services import SWEEP_TASK, _celery
from guichet.settings import EmailSettings, WorkerSettings
from tests.support.accounts import new_citizen
from tests.support.billing import bank_answer, invoice_for, notify, start_payment
from tests.support.processes import free_port, start_redis, start_worker, stop

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def confirmation(settings, email: str) -> OutboxMessage | None:
    db = Database(settings)
    try:
        async with db.session(all_tenants=True) as session:
            return (
                await session.execute(
                    select(OutboxMessage).where(
                        OutboxMessage.recipient == email, OutboxMessage.kind == "payment_confirmed"
                    )
                )
            ).scalar_one_or_none()
    finally:
        await db.dispose()


async def invoice_status(settings, invoice_id) -> str:
    db = Database(settings)
    try:
        async with db.session(all_tenants=True) as session:
            return (await session.get(Invoice, invoice_id)).status
    finally:
        await db.dispose()


async def test_payment_email_waits_for_the_broker_and_goes_out_once(sqlite_backend, smtp, tmp_path):
    controller, inbox = smtp
    port = free_port()  # nothing listens there: the broker is down
    settings = dataclasses.replace(
        sqlite_backend.settings,
        email=EmailSettings(smtp_host="127.0.0.1", smtp_port=controller.port, smtp_starttls=False),
        worker=WorkerSettings(broker_url=f"redis://127.0.0.1:{port}/0"),
    )
    payer = f"payeur{time.time_ns() % 10**9}@exemple.fr"
    app = create_app(settings, configure_logs=False)
    async with AsyncTestClient(app=app) as web:
        username, _ = await new_citizen(web, settings)
        invoice_id = await invoice_for(settings, "ccas-castres", username)
        fields = await start_payment(web, invoice_id, email=payer)
        started = time.monotonic()
        answer = await notify(web, bank_answer(settings, fields))
        assert answer.status_code == 200 and answer.text == "OK"  # the bank is answered
        assert time.monotonic() - started < 10
    assert await invoice_status(settings, invoice_id) == InvoiceStatus.PAID
    waiting = await confirmation(settings, payer)
    assert waiting is not None and waiting.sent_at is None
    assert inbox.messages == []

    redis = start_redis(port)
    worker = start_worker(settings, tmp_path)
    try:
        _celery(settings).send_task(SWEEP_TASK)  # what beat asks for every minute
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            row = await confirmation(settings, payer)
            if row is not None and row.sent_at is not None:
                break
            await asyncio.sleep(0.3)
        log = (tmp_path / "worker.log").read_text()[-3000:]
        assert row is not None and row.sent_at is not None, log
        _celery(settings).send_task(SWEEP_TASK)  # a second sweep sends nothing again
        await asyncio.sleep(1.5)
        mine = [m for m in inbox.messages if m["To"] == payer]
        assert len(mine) == 1, [m["Subject"] for m in mine]
        assert "paiement" in mine[0]["Subject"].lower()
    finally:
        stop(worker, redis)
