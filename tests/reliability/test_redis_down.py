"""Redis (sessions, captcha, rate limits) stops under a running web process: a clear 503 page,
nothing fails open (no sign-in and no account without their checks), and the service comes back
by itself when Redis returns. A real redis-server of the test's own, stopped and started."""

from __future__ import annotations

import dataclasses
import uuid
from html import unescape

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from guichet.accounts.models import Citizen
from guichet.app import create_app
from guichet.db.session import Database
from guichet.settings import StoreSettings
from tests.support.accounts import FR, STRONG, login, new_citizen, post_form, wizard
from tests.support.headers import assert_security_headers
from tests.support.processes import free_port, start_redis

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def accounts_named(settings, username: str) -> int:
    db = Database(settings)
    try:
        async with db.session(all_tenants=True) as session:
            return await session.scalar(
                select(func.count()).select_from(Citizen).where(Citizen.username == username)
            )
    finally:
        await db.dispose()


def unavailable(response) -> None:
    assert response.status_code == 503, response.status_code
    page = unescape(response.text)
    assert "Service momentanément indisponible" in page and "Traceback" not in page
    assert_security_headers(response)


async def test_redis_stops_then_comes_back(sqlite_backend):
    port = free_port()
    settings = dataclasses.replace(
        sqlite_backend.settings,
        store=StoreSettings(
            redis_url=f"redis://127.0.0.1:{port}/0", namespace=f"rel{uuid.uuid4().hex[:8]}"
        ),
    )
    redis = start_redis(port)
    app = create_app(settings, configure_logs=False)
    try:
        async with AsyncTestClient(app=app) as web:
            username, _ = await new_citizen(web, settings)
            assert (await web.get("/readyz")).status_code == 200
            web.cookies.clear()
            home = (await web.get("/ccas-castres/", headers=FR)).text
            newcomer = f"panne{uuid.uuid4().hex[:8]}"
            last_step, form = await wizard(
                web,
                "ccas-castres",
                username=newcomer,
                email=f"{newcomer}@exemple.fr",
                submit=False,
            )

            redis.kill()
            redis.wait(timeout=10)

            # The right password, but the attempt cannot be counted: refused, not signed in.
            unavailable(
                await post_form(
                    web,
                    "/ccas-castres/connexion",
                    {"username": username, "password": STRONG},
                    page=home,
                )
            )
            # A new account cannot skip its captcha: the last step of the wizard is refused.
            unavailable(
                await post_form(
                    web, "/ccas-castres/creer-mon-espace/authentification", form, page=last_step
                )
            )
            assert await accounts_named(settings, newcomer) == 0
            unavailable(await web.get("/ccas-castres/mon-espace", headers=FR))
            unavailable(await web.get("/ccas-castres/", headers=FR))
            ready = await web.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["store"].startswith("failed")

            redis = start_redis(port)  # back, empty (sessions are gone: sign in again)
            web.cookies.clear()
            signed_in = await login(web, "ccas-castres", username, STRONG)
            assert str(signed_in.url).endswith("/mon-espace"), signed_in.status_code
            assert (await web.get("/readyz")).status_code == 200
    finally:
        redis.kill()
        redis.wait(timeout=10)
