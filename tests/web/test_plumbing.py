"""CSRF, security headers, tenant status pages, health checks, request ids."""

import html
import uuid

import pytest
from sqlalchemy import update

from guichet.db.session import Database
from guichet.tenancy.models import Tenant, TenantStatus
from guichet.tenancy.resolver import bump_generation
from guichet.web.stores import close_store, create_store
from tests.support.headers import assert_security_headers

pytestmark = pytest.mark.asyncio(loop_scope="session")

FR = {"Accept-Language": "fr"}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),
        ("GET", "/ccas-castres/", 200),
        ("GET", "/ccas-castres/nulle-part", 404),
        ("GET", "/inconnu/", 404),
        ("POST", "/ccas-castres/connexion", 403),  # no CSRF token
        ("GET", "/healthz", 200),
        ("GET", "/static/default/css/main.css", 200),
        ("DELETE", "/ccas-castres/", 405),
    ],
)
async def test_security_headers_on_every_response(client, method, path, status):
    response = await client.request(method, path, headers=FR)
    assert response.status_code == status
    assert_security_headers(response)
    assert response.headers["x-request-id"]


async def test_hsts_only_behind_tls(client):
    response = await client.get("/ccas-castres/")
    assert "strict-transport-security" not in response.headers


async def test_form_without_csrf_token_is_refused_with_a_branded_page(client):
    response = await client.post(
        "/ccas-castres/connexion", data={"username": "a", "password": "b"}, headers=FR
    )
    assert response.status_code == 403
    assert "Action refusée" in response.text
    assert "/ccas-castres/branding.css" in response.text


async def test_form_with_csrf_token_passes(client):
    home = await client.get("/ccas-castres/", headers=FR)
    token = home.text.split('name="_csrf_token" value="')[1].split('"')[0]
    response = await client.post(
        "/ccas-castres/connexion",
        data={"_csrf_token": token, "username": "a", "password": "b"},
        headers=FR,
    )
    assert response.status_code != 403


async def test_every_form_carries_a_csrf_token(client):
    html = (await client.get("/ccas-castres/", headers=FR)).text
    assert html.count('method="post"') == html.count('name="_csrf_token"') >= 1


async def _set_status(backend, slug, status, message=""):
    """Change a tenant as another process would, then announce it through the shared store."""
    db = Database(backend.settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            await session.execute(
                update(Tenant)
                .where(Tenant.slug == slug)
                .values(status=status, maintenance_message=message)
            )
    finally:
        await db.dispose()
    store = create_store(backend.settings)
    try:
        await bump_generation(store.with_namespace("tenancy"))
    finally:
        await close_store(store)


async def test_maintenance_and_suspension_pages(client, backend):
    try:
        await _set_status(
            backend,
            "mairie-valdoree",
            TenantStatus.MAINTENANCE,
            "Le portail est en **maintenance** jusqu'à 14h.",
        )
        response = await client.get("/mairie-valdoree/", headers=FR)
        assert response.status_code == 503
        assert "<strong>maintenance</strong> jusqu'à 14h" in html.unescape(response.text)
        assert "/mairie-valdoree/branding.css" in response.text
        assert (await client.get("/mairie-valdoree/branding.css")).status_code == 200
        assert (await client.get("/mairie-valdoree/aide")).status_code == 503
        assert_security_headers(response)

        await _set_status(backend, "mairie-valdoree", TenantStatus.SUSPENDED)
        response = await client.get("/mairie-valdoree/", headers=FR)
        assert response.status_code == 503 and "Service indisponible" in response.text
        # The other tenant is untouched.
        assert (await client.get("/ccas-castres/")).status_code == 200
    finally:
        await _set_status(backend, "mairie-valdoree", TenantStatus.ACTIVE)
    assert (await client.get("/mairie-valdoree/")).status_code == 200


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["checks"]) == {"database", "store", "files", "broker"}


async def test_request_id_is_echoed_when_sane(client):
    rid = uuid.uuid4().hex
    assert (await client.get("/healthz", headers={"X-Request-ID": rid})).headers[
        "x-request-id"
    ] == rid
    other = (await client.get("/healthz", headers={"X-Request-ID": "bad id\n"})).headers
    assert other["x-request-id"] != "bad id\n"


async def test_a_client_gone_before_sending_its_form_is_no_server_error(sqlite_backend, caplog):
    """A browser closed (or a load test ending) in the middle of a POST: nobody waits for an
    answer, and it is no server error: no 500 in the metrics, no ERROR in the logs. (Called
    at the ASGI level, in this loop: on one backend, the behaviour is not the database's.)"""
    from litestar.testing import AsyncTestClient

    from guichet.app import create_app

    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/ccas-castres/connexion",
        "raw_path": b"/ccas-castres/connexion",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", b"40"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    app = create_app(sqlite_backend.settings, configure_logs=False)
    async with AsyncTestClient(app=app):  # its lifespan; the call below is the ASGI one
        with caplog.at_level("INFO"):
            await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 400
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert any("went away" in r.getMessage() for r in caplog.records)


async def test_the_session_is_read_with_the_tenant_generation(web, backend, monkeypatch):
    """On a signed-in page the tenant middleware reads the session in the same round trip as
    the tenant's generation (MGET on Redis): the session manager does not ask again. The file
    store of the embedded default reads them one after the other."""
    from tests.support.accounts import new_citizen

    await new_citizen(web, backend.settings)
    sessions = web.app.state.services.namespace("sessions")
    kind = type(sessions)
    real_get, asked = kind.get, []

    async def counted(self, key, *args, **kwargs):
        if self is sessions:
            asked.append(key)
        return await real_get(self, key, *args, **kwargs)

    monkeypatch.setattr(kind, "get", counted)  # a RedisStore's attributes are slots
    page = await web.get("/ccas-castres/mon-espace", headers=FR)
    assert page.status_code == 200 and "MON ACCUEIL" in page.text  # still signed in
    assert len(asked) == (0 if backend.name == "postgresql" else 1), asked


async def test_get_together_reads_what_each_get_reads(backend):
    from guichet.web.stores import get_together

    store = create_store(backend.settings)
    try:
        one, two = store.with_namespace("alpha"), store.with_namespace("beta")
        await one.set("k", b"1", expires_in=60)
        await two.set("k", b"2", expires_in=60)
        assert await get_together((one, "k"), (two, "k"), (one, "absent")) == [b"1", b"2", None]
    finally:
        await close_store(store)
