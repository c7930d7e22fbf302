"""Liveness (``/healthz``) and readiness (``/readyz``: database, store, file store, broker)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from sqlalchemy import text

from guichet.background import broker_transport_options
from guichet.metrics import authorized, exposition
from guichet.web.pages import services_of

__all__ = ["HealthController", "check_broker"]

log = logging.getLogger("guichet.health")


def check_broker(url: str, transport_options: dict[str, Any] | None = None) -> None:
    """Raise when the Celery broker cannot be reached."""
    from kombu import Connection

    with Connection(url, transport_options=transport_options or {}, connect_timeout=2) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


class HealthController(Controller):
    include_in_schema = False  # pages, not the JSON API
    path = "/"

    @get("/healthz", name="health:live", media_type="application/json", cache=False)
    async def live(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz", name="health:ready", media_type="application/json")
    async def ready(self, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        services = services_of(request)
        checks: dict[str, str] = {}

        async def run(name: str, coro: Any) -> None:
            started = time.perf_counter()
            try:
                await asyncio.wait_for(coro, timeout=3)
                checks[name] = f"ok ({(time.perf_counter() - started) * 1000:.0f} ms)"
            except Exception as exc:
                log.warning("readiness check %s failed: %r", name, exc)
                checks[name] = f"failed: {type(exc).__name__}"

        async def database() -> None:
            async with services.db.session(all_tenants=True) as session:
                await session.execute(text("SELECT 1"))

        async def store() -> None:
            await services.store.set("readyz", b"ok", expires_in=10)
            if await services.store.get("readyz") != b"ok":
                raise RuntimeError("store did not keep a value")

        async def files() -> None:
            await asyncio.to_thread(services.files.check)

        async def broker() -> None:
            settings = services.settings
            await asyncio.to_thread(
                check_broker, settings.broker_url, broker_transport_options(settings)
            )

        await run("database", database())
        await run("store", store())
        await run("files", files())
        await run("broker", broker())
        ok = all(v.startswith("ok") for v in checks.values())
        return Response(
            {"status": "ok" if ok else "unavailable", "checks": checks},
            status_code=200 if ok else 503,
            headers={"Cache-Control": "no-store"},
        )

    @get("/metrics", name="health:metrics")
    async def metrics(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Prometheus' scrape, behind ``GUICHET_METRICS_TOKEN``; no token set, no endpoint."""
        settings = services_of(request).settings
        if not settings.web.metrics_token:
            raise NotFoundException()
        if not authorized(settings.web.metrics_token, request.headers.get("authorization", "")):
            return Response(
                b"missing or invalid token",
                status_code=401,
                media_type="text/plain",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"', "Cache-Control": "no-store"},
            )
        body, content_type = exposition()
        return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})
