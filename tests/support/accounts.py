"""Helpers that walk the account pages over HTTP (httpx test client), as a browser would."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import select

from guichet.db.session import Database
from guichet.notifications.models import OutboxMessage
from guichet.tenancy.models import Tenant

FR = {"Accept-Language": "fr-FR,fr;q=0.9"}
PASSWORD = "tarn2castres81x"
STRONG = "Tarn2castres81x"  # also passes mairie-valdoree's stricter policy


def csrf(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def unique(prefix: str = "usager") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


async def post_form(
    client: Any, url: str, data: dict[str, str], page: str | None = None, files: Any = None
) -> Any:
    if page is None:
        page = (await client.get(url, headers=FR)).text
    data = {"_csrf_token": csrf(page), **data}
    return await client.post(url, data=data, files=files, headers=FR)


async def wizard(
    client: Any,
    slug: str,
    *,
    username: str,
    email: str,
    password: str = STRONG,
    keys: dict[str, str] | None = None,
    identity: dict[str, str] | None = None,
    submit: bool = True,
) -> Any:
    """Walk the five steps; returns the last response (the "termine" page when all went well),
    or with ``submit=False`` the last step's (page, form) left to post."""
    base = f"/{slug}/creer-mon-espace"
    await post_form(client, base, {})
    await post_form(client, f"{base}/cgu", {"action": "next", "accept_terms": "yes"})
    await post_form(
        client,
        f"{base}/identite",
        {
            "action": "next",
            **(identity or {"civility": "Madame", "last_name": "Alquier", "first_names": "Cécile"}),
        },
    )
    await post_form(
        client,
        f"{base}/adresse",
        {
            "action": "next",
            "street_number": "12",
            "street_name": "rue de la République",
            "postcode": "81100",
            "city": "Castres",
            "country": "FR",
        },
    )
    await post_form(
        client, f"{base}/contact", {"action": "next", "email": email, "preferred_contact": "email"}
    )
    page = (await client.get(f"{base}/authentification", headers=FR)).text
    captcha_id = re.search(r'name="captcha_id" value="([^"]+)"', page)
    data = {
        "action": "next",
        "username": username,
        "password": password,
        "password_confirmation": password,
        "captcha_id": captcha_id.group(1) if captcha_id else "",
        "captcha_choice": "0",
    }
    for code, key in (keys or {}).items():
        data[f"key:{code}"] = key
    if not submit:
        return page, data
    return await post_form(client, f"{base}/authentification", data, page=page)


async def outbox(
    settings: Any, slug: str, recipient: str | None = None, kind: str | None = None
) -> list[OutboxMessage]:
    db = Database(settings)
    try:
        async with db.session(all_tenants=True) as session:
            statement = select(OutboxMessage).join(Tenant, Tenant.id == OutboxMessage.tenant_id)
            statement = statement.where(Tenant.slug == slug)
            if recipient:
                statement = statement.where(OutboxMessage.recipient == recipient)
            if kind:
                statement = statement.where(OutboxMessage.kind == kind)
            statement = statement.order_by(OutboxMessage.created_at)
            return list((await session.execute(statement)).scalars())
    finally:
        await db.dispose()


def link_path(message: OutboxMessage, public_url: str) -> str:
    match = re.search(r"(https?://\S+)", message.text_body)
    assert match, message.text_body
    return match.group(1).replace(public_url, "")


async def activate(client: Any, settings: Any, slug: str, email: str) -> None:
    messages = await outbox(settings, slug, email, "activation")
    path = link_path(messages[-1], settings.web.public_url)
    response = await post_form(client, path, {})
    assert response.status_code == 200, response.text


async def login(client: Any, slug: str, username: str, password: str = STRONG) -> Any:
    return await post_form(
        client,
        f"/{slug}/connexion",
        {"username": username, "password": password},
        page=(await client.get(f"/{slug}/", headers=FR)).text,
    )


async def new_citizen(
    client: Any, settings: Any, slug: str = "ccas-castres", keys: dict[str, str] | None = None
) -> tuple[str, str]:
    """An activated account, signed in on ``client``; returns (username, email)."""
    username = unique()
    email = f"{username}@exemple.fr"
    response = await wizard(client, slug, username=username, email=email, keys=keys)
    assert "Votre espace est créé" in response.text, response.text[:2000]
    await activate(client, settings, slug, email)
    response = await login(client, slug, username)
    assert str(response.url).endswith("/mon-espace"), response.text[:2000]
    return username, email
