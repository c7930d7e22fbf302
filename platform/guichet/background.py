"""Celery configuration shared by the web process (which enqueues by task name) and ``workers``.

The dependency runs one way: ``workers`` imports ``guichet``; the platform never imports
``workers``. The embedded default uses kombu's filesystem transport (no server); production uses
Redis.
"""

from __future__ import annotations

from typing import Any

from guichet.settings import Settings

__all__ = ["broker_transport_options", "celery_config", "ensure_broker_folders"]


def ensure_broker_folders(settings: Settings) -> None:
    if settings.broker_url.startswith("filesystem"):
        for name in ("queue", "processed", "control"):
            (settings.broker_folder / name).mkdir(parents=True, exist_ok=True)


def broker_transport_options(settings: Settings) -> dict[str, Any]:
    if settings.broker_url.startswith("filesystem"):
        queue = str(settings.broker_folder / "queue")
        return {
            "data_folder_in": queue,
            "data_folder_out": queue,
            "processed_folder": str(settings.broker_folder / "processed"),
            "store_processed": False,
            # broadcast (control) messages too, or kombu writes ./control in the working folder
            "control_folder": str(settings.broker_folder / "control"),
        }
    # Keys under the deployment's namespace, so that several deployments (or test runs) can share
    # one Redis without seeing each other's queues.
    timeout = settings.worker.visibility_timeout
    return {
        "visibility_timeout": timeout,
        # How soon a dead worker's task is looked for once its timeout is over: kombu scans
        # every interval × throttle seconds (10 × 10 by default, too late for a short timeout).
        "unacked_restore_interval": min(10, max(1, timeout // 3)),
        "unacked_restore_throttle": 1 if timeout < 600 else 10,
        "global_keyprefix": f"{settings.store.namespace}:",
    }


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery settings of this deployment (``app.conf.update(**celery_config(settings))``)."""
    return {
        "broker_url": settings.broker_url,
        "broker_transport_options": broker_transport_options(settings),
        "broker_connection_retry_on_startup": True,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_always_eager": settings.worker.eager,
        "task_serializer": "json",
        "accept_content": ["json"],
        "timezone": "Europe/Paris",
        "enable_utc": True,
    }
