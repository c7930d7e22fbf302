"""Time of one template rendering, alone: the page's context captured from a real request, then
rendered again and again (the unit of bench/README.md's « Instructions per page »).

    .venv/bin/python bench/template_render.py --page /mon-espace --renders 2000 [--profile]

Production configuration and database as ``bench/page_cpu.py`` (guichet_bench by default); the
citizen ``c<n>-1`` signs in, the page is asked once and its template's context kept.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import PASSWORD, ROOT, app_role, production_env


async def capture(
    dsn: str, tenant: str, page: str
) -> tuple[Any, tuple[str, str, dict[str, Any]], str]:
    import httpx
    import psycopg2

    from guichet import i18n
    from guichet.app import create_app_from_env
    from guichet.web.templates import TemplateRenderer

    captured: dict[str, Any] = {}
    real = TemplateRenderer.render

    def keep(self: Any, theme: str, template: str, context: dict[str, Any]) -> str:
        captured["call"] = (theme, template, dict(context))
        captured["locale"] = i18n.current_locale()
        return real(self, theme, template, context)

    TemplateRenderer.render = keep  # type: ignore[method-assign]
    app = create_app_from_env()
    connection = psycopg2.connect(dsn)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.username FROM citizen c JOIN tenant t ON t.id = c.tenant_id "
            "WHERE t.slug = %s AND c.username LIKE 'c%%-1'",
            (tenant,),
        )
        username = cur.fetchone()[0]
    connection.close()
    transport = httpx.ASGITransport(app=app)
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="https://127.0.0.1") as web,
    ):
        home = await web.get(f"/{tenant}/")
        token = re.search(r'name="_csrf_token" value="([^"]+)"', home.text).group(1)
        await web.post(
            f"/{tenant}/connexion",
            data={"_csrf_token": token, "username": username, "password": PASSWORD},
        )
        response = await web.get(f"/{tenant}{page}")
        assert response.status_code == 200, response.status_code
    TemplateRenderer.render = real  # type: ignore[method-assign]
    return app.state.services.renderer, captured["call"], captured["locale"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/guichet_bench")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--tenant", default="ccas-castres")
    parser.add_argument("--page", default="/mon-espace")
    parser.add_argument("--renders", type=int, default=2000)
    parser.add_argument("--profile", action="store_true", help="cProfile of the renderings")
    args = parser.parse_args()
    os.environ.update(production_env(app_role(args.dsn), args.redis, ROOT / "var/bench"))
    renderer, (theme, template, context), locale = asyncio.run(
        capture(args.dsn, args.tenant, args.page)
    )
    from guichet import i18n

    i18n.use_locale(locale)
    for _ in range(200):  # compiled, caches warm
        renderer.render(theme, template, context)
    started = time.process_time()
    for _ in range(args.renders):
        renderer.render(theme, template, context)
    took = (time.process_time() - started) / args.renders * 1000
    print(f"{template}: {took:.3f} ms of CPU per rendering ({args.renders} renderings)")
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.renders):
            renderer.render(theme, template, context)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
