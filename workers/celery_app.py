"""The Celery application (``celery -A workers.celery_app worker``)."""

from __future__ import annotations

import time
from typing import Any

from celery import Celery, signals

from guichet import metrics
from guichet.accounts.maintenance import PURGE_TASK
from guichet.background import celery_config, ensure_broker_folders
from guichet.billing.runs import SWEEP_PARTS_TASK
from guichet.billing.services import EXPIRE_TASK, REMIND_TASK
from guichet.notifications.services import SWEEP_TASK
from guichet.procedures.maintenance import PURGE_DRAFTS_TASK
from guichet.settings import Settings

__all__ = ["app", "create_celery"]


def create_celery(settings: Settings | None = None) -> Celery:
    settings = settings or Settings.from_env()
    ensure_broker_folders(settings)
    celery = Celery("guichet")
    celery.conf.update(**celery_config(settings))
    celery.conf.beat_schedule = {
        "outbox-sweep": {"task": SWEEP_TASK, "schedule": 60.0},
        "accounts-purge-unactivated": {"task": PURGE_TASK, "schedule": 6 * 3600.0},
        "payments-expire-attempts": {"task": EXPIRE_TASK, "schedule": 600.0},
        "invoices-reminders": {"task": REMIND_TASK, "schedule": 6 * 3600.0},
        "billing-sweep-print-parts": {"task": SWEEP_PARTS_TASK, "schedule": 6 * 3600.0},
        "requests-purge-anonymous-drafts": {"task": PURGE_DRAFTS_TASK, "schedule": 6 * 3600.0},
    }
    celery.autodiscover_tasks(
        [
            "workers.maintenance",
            "workers.notifications",
            "workers.accounts",
            "workers.billing",
            "workers.procedures",
        ],
        related_name=None,
        force=True,
    )
    return celery


_started: dict[str, float] = {}


@signals.task_prerun.connect
def _task_started(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _task_finished(
    task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any
) -> None:
    began = _started.pop(task_id or "", None)
    outcome = {"SUCCESS": "success", "RETRY": "retry"}.get(state or "", "failure")
    metrics.observe_task(
        getattr(task, "name", "?"), outcome, None if began is None else time.perf_counter() - began
    )


@signals.worker_init.connect
def _serve_metrics(**_: Any) -> None:
    settings = Settings.from_env()
    if settings.worker.metrics_port:
        metrics.prepare_multiprocess_dir()
        metrics.serve(settings.worker.metrics_port, settings.web.metrics_token)


app = create_celery()
