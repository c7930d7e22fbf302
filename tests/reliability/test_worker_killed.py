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
from tests.integration.test_outbox import queue_activation, sent_state
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
