"""JSON log lines carrying the request id and the tenant of the request being served."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any, TextIO

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from guichet.metrics import observe_request

__all__ = [
    "ContextFilter",
    "JsonFormatter",
    "RequestContextMiddleware",
    "configure_logging",
    "request_id_var",
    "tenant_var",
]

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
tenant_var: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="-")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
            "tenant": getattr(record, "tenant", None) or tenant_var.get(),
        }
        for name in ("method", "path", "status", "duration_ms", "client"):
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.tenant = tenant_var.get()
        return True


def configure_logging(
    level: str = "INFO", json_lines: bool = True, stream: TextIO | None = None
) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s [%(request_id)s %(tenant)s] %(name)s: %(message)s"
            )
        )
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # eopayment's sign() logs HMAC keys at DEBUG: never below INFO.
    logging.getLogger("eopayment").setLevel(max(logging.INFO, root.level))
    # httpx writes every URL it calls at INFO (the sandbox bank's notifications): not needed.
    for noisy in ("uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


_access = logging.getLogger("guichet.access")
# Single-use links carry a secret in their path: never write it to the logs.
_SECRET_PATHS = re.compile(
    r"/(activer|reinitialiser|confirmer-courriel|captcha|invitation)/[^/?#]+"
)


def redact_path(path: str) -> str:
    return _SECRET_PATHS.sub(lambda m: f"/{m.group(1)}/…", path)


class RequestContextMiddleware:
    """Gives each request an id (X-Request-ID echoed back) and writes one access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if incoming.isalnum() and len(incoming) <= 64 else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        tenant_token = tenant_var.set("-")
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            observe_request(
                tenant_var.get(),
                str(scope.get("method", "")),
                str(scope.get("path_template", "")),
                status,
                elapsed,
            )
            _access.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": redact_path(scope.get("path", "")),
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            tenant_var.reset(tenant_token)
            request_id_var.reset(token)
