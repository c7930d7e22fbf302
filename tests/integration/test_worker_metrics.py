"""A real worker (prefork pool of two processes) counts its tasks and serves them to Prometheus
behind the metrics token; the pool's processes add up through PROMETHEUS_MULTIPROC_DIR."""

from __future__ import annotations

import dataclasses
import time
import urllib.error
import urllib.request

import pytest

from guichet.notifications.services import SWEEP_TASK, _celery
from guichet.settings import WorkerSettings
from tests.support.processes import free_port, start_redis, start_worker, stop

pytestmark = pytest.mark.asyncio(loop_scope="session")

TOKEN = "worker-metrics-token-0123456789"


def scrape(port: int, token: str | None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError:
        return 0, ""


def tasks_done(text: str, task: str) -> float:
    prefix = f'guichet_tasks_total{{outcome="success",task="{task}"}} '
    return sum(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))


async def test_worker_tasks_are_counted_across_the_pool(sqlite_backend, tmp_path):
    broker_port, metrics_port = free_port(), free_port()
    settings = dataclasses.replace(
        sqlite_backend.settings,
        worker=WorkerSettings(broker_url=f"redis://127.0.0.1:{broker_port}/0"),
    )
    redis = start_redis(broker_port)
    worker = start_worker(
        settings,
        tmp_path,
        extra_env={
            "GUICHET_WORKER_METRICS_PORT": str(metrics_port),
            "GUICHET_METRICS_TOKEN": TOKEN,
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        },
        pool=("--pool=prefork", "--concurrency=2"),
    )
    try:
        deadline = time.monotonic() + 60
        while scrape(metrics_port, TOKEN)[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert scrape(metrics_port, None)[0] == 401
        assert scrape(metrics_port, "wrong")[0] == 401
        celery = _celery(settings)
        for _ in range(6):
            celery.send_task(SWEEP_TASK)
        text = ""
        while time.monotonic() < deadline:
            status, text = scrape(metrics_port, TOKEN)
            if status == 200 and tasks_done(text, SWEEP_TASK) >= 6:
                break
            time.sleep(0.3)
        log = (tmp_path / "worker.log").read_text()[-3000:]
        assert tasks_done(text, SWEEP_TASK) == 6, (text[-3000:], log)
        assert f'guichet_task_duration_seconds_count{{task="{SWEEP_TASK}"}}' in text
        # The tasks ran in the pool's processes, the endpoint in the main one: the counts
        # reached it through the pool processes' files.
        assert list((tmp_path / "prometheus").glob("counter_*.db"))
    finally:
        stop(worker, redis)
