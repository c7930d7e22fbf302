"""Attacks generated from the route table, so that a route added later is covered by default.

- Every route whose path names one of a tenant's objects, called by another citizen of the same
  tenant, by a citizen of another tenant or by the staff of another tenant, with the objects of
  a citizen of ccas-castres → 404, and nothing changed. The same GET routes called by their
  owner (the citizen, or ccas-castres' administrator) → 200, which proves the ids are real.
- Every page behind a sign-in → ``Cache-Control: no-store``.
- Every state-changing route without a CSRF token → 403.
- Security headers on every one of these answers, errors included.

A route with a path parameter this file does not know fails the test until it is classified.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select

from guichet.accounts.models import Citizen
from guichet.billing.models import ApiToken, Invoice, Payment, PaymentTransaction
from guichet.db.session import Database
from guichet.staff.models import StaffUser
from guichet.tenancy.models import NewsItem, Tenant
from tests.support.accounts import FR, csrf, new_citizen, post_form
from tests.support.billing import (
    bank_answer,
    invoice_for,
    notify,
    run_with_print_file,
    start_payment,
)
from tests.support.headers import assert_security_headers
from tests.support.procedures import send_meal_request
from tests.support.staff import signed_in_staff

pytestmark = pytest.mark.asyncio(loop_scope="session")

VICTIM = "ccas-castres"
OTHER = "mairie-valdoree"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# Path parameters that name no object of a tenant, with the reason.
NOT_OBJECTS = {
    "tenant_slug": "the tenant itself: set by the test",
    "token": "one-time secrets of emails (activation, reset, invitation), tested in their files",
    "challenge": "a captcha challenge lives a few minutes in the store, bound to the session",
    "index": "the image of a captcha challenge",
    "slug": "a step of the account wizard, or (operators) the tenant they run by design",
    "theme": "static files",
    "file_path": "static files",
    "path": "the OpenAPI documents",
    "rest": "the catch-all that answers 404",
    "name": "the development outbox (embedded default only) or an operator's export file",
    "locale": "a language of the platform",
}
# Routes out of reach of the attack, with the reason.
EXEMPT_ROUTES = {
    r"^/operator/": "platform operators see every tenant by design",
    r"^/static/": "files of the themes",
    r"^/outbox/": "development outbox",
    r"^/api/schema/": "OpenAPI documents",
    r"^/\{tenant_slug:str\}/langue/": "the language switch",
    r"^/\{tenant_slug:str\}/admin/pages/\{key:str\}/\{locale:str\}$": (
        "help and legal pages have the same keys in every tenant; each tenant edits its own"
    ),
}
# A ``code`` is a service, a ledger or a procedure of the victim's tenant, by the route.
CODES = [
    (r"/admin/services/\{code", "action-sociale"),
    (r"/admin/facturation/regies/\{code", "seniors"),
    (r"/demarches/\{code", "aide-facultative"),
]
# GET routes the owner reaches only in another state, with the reason.
NOT_FOR_THE_OWNER = {
    "/{tenant_slug:str}/demarches/suivi/{request_id:uuid}": "requests made without an account",
    "/{tenant_slug:str}/demarches/suivi/{request_id:uuid}/accuse-reception": "idem",
    "/{tenant_slug:str}/demarches/suivi/{request_id:uuid}/pieces/{attachment_id:uuid}": "idem",
    "/{tenant_slug:str}/admin/facturation/factures/{invoice_id:uuid}/avoir": (
        "a cancelled invoice's credit note"
    ),
}


@dataclass
class Actor:
    """One browser: its cookies, and the tenant it is signed in to."""

    slug: str
    cookies: httpx.Cookies = field(default_factory=httpx.Cookies)


@dataclass
class World:
    ids: dict[str, str]
    owner: Actor
    owner_admin: Actor
    neighbour: Actor  # another citizen of the same tenant
    foreigner: Actor  # a citizen of another tenant
    foreign_admin: Actor  # an administrator of another tenant


def _swap(client: Any, actor: Actor | None) -> None:
    client.cookies.clear()
    if actor is not None:
        client.cookies.update(actor.cookies)


def _keep(client: Any, actor: Actor) -> Actor:
    actor.cookies = httpx.Cookies(client.cookies)
    return actor


async def _scalar(settings: Any, statement: Any) -> Any:
    db = Database(settings)
    try:
        async with db.session(all_tenants=True) as session:
            return await session.scalar(statement)
    finally:
        await db.dispose()


async def _add(settings: Any, row: Any) -> str:
    db = Database(settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            session.add(row)
            await session.flush()
            return str(row.id)
    finally:
        await db.dispose()


def _link(html: str, prefix: str) -> str:
    match = re.search(re.escape(prefix) + f"({UUID})", html)
    assert match, f"no link {prefix}<id> in the page"
    return match.group(1)


@pytest_asyncio.fixture(loop_scope="session")
async def world(client: Any, backend: Any) -> World:
    """A citizen of ccas-castres with one object of each kind, and the people who attack them."""
    settings = backend.settings
    base = f"/{VICTIM}/mon-espace"
    _swap(client, None)
    ids: dict[str, str] = {}

    # The owner's request with its attached file (made through the pages, as a citizen would).
    _email, request_path = await send_meal_request(client, backend)
    ids["request_id"] = request_path.rsplit("/", 1)[1]
    page = (await client.get(request_path, headers=FR)).text
    ids["attachment_id"] = _link(page, f"{request_path}/pieces/")
    username = await _scalar(
        settings,
        select(Citizen.username)
        .join(Tenant, Tenant.id == Citizen.tenant_id)
        .where(Tenant.slug == VICTIM, Citizen.email == _email),
    )
    ids["citizen_id"] = str(
        await _scalar(settings, select(Citizen.id).where(Citizen.username == username))
    )

    response = await post_form(
        client,
        f"{base}/contacts/nouveau",
        {"kind": "medecin", "civility": "Monsieur", "first_name": "Henri", "last_name": "Bon"},
    )
    ids["contact_id"] = _link(response.text, f"{base}/contacts/")

    page = (await client.get(f"{base}/pieces/", headers=FR)).text
    response = await client.post(
        f"{base}/pieces/",
        headers=FR,
        data={"_csrf_token": csrf(page), "title": "Avis", "kind": "justificatif_domicile"},
        files={"file": ("avis.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")},
    )
    ids["document_id"] = _link(response.text, f"{base}/pieces/")

    invoice_id = await invoice_for(settings, VICTIM, username)
    ids["invoice_id"] = str(invoice_id)
    ids["account_id"] = str(
        await _scalar(settings, select(Invoice.service_account_id).where(Invoice.id == invoice_id))
    )
    fields = await start_payment(client, invoice_id)
    assert (await notify(client, bank_answer(settings, fields))).status_code == 200
    ids["payment_id"] = str(
        await _scalar(settings, select(Payment.id).where(Payment.invoice_id == invoice_id))
    )
    ids["reference"] = await _scalar(
        settings,
        select(PaymentTransaction.reference).where(PaymentTransaction.invoice_id == invoice_id),
    )
    owner = _keep(client, Actor(VICTIM))

    tenant_id = await _scalar(settings, select(Tenant.id).where(Tenant.slug == VICTIM))
    ids["token_id"] = await _add(
        settings, ApiToken(tenant_id=tenant_id, name="Logiciel", token_digest=uuid.uuid4().hex)
    )
    ids["news_id"] = str(
        await _scalar(settings, select(NewsItem.id).where(NewsItem.tenant_id == tenant_id))
    )
    ids["key"] = "demandeur"  # a field of the procedure aide-facultative
    ids["run_id"] = await run_with_print_file(settings, VICTIM, [b"%PDF-1.4\n%%EOF\n"])
    ids["volume"] = "1"  # the first volume of that run's print file

    _swap(client, None)
    admin_email, _ = await signed_in_staff(client, settings, VICTIM, role="administrateur")
    # A new key for the owner's file: its letter can be printed while the key is known.
    service_page = f"/{VICTIM}/admin/services/action-sociale"
    response = await post_form(
        client,
        f"{service_page}/{ids['account_id']}/nouvelle-cle",
        {"confirmation": "oui"},
        page=(await client.get(service_page, headers=FR)).text,
    )
    assert response.status_code == 200, response.status_code
    owner_admin = _keep(client, Actor(VICTIM))
    ids["staff_id"] = str(
        await _scalar(settings, select(StaffUser.id).where(StaffUser.email == admin_email))
    )

    actors = []
    for slug in (VICTIM, OTHER):
        _swap(client, None)
        await new_citizen(client, settings, slug=slug)
        actors.append(_keep(client, Actor(slug)))
    _swap(client, None)
    await signed_in_staff(client, settings, OTHER, role="administrateur")
    foreign_admin = _keep(client, Actor(OTHER))
    _swap(client, None)
    return World(ids, owner, owner_admin, actors[0], actors[1], foreign_admin)


def _object_routes(app: Any) -> list[tuple[str, set[str], list[str]]]:
    """(path, methods, object parameters) of every route that names a tenant's object."""
    found = []
    for route in app.routes:
        methods = set(getattr(route, "methods", set())) & {"GET", "POST", "PUT", "PATCH", "DELETE"}
        if not methods or any(re.search(p, route.path) for p in EXEMPT_ROUTES):
            continue
        names = re.findall(r"\{(\w+):\w+\}", route.path)
        objects = [n for n in names if n not in NOT_OBJECTS]
        if objects:
            found.append((route.path, methods, objects))
    return found


def _fill(path: str, slug: str, ids: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "tenant_slug":
            return slug
        if name == "code":
            for pattern, code in CODES:
                if re.search(pattern, path):
                    return code
            raise AssertionError(f"{path}: which object is this code? add it to CODES")
        assert name in ids, f"{path}: unknown parameter {name!r}: give it an object or a reason"
        return ids[name]

    return re.sub(r"\{(\w+):\w+\}", value, path)


def _attackers(world: World, path: str) -> list[tuple[str, Actor]]:
    if "/admin/" in path or "/agents/" in path:
        return [("staff of another tenant", world.foreign_admin)]
    attackers = [("citizen of another tenant", world.foreigner)]
    if "{code:str}" not in path or "{request_id" in path:
        # A procedure's code is public within its tenant: only other tenants must not see it.
        attackers.insert(0, ("another citizen of the same tenant", world.neighbour))
    return attackers


async def _call(client: Any, actor: Actor, method: str, url: str) -> Any:
    _swap(client, actor)
    if method == "GET":
        return await client.get(url, headers=FR)
    page = (await client.get(f"/{actor.slug}/", headers=FR)).text
    return await client.request(
        method, url, headers={**FR, "x-csrf-token": csrf(page)}, data={"action": "supprimer"}
    )


async def test_another_owners_objects_answer_404(client, world):
    routes = _object_routes(client.app)
    checked, owned = [], []
    for path, methods, _objects in routes:
        owner = world.owner_admin if ("/admin/" in path or "/agents/" in path) else world.owner
        if "GET" in methods and path not in NOT_FOR_THE_OWNER:
            response = await _call(client, owner, "GET", _fill(path, VICTIM, world.ids))
            assert response.status_code == 200, (path, response.status_code)
            assert response.headers["cache-control"] == "no-store", path
            assert_security_headers(response)
            owned.append(path)
        for who, actor in _attackers(world, path):
            url = _fill(path, actor.slug, world.ids)
            for method in sorted(methods):
                response = await _call(client, actor, method, url)
                assert response.status_code == 404, (who, method, path, response.status_code)
                assert_security_headers(response)
                checked.append((who, method, path))
    _swap(client, None)
    assert len(owned) >= 24 and len(checked) >= 80, (len(owned), len(checked))  # the table was read

    # Nothing changed: the owner still has each object, the request is still sent.
    ids = world.ids
    for part in (
        f"contacts/{ids['contact_id']}",
        f"pieces/{ids['document_id']}",
        f"demandes/{ids['request_id']}",
    ):
        response = await _call(client, world.owner, "GET", f"/{VICTIM}/mon-espace/{part}")
        assert response.status_code == 200, part
    _swap(client, None)


async def test_every_state_changing_route_refuses_a_request_without_csrf_token(client):
    """Only the bank's signed notifications, the sandbox bank (another site) and the API
    (bearer tokens) are exempt."""
    exempt = [r"^/[a-z0-9-]+/paiement/notification$", r"^/sandbox/banque", r"^/api/"]
    values = {"tenant_slug": VICTIM, "uuid": str(uuid.uuid4()), "str": "x", "path": "x"}
    checked = []
    for route in client.app.routes:
        methods = set(getattr(route, "methods", set())) & {"POST", "PUT", "PATCH", "DELETE"}
        if not methods:
            continue

        def fill(match: re.Match[str]) -> str:
            name, kind = match.group(1), match.group(2)
            return values.get(name) or values.get(kind, "x")

        path = re.sub(r"\{(\w+):(\w+)\}", fill, route.path)
        if any(re.search(pattern, path) for pattern in exempt):
            continue
        for method in methods:
            client.cookies.clear()
            response = await client.request(method, path, data={"a": "b"}, headers=FR)
            assert response.status_code == 403, (method, route.path, response.status_code)
            assert_security_headers(response)
            checked.append((method, route.path))
    assert len(checked) > 60, checked  # the table was read


async def test_nothing_a_signed_in_person_receives_is_stored(client, world):
    """Public pages too carry the account bar once signed in: on a shared computer, the back
    button or the disk cache must not show them to the next person."""
    checked = []
    for actor in (world.owner, world.owner_admin):
        for route in client.app.routes:
            if "GET" not in getattr(route, "methods", set()):
                continue
            if not route.path.startswith("/{tenant_slug:str}") or route.path.count("{") > 1:
                continue
            response = await _call(client, actor, "GET", _fill(route.path, VICTIM, {}))
            cache = response.headers.get("cache-control")
            if response.headers["content-type"].startswith("text/html"):
                assert cache == "no-store", (route.path, actor)
                checked.append(route.path)
            elif route.path.endswith(("/branding.css", "/logo")):
                assert cache and "no-store" not in cache, route.path  # shared by every page
    _swap(client, None)
    assert len(checked) > 40, len(checked)
    public = await client.get(f"/{VICTIM}/aide", headers=FR)
    assert public.headers["cache-control"] == "no-cache"
