"""Staff for the tests: a fresh member with a known password and second-factor secret (each
test its own, so that a code used once is never needed twice), and the sign-in walk."""

from __future__ import annotations

import uuid
from typing import Any

import pyotp
from sqlalchemy import select

from guichet.accounts.passwords import hash_password
from guichet.db.session import Database
from guichet.staff import twofactor
from guichet.staff.models import StaffRole, StaffUser
from guichet.tenancy.models import Tenant
from tests.support.accounts import FR, post_form

PASSWORD = "Agent-de-test-2026"
DEMO_AGENT = (
    "agent.demo@ccas-castres.example",
    "Agent-Castres-2026",
    "GUICHETDEMOAGENTCASTRESDEMOSTAFF",
)


async def new_staff(
    settings: Any, slug: str = "ccas-castres", role: str = "agent", name: str = "Agent TEST"
) -> tuple[str, str, str]:
    """(email, password, secret) of a new, active staff member of ``slug``."""
    email = f"agent-{uuid.uuid4().hex[:10]}@exemple.fr"
    secret = pyotp.random_base32()
    db = Database(settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
            session.add(
                StaffUser(
                    tenant_id=tenant_id,
                    email=email,
                    name=name,
                    role=StaffRole(role),
                    password_hash=hash_password(PASSWORD),
                    totp_secret=twofactor.encrypt_secret(settings.web.secret_key, secret),
                )
            )
    finally:
        await db.dispose()
    return email, PASSWORD, secret


async def staff_login(
    client: Any, slug: str, email: str, password: str, secret: str, code: str | None = None
) -> Any:
    """Password, then the code of the authenticator; returns the last response."""
    response = await post_form(
        client, f"/{slug}/agents/connexion", {"email": email, "password": password}
    )
    if not str(response.url).endswith("/agents/connexion/code"):
        return response
    return await post_form(
        client,
        f"/{slug}/agents/connexion/code",
        {"code": code if code is not None else pyotp.TOTP(secret).now()},
        page=response.text,
    )


async def signed_in_staff(
    client: Any,
    settings: Any,
    slug: str = "ccas-castres",
    role: str = "agent",
    name: str = "Agent TEST",
) -> tuple[str, Any]:
    """A new staff member of ``role`` signed in on ``client``; (email, landing response)."""
    email, password, secret = await new_staff(settings, slug, role, name)
    response = await staff_login(client, slug, email, password, secret)
    assert "/agents/connexion" not in str(response.url), response.text[:2000]
    return email, response


__all__ = [
    "DEMO_AGENT",
    "FR",
    "new_operator",
    "new_staff",
    "operator_login",
    "signed_in_staff",
    "staff_login",
]


async def new_operator(settings: Any) -> tuple[str, str, str]:
    """(email, password, secret) of a new platform operator."""
    from guichet.staff.models import Operator

    email = f"operateur-{uuid.uuid4().hex[:10]}@exemple.fr"
    secret = pyotp.random_base32()
    db = Database(settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            session.add(
                Operator(
                    email=email,
                    name="Opérateur TEST",
                    password_hash=hash_password(PASSWORD),
                    totp_secret=twofactor.encrypt_secret(settings.web.secret_key, secret),
                )
            )
    finally:
        await db.dispose()
    return email, PASSWORD, secret


async def operator_login(client: Any, email: str, password: str, secret: str) -> Any:
    response = await post_form(
        client, "/operator/connexion", {"email": email, "password": password}
    )
    if not str(response.url).endswith("/operator/connexion/code"):
        return response
    return await post_form(
        client, "/operator/connexion/code", {"code": pyotp.TOTP(secret).now()}, page=response.text
    )
