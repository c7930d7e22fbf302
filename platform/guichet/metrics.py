"""Prometheus metrics, with label sets bounded by what the platform itself defines.

- ``guichet_http_requests_total{tenant, status}``: per tenant (only tenants that exist: an
  unknown slug counts under ``-``) and per status class (``2xx`` … ``5xx``).
- ``guichet_http_request_duration_seconds{route, method}``: per route *template* of the route
  table (``/{tenant_slug}/mon-espace/factures/{invoice_id}``), never per URL; unmatched paths
  are ``-``.
- ``guichet_payments_total{tenant, outcome}``: the bank's notifications by what they did.
- ``guichet_tasks_total{task, outcome}`` and ``guichet_task_duration_seconds{task}``: the
  worker's tasks (names of the registered tasks only).

The web application serves them on ``GET /metrics`` behind ``Authorization: Bearer
<GUICHET_METRICS_TOKEN>`` (no token set: no endpoint, 404); a worker serves its own on
``GUICHET_WORKER_METRICS_PORT``. Several processes of one pod (``guichet web --workers N``,
Celery's prefork children) add up through ``PROMETHEUS_MULTIPROC_DIR`` when it is set.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

__all__ = [
    "PAYMENT_OUTCOMES",
    "authorized",
    "exposition",
    "observe_request",
    "observe_task",
    "payment",
    "serve",
]

REGISTRY = CollectorRegistry(auto_describe=True)
PAYMENT_OUTCOMES = frozenset(
    {"paid", "late", "refused", "cancelled", "error", "duplicate", "rejected"}
)
TASK_OUTCOMES = frozenset({"success", "failure", "retry"})

_REQUESTS = Counter(
    "guichet_http_requests",
    "HTTP requests answered, per tenant and status class.",
    ["tenant", "status"],
    registry=REGISTRY,
)
_LATENCY = Histogram(
    "guichet_http_request_duration_seconds",
    "Time to answer, per route of the route table.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
_PAYMENTS = Counter(
    "guichet_payments",
    "Bank notifications handled, per tenant and outcome.",
    ["tenant", "outcome"],
    registry=REGISTRY,
)
_TASKS = Counter(
    "guichet_tasks",
    "Worker tasks finished, per task and outcome.",
    ["task", "outcome"],
    registry=REGISTRY,
)
_TASK_TIME = Histogram(
    "guichet_task_duration_seconds",
    "Time a worker task ran.",
    ["task"],
    buckets=(0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0),
    registry=REGISTRY,
)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(tenant: str, method: str, route: str, status: int, seconds: float) -> None:
    """One answered request; ``route`` is the matched template ('' when nothing matched)."""
    _REQUESTS.labels(tenant or "-", f"{min(max(status // 100, 1), 5)}xx").inc()
    _LATENCY.labels(route or "-", method if method in _METHODS else "OTHER").observe(seconds)


def payment(tenant: str, outcome: str) -> None:
    _PAYMENTS.labels(tenant, outcome if outcome in PAYMENT_OUTCOMES else "rejected").inc()


def observe_task(task: str, outcome: str, seconds: float | None) -> None:
    _TASKS.labels(task, outcome if outcome in TASK_OUTCOMES else "failure").inc()
    if seconds is not None:
        _TASK_TIME.labels(task).observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The text format for a scrape: this process, or every process of the pod."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def authorized(expected: str, header: str) -> bool:
    """``Authorization: Bearer <token>`` against the configured token, in constant time."""
    if not expected or not header.lower().startswith("bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode(), expected.encode())


def prepare_multiprocess_dir() -> None:
    """Before the pool starts: the folder exists and holds no counts of an earlier run (a
    restarted container keeps its emptyDir)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(".db"):
                os.remove(os.path.join(folder, name))


def serve(port: int, token: str, host: str = "0.0.0.0") -> Any:  # noqa: S104 (inside the pod)
    """The worker's endpoint: ``GET /metrics`` with the same token as the web's, in a thread."""
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        if not authorized(token, environ.get("HTTP_AUTHORIZATION", "")):
            start_response(
                "401 Unauthorized",
                [("Content-Type", "text/plain"), ("WWW-Authenticate", 'Bearer realm="metrics"')],
            )
            return [b"missing or invalid token"]
        body, content_type = exposition()
        start_response("200 OK", [("Content-Type", content_type), ("Cache-Control", "no-store")])
        return [body]

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return  # a scrape every few seconds is not news

    server = make_server(host, port, app, handler_class=Quiet)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
