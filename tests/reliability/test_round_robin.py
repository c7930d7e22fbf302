"""Two web processes and two workers on one machine, behind a round-robin, act as one: a
citizen's wizard (captcha included), activation, sign-in, invoice and payment go on from one
process to the other at every request, the workers share the emails. The web tier keeps
nothing of its own (sessions, captchas and limits in Redis; rows in PostgreSQL; files in the
shared store), which is what lets Kubernetes run as many as needed."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import os
import re
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from guichet.settings import EmailSettings, WorkerSettings
from tests.conftest import ROOT
from tests.support.accounts import FR, STRONG, login, post_form, wizard
from tests.support.billing import bank_answer, invoice_for, start_payment
from tests.support.processes import free_port, start_worker

pytestmark = pytest.mark.asyncio(loop_scope="session")


class RoundRobin:
    """A TCP proxy (threads of its own, off the test's event loop) that gives each new
    connection to the next backend in turn."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = itertools.cycle(backends)
        self.served: Counter[int] = Counter()
        self.lock = threading.Lock()
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with proxy.lock:
                    port = next(proxy.backends)
                    proxy.served[port] += 1
                try:
                    upstream = socket.create_connection(("127.0.0.1", port))
                except OSError:
                    return
                with upstream:
                    other = threading.Thread(target=_pipe, args=(upstream, self.request))
                    other.start()
                    _pipe(self.request, upstream)
                    other.join(timeout=30)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def start_web(settings, port: int, public_url: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "GUICHET_MODE": "test",
        "GUICHET_ROOT": str(ROOT),
        "GUICHET_VAR_DIR": str(settings.var_dir),
        "GUICHET_DATABASE_URL": settings.database_url,
        "GUICHET_REDIS_URL": settings.store.redis_url,
        "GUICHET_STORE_NAMESPACE": settings.store.namespace,
        "GUICHET_BROKER_URL": settings.worker.broker_url,
        "GUICHET_SMTP_HOST": settings.email.smtp_host,
        "GUICHET_SMTP_PORT": str(settings.email.smtp_port),
        "GUICHET_SMTP_STARTTLS": "false",
        "GUICHET_CAPTCHA_TEST_MODE": "true",
        "GUICHET_PUBLIC_URL": public_url,
        "GUICHET_SECRET_KEY": settings.web.secret_key,
        "GUICHET_LOG_LEVEL": "WARNING",
    }
    with log.open("wb") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "guichet"), "web", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


async def wait_for_mail(inbox, recipient: str, count: int = 1, seconds: float = 60) -> list:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        mine = [m for m in inbox.messages if m["To"] == recipient]
        if len(mine) >= count:
            return mine
        await asyncio.sleep(0.2)
    raise AssertionError(f"no email to {recipient}")


async def test_two_web_processes_and_two_workers_act_as_one(postgres_backend, smtp, tmp_path):
    controller, inbox = smtp
    settings = dataclasses.replace(
        postgres_backend.settings,
        email=EmailSettings(smtp_host="127.0.0.1", smtp_port=controller.port, smtp_starttls=False),
        worker=WorkerSettings(broker_url=postgres_backend.settings.store.redis_url),
    )
    ports = [free_port(), free_port()]
    proxy = RoundRobin(ports)
    proxy.start()
    public = f"http://127.0.0.1:{proxy.port}"
    webs = [start_web(settings, port, public, tmp_path / f"web{port}.log") for port in ports]
    workers = []
    for n in (1, 2):
        (tmp_path / f"worker{n}").mkdir()
        workers.append(start_worker(settings, tmp_path / f"worker{n}"))
    client = httpx.AsyncClient(
        base_url=public,
        follow_redirects=True,
        timeout=30,
        limits=httpx.Limits(max_keepalive_connections=0),  # a new connection, a new process
    )
    try:
        deadline = time.monotonic() + 60
        for port in ports:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        break
                await asyncio.sleep(0.2)
        username = f"rr{time.time_ns() % 10**8}"
        email = f"{username}@exemple.fr"
        done = await wizard(client, "ccas-castres", username=username, email=email)
        assert "Votre espace est créé" in done.text, done.text[:2000]
        [activation] = await wait_for_mail(inbox, email)
        link = re.search(r"(https?://\S+)", activation.get_body(("plain",)).get_content())
        assert link and link.group(1).startswith(public), activation
        activated = await post_form(client, link.group(1).replace(public, ""), {})
        assert activated.status_code == 200
        signed_in = await login(client, "ccas-castres", username, STRONG)
        assert str(signed_in.url).endswith("/mon-espace"), signed_in.status_code
        for _ in range(4):  # every page, whichever process answers
            page = await client.get("/ccas-castres/mon-espace/factures", headers=FR)
            assert page.status_code == 200 and "MES FACTURES" in page.text.upper()

        invoice_id = await invoice_for(settings, "ccas-castres", username)
        payer = f"payeur-{username}@exemple.fr"
        fields = await start_payment(client, invoice_id, email=payer)
        notified = await client.post(
            "/ccas-castres/paiement/notification",
            content=httpx.QueryParams(bank_answer(settings, fields)).__str__(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert notified.status_code == 200, notified.text
        invoice = await client.get(f"/ccas-castres/mon-espace/factures/{invoice_id}", headers=FR)
        assert "Facture réglée" in invoice.text or "réglée" in invoice.text
        [confirmation] = await wait_for_mail(inbox, payer)
        assert "paiement" in confirmation["Subject"].lower()

        assert all(proxy.served[port] >= 8 for port in ports), proxy.served
    finally:
        await client.aclose()
        for process in webs + workers:
            process.terminate()
        for process in webs + workers:
            process.wait(timeout=30)
        for worker in workers:
            worker.log.close()  # type: ignore[attr-defined]
        proxy.stop()
