"""PostgreSQL restarts under load (a throwaway cluster of the test's own, stopped with ``-m fast``
and started again): while it is away, pages answer a clear 503, never a 500; the pool recovers
by itself; a bank notification that arrives during the outage is refused (the bank sends it
again) and no payment is ever half-applied."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from guichet.app import create_app
from guichet.billing.models import Invoice, Payment
from guichet.db.session import Database
from tests.conftest import Backend, postgres_backend_on
from tests.support import services as svc
from tests.support.accounts import FR, new_citizen
from tests.support.billing import bank_answer, invoice_for, notify, start_payment

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def restartable(redis_srv: svc.RedisServer) -> Iterator[tuple[svc.PgServer, Backend]]:
    with svc.postgres_server(force_throwaway=True) as server:
        with postgres_backend_on(server, redis_srv) as backend:
            yield server, backend


async def payments_of(settings: Any, invoice_id: Any) -> tuple[int, int, int]:
    """(payments, their total, the invoice's paid amount)."""
    db = Database(settings)
    try:
        async with db.session(all_tenants=True) as session:
            count, total = (
                await session.execute(
                    select(func.count(), func.coalesce(func.sum(Payment.amount_cents), 0)).where(
                        Payment.invoice_id == invoice_id
                    )
                )
            ).one()
            paid = (await session.get(Invoice, invoice_id)).paid_cents
            return count, total, paid
    finally:
        await db.dispose()


async def test_the_pool_recovers_and_no_payment_is_half_applied(restartable):
    server, backend = restartable
    settings = backend.settings
    app = create_app(settings, configure_logs=False)
    async with AsyncTestClient(app=app) as web:
        username, _ = await new_citizen(web, settings)
        invoice_id = await invoice_for(settings, "ccas-castres", username)
        fields = await start_payment(web, invoice_id)
        answer = bank_answer(settings, fields)
        invoices = "/ccas-castres/mon-espace/factures"
        assert (await web.get(invoices, headers=FR)).status_code == 200

        statuses: Counter[int] = Counter()
        stop = asyncio.Event()

        async def load() -> None:  # a reader that never stops asking
            while not stop.is_set():
                response = await web.get(invoices, headers=FR)
                statuses[response.status_code] += 1
                if response.status_code == 503:
                    assert "Service momentanément indisponible" in response.text
                await asyncio.sleep(0.01)

        readers = [asyncio.create_task(load()) for _ in range(4)]
        try:
            await asyncio.sleep(0.5)
            await asyncio.to_thread(svc.stop_postgres, server)
            during = await notify(web, answer)  # the bank calls while the database is away
            await asyncio.sleep(1.0)
            await asyncio.to_thread(svc.start_postgres, server)
            # Back by itself: within a few seconds every reader gets its page again.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if (await web.get(invoices, headers=FR)).status_code == 200:
                    break
                await asyncio.sleep(0.2)
            before = statuses[200]
            await asyncio.sleep(1.0)
            assert statuses[200] > before, statuses
        finally:
            stop.set()
            for reader in readers:
                with contextlib.suppress(Exception):
                    await reader

        assert statuses[503] >= 1 and statuses[500] == 0, statuses
        assert set(statuses) <= {200, 503}, statuses
        # The notification during the outage was refused, and nothing of it was kept.
        assert during.status_code == 503, (during.status_code, during.text)
        assert await payments_of(settings, invoice_id) == (0, 0, 0)
        # The bank sends it again: applied once.
        assert (await notify(web, answer)).status_code == 200
        assert (await notify(web, answer)).status_code == 200
        assert await payments_of(settings, invoice_id) == (1, 853, 853)


async def backend_pid(db: Database) -> int:
    async with db.session(all_tenants=True) as session:
        return int((await session.execute(select(func.pg_backend_pid()))).scalar_one())


async def terminate(settings: Any, pid: int) -> None:
    """Ends one server process, as a restart ends them all (a role may end its own)."""
    killer = Database(settings)
    try:
        async with killer.session(all_tenants=True) as session:
            await session.execute(select(func.pg_terminate_backend(pid)))
    finally:
        await killer.dispose()


async def test_an_idle_connection_is_tried_before_it_is_lent(postgres_backend, monkeypatch):
    """A connection whose server process ended while it sat in the pool is replaced before use:
    the first page after a quiet night does not fail."""
    from guichet.db import session as db_session

    db = Database(postgres_backend.settings)
    try:
        pid = await backend_pid(db)
        await terminate(postgres_backend.settings, pid)
        monkeypatch.setattr(db_session, "IDLE_BEFORE_PING", 0.0)  # « idle » from now on
        renewed = await backend_pid(db)  # no error: tried, found dead, replaced
        assert renewed != pid
    finally:
        await db.dispose()


async def test_a_connection_in_steady_use_is_not_pinged(postgres_backend):
    """Not tried when used a moment ago (the ping cost a round trip on every page): if its
    server process ended, one statement fails as a disconnection (the 503 page), and the pool
    is renewed at once."""
    from sqlalchemy.exc import DBAPIError

    db = Database(postgres_backend.settings)
    try:
        pid = await backend_pid(db)
        await terminate(postgres_backend.settings, pid)
        with pytest.raises(DBAPIError) as failed:
            await backend_pid(db)
        assert failed.value.connection_invalidated
        assert await backend_pid(db) != pid
    finally:
        await db.dispose()
