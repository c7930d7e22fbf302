"""CPU time per page, in one process, one request at a time (no load generator competing for the
cores): a steadier yardstick than requests per second on a noisy machine, and the unit of the
throughput goal (bench/README.md: the goal needs about 0.7 ms of CPU per page).

    .venv/bin/python bench/page_cpu.py --requests 1000

Production configuration as ``bench/load.py`` (PostgreSQL as a plain role, Redis), the
application called through ASGI without an HTTP server; for each page: CPU ms per request (the
process's, all threads), wall ms, SQL statements per request and the CPU spent between them
being sent and answered, template rendering ms. The bare Litestar + Jinja page is measured the
same way as the ceiling. PostgreSQL and Redis run in their own processes: their CPU is not
counted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import PASSWORD, ROOT, app_role, production_env


class Counters:
    def __init__(self) -> None:
        self.statements = 0
        self.render = 0.0


def instrument(counters: Counters) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from guichet.web.templates import TemplateRenderer

    @event.listens_for(Engine, "before_cursor_execute")
    def _count(*_args: Any) -> None:
        counters.statements += 1

    real = TemplateRenderer.render

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return real(self, *args, **kwargs)
        finally:
            counters.render += time.process_time() - started

    TemplateRenderer.render = timed  # type: ignore[method-assign]


async def measure(
    name: str, call: Callable[[], Any], requests: int, counters: Counters
) -> dict[str, float]:
    for _ in range(max(50, requests // 10)):  # warm: statements cached, pool filled
        response = await call()
        assert response.status_code == 200, (name, response.status_code)
    counters.statements, counters.render = 0, 0.0
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(requests):
        response = await call()
        assert response.status_code == 200, (name, response.status_code)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "cpu": cpu / requests * 1000,
        "wall": wall / requests * 1000,
        "statements": counters.statements / requests,
        "render": counters.render / requests * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/guichet_bench")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--tenant", default="ccas-castres")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--profile", help="a page's name: cProfile of its requests, printed")
    parser.add_argument("--pages", nargs="*", help="only these pages (default: all)")
    args = parser.parse_args()

    os.environ.update(production_env(app_role(args.dsn), args.redis, ROOT / "var/bench"))
    import httpx

    from bench.bare.app import app as bare_app
    from guichet.app import create_app_from_env

    counters = Counters()
    instrument(counters)
    app = create_app_from_env()
    import psycopg2

    connection = psycopg2.connect(args.dsn)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.username FROM citizen c JOIN tenant t ON t.id = c.tenant_id "
            "WHERE t.slug = %s AND c.username LIKE 'c%%-1'",
            (args.tenant,),
        )
        username = cur.fetchone()[0]
    connection.close()
    base = "https://127.0.0.1"  # production's cookies are Secure
    results = {}
    # Called in this thread and event loop (a test client would run the application in a
    # thread of its own, out of the profiler's sight).
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base) as web,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base) as visitor,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=bare_app), base_url=base) as bare,
    ):
        home = await web.get(f"/{args.tenant}/")
        token = re.search(r'name="_csrf_token" value="([^"]+)"', home.text).group(1)
        signed = await web.post(
            f"/{args.tenant}/connexion",
            data={"_csrf_token": token, "username": username, "password": PASSWORD},
            follow_redirects=True,
        )
        assert str(signed.url).endswith("/mon-espace"), signed.status_code
        pages = {
            "bare Litestar + Jinja page": lambda: bare.get("/"),
            "home (anonymous)": lambda: visitor.get(f"/{args.tenant}/"),
            "MON ACCUEIL": lambda: web.get(f"/{args.tenant}/mon-espace"),
            "MES FACTURES": lambda: web.get(f"/{args.tenant}/mon-espace/factures"),
        }
        for name, call in pages.items():
            if args.pages and name not in args.pages:
                continue
            if name == args.profile:
                import cProfile
                import pstats

                profiler = cProfile.Profile()
                profiler.enable()
            results[name] = await measure(name, call, args.requests, counters)
            if name == args.profile:
                profiler.disable()
                stats = pstats.Stats(profiler).sort_stats("cumulative")
                stats.print_stats(60)
                stats.sort_stats("tottime").print_stats(40)
    print(f"\n{args.requests} requests per page, one at a time, in process (ASGI, no server)\n")
    print("| page | CPU ms/request | wall ms | statements | template ms |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['cpu']:.2f} | {r['wall']:.2f} | {r['statements']:.0f} | "
            f"{r['render']:.2f} |"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    asyncio.run(main())
