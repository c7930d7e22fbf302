"""Platform maintenance tasks."""

from __future__ import annotations

from datetime import UTC, datetime

from celery import shared_task

__all__ = ["ping"]


@shared_task(name="guichet.ping")
def ping() -> str:
    """Answers with the time: proves a worker consumes the queue (readiness, tests)."""
    return datetime.now(UTC).isoformat()
