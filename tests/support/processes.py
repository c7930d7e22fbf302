"""Real servers and processes for the tests: an SMTP inbox (aiosmtpd), a redis-server and a
Celery worker of the test's own, started and stopped by the test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from email import message_from_bytes, policy
from pathlib import Path

from tests.conftest import ROOT


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def guichet_cli(settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``guichet ARGS…`` in a subprocess on the test's database and files (``env``: more
    GUICHET_* variables)."""
    return subprocess.run(
        [sys.executable, "-m", "guichet.cli", *args],
        capture_output=True,
        text=True,
        env={
            "GUICHET_DATABASE_URL": settings.database_url,
            "GUICHET_VAR_DIR": str(settings.var_dir),
            "GUICHET_ROOT": str(ROOT),
            "PATH": "/usr/bin:/bin",
            **env,
        },
        timeout=120,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(port: int) -> subprocess.Popen:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    # Ready when *this* process answers: with two pytest processes picking free ports, another
    # test's server may hold the port (then this one exits: "Address already in use").
    import redis

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited at start: is port {port} taken?")
        try:
            client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
            with client:
                if client.info("server")["process_id"] == process.pid:
                    return process
        except redis.ConnectionError:
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start")


def start_worker(
    settings,
    tmp: Path,
    extra_env: dict[str, str] | None = None,
    pool: tuple[str, ...] = ("--pool=solo", "--concurrency=1"),
) -> subprocess.Popen:
    env = {
        **os.environ,
        "GUICHET_ROOT": str(ROOT),
        "GUICHET_VAR_DIR": str(settings.var_dir),
        "GUICHET_DATABASE_URL": settings.database_url,
        "GUICHET_BROKER_URL": settings.worker.broker_url,
        "GUICHET_BROKER_VISIBILITY_TIMEOUT": str(settings.worker.visibility_timeout),
        "GUICHET_STORE_NAMESPACE": settings.store.namespace,
        "GUICHET_SMTP_HOST": settings.email.smtp_host,
        "GUICHET_SMTP_PORT": str(settings.email.smtp_port),
        "GUICHET_SMTP_STARTTLS": "false",
        "GUICHET_MODE": "test",
        **(extra_env or {}),
    }
    log = open(tmp / "worker.log", "wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.celery_app",
            "worker",
            *pool,
            "--loglevel=WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    process.log = log  # type: ignore[attr-defined]
    return process


def stop(worker: subprocess.Popen, redis: subprocess.Popen) -> None:
    worker.terminate()
    worker.wait(timeout=20)
    worker.log.close()  # type: ignore[attr-defined]
    redis.terminate()
    redis.wait(timeout=10)
