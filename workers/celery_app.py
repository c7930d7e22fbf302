"""The Celery application (``celery -A workers.celery_app worker``)."""

from __future__ import annotations

from celery import Celery

from guichet.accounts.maintenance import PURGE_TASK
from guichet.background import celery_config, ensure_broker_folders
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


app = create_celery()
