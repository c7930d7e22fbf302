"""The logs never hold a password, a key, a token or a session: a day of use is captured at the
production level (INFO, JSON lines; the project's own loggers at DEBUG) and searched for every
secret that went through the pages."""

from __future__ import annotations

import io
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from guichet.accounts.models import ServiceAccount
from guichet.billing.backends import sandbox_secret
from guichet.db.session import Database
from guichet.tenancy.models import Service, Tenant
from guichet.web.logs import configure_logging
from guichet.web.sessions import SESSION_COOKIE
from tests.support.accounts import FR, STRONG, link_path, new_citizen, outbox, post_form
from tests.support.billing import bank_answer, invoice_for, notify, start_payment
from tests.support.staff import new_staff, staff_login

pytestmark = pytest.mark.asyncio(loop_scope="session")

SLUG = "ccas-castres"


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """The production configuration of the logs, written to a buffer; then back as it was."""
    stream = io.StringIO()
    names = ("", "guichet", "eopayment", "httpx", "uvicorn.access")
    before = {name: logging.getLogger(name).level for name in names}
    handlers = logging.getLogger().handlers[:]
    configure_logging("INFO", json_lines=True, stream=stream)
    logging.getLogger("guichet").setLevel(logging.DEBUG)  # our own debug lines too
    try:
        yield stream
    finally:
        logging.getLogger().handlers[:] = handlers
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)


def _cookies(client: Any, secrets: set[str]) -> None:
    for name in (SESSION_COOKIE, "guichet_csrf"):
        value = client.cookies.get(name)
        if value:
            secrets.add(value)


async def _new_file(settings: Any) -> str:
    """A citizen's file in the service « Action sociale », not linked to an account yet."""
    db = Database(settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == SLUG))
            service_id = await session.scalar(
                select(Service.id).where(
                    Service.tenant_id == tenant_id, Service.code == "action-sociale"
                )
            )
            account = ServiceAccount(
                tenant_id=tenant_id,
                service_id=service_id,
                reference=f"LOG-{uuid.uuid4().hex[:8]}",
                holder_name="Madame TEST",
                key_digest=uuid.uuid4().hex * 2,
            )
            session.add(account)
            await session.flush()
            return str(account.id)
    finally:
        await db.dispose()


def _link_secret(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[1]


async def test_no_secret_reaches_the_logs(web, backend, captured_logs):
    settings = backend.settings
    secrets: set[str] = {STRONG, sandbox_secret(settings)}

    # A citizen: account, activation link, sign-in, forgotten password, payment.
    username, email = await new_citizen(web, settings)
    _cookies(web, secrets)
    [activation] = await outbox(settings, SLUG, email, "activation")
    secrets.add(_link_secret(link_path(activation, settings.web.public_url)))
    invoice_id = await invoice_for(settings, SLUG, username)
    fields = await start_payment(web, invoice_id)
    answer = bank_answer(settings, fields)
    secrets.add(answer["signature"])
    assert (await notify(web, answer)).status_code == 200
    web.cookies.clear()
    await post_form(web, f"/{SLUG}/mot-de-passe-oublie", {"login": username})
    [reset] = await outbox(settings, SLUG, email, "password_reset")
    path = link_path(reset, settings.web.public_url)
    secrets.add(_link_secret(path))
    new_password = "Autre2motdepasse-81"
    secrets.add(new_password)
    done = await post_form(
        web, path, {"password": new_password, "password_confirmation": new_password}
    )
    assert done.status_code == 200, done.status_code
    # A wrong password is not logged either.
    wrong = "Mauvais2motdepasse-81"
    secrets.add(wrong)
    await post_form(
        web,
        f"/{SLUG}/connexion",
        {"username": username, "password": wrong},
        page=(await web.get(f"/{SLUG}/", headers=FR)).text,
    )

    # An administrator: second factor, a staff invitation, an API token, an access key.
    web.cookies.clear()
    admin_email, password, secret = await new_staff(settings, SLUG, "administrateur")
    code = pyotp.TOTP(secret).now()
    secrets |= {password, secret, code}
    await staff_login(web, SLUG, admin_email, password, secret, code=code)
    _cookies(web, secrets)
    invited = f"invite-{username}@exemple.fr"
    await post_form(
        web, f"/{SLUG}/admin/agents", {"name": "Invité JOURNAUX", "email": invited, "role": "agent"}
    )
    [invitation] = await outbox(settings, SLUG, invited)
    invitation_path = link_path(invitation, settings.web.public_url)
    secrets.add(_link_secret(invitation_path))
    created = await post_form(web, f"/{SLUG}/admin/facturation/jetons", {"token_name": "Logiciel"})
    token = re.search(r'<code class="access-key">(gch_[\w-]+)</code>', created.text)
    assert token, created.text[:2000]
    secrets.add(token.group(1))
    api = await web.post(
        f"/api/v1/{SLUG}/invoices",
        json={"invoices": []},
        headers={"Authorization": f"Bearer {token.group(1)}"},
    )
    assert api.status_code in (200, 201), api.text
    service = f"/{SLUG}/admin/services/action-sociale"
    account = await _new_file(settings)  # the demo files' keys stay as the other tests know them
    page = (await web.get(service, headers=FR)).text
    fresh = await post_form(
        web, f"{service}/{account}/nouvelle-cle", {"confirmation": "oui"}, page=page
    )
    key = re.search(r'<strong class="access-key">([^<]+)</strong>', fresh.text)
    assert key, fresh.text[:2000]
    secrets.add(key.group(1))
    web.cookies.clear()
    assert (await web.get(invitation_path, headers=FR)).status_code == 200

    logs = captured_logs.getvalue()
    assert f'"path": "/{SLUG}/connexion"' in logs or f"/{SLUG}/connexion" in logs  # captured
    for value in secrets:
        assert len(value) >= 6, value
        assert value not in logs, f"a secret is in the logs: {value[:4]}…"
