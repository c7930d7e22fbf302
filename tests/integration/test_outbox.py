"""Emails are never lost: written with the change, delivered by a real Celery worker to a real
SMTP server (aiosmtpd), including when the broker was down at the time of the change."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from guichet.notifications.services import SWEEP_TASK, _celery, enqueue_delivery
from guichet.settings import EmailSettings, WorkerSettings
from tests.support.outbox import queue_activation, sent_state
from tests.support.processes import free_port, start_redis, start_worker, stop

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def wait_for(predicate, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.2)
    return False


async def test_email_written_while_the_broker_is_down_is_delivered_once_it_is_back(
    sqlite_backend, smtp, tmp_path
):
    controller, inbox = smtp
    port = free_port()  # nothing listens there yet: the broker is down
    settings = dataclasses.replace(
        sqlite_backend.settings,
        email=EmailSettings(smtp_host="127.0.0.1", smtp_port=controller.port, smtp_starttls=False),
        worker=WorkerSettings(broker_url=f"redis://127.0.0.1:{port}/0"),
    )
    username = f"outbox{time.time_ns() % 10**8}"
    ids = await queue_activation(settings, username)
    started = time.monotonic()
    enqueue_delivery(settings, ids)  # fails quietly: the change is committed, the email waits
    assert time.monotonic() - started < 5
    assert await sent_state(settings, ids) == [None]
    assert inbox.messages == []

    redis = start_redis(port)
    worker = start_worker(settings, tmp_path)
    try:
        # What beat does every minute: ask for a sweep through the broker.
        _celery(settings).send_task(SWEEP_TASK)

        async def delivered():
            return all(await sent_state(settings, ids))

        assert await wait_for(delivered), (tmp_path / "worker.log").read_text()[-3000:]
        mine = [m for m in inbox.messages if m["To"] == f"{username}@exemple.fr"]
        assert len(mine) == 1
        assert "Activez votre espace" in mine[0]["Subject"]
        assert mine[0].get_body(("plain",)) and mine[0].get_body(("html",))

        # With the broker up, a new email goes out right away through the deliver task.
        other = f"{username}b"
        more = await queue_activation(settings, other)
        enqueue_delivery(settings, more)

        async def delivered_more():
            return all(await sent_state(settings, more))

        assert await wait_for(delivered_more), (tmp_path / "worker.log").read_text()[-3000:]
        # A second sweep sends nothing twice.
        _celery(settings).send_task(SWEEP_TASK)
        await asyncio.sleep(1.5)
        assert len([m for m in inbox.messages if m["To"] == f"{other}@exemple.fr"]) == 1
        assert len([m for m in inbox.messages if m["To"] == f"{username}@exemple.fr"]) == 1
    finally:
        stop(worker, redis)
