"""Test helpers for the outbox: an activation email queued with its change, what was sent."""

from __future__ import annotations

from sqlalchemy import select

from guichet.accounts.services import AccountService
from guichet.db.session import Database
from guichet.notifications.models import OutboxMessage
from guichet.tenancy.models import Tenant
from guichet.tenancy.snapshot import TenantSnapshot
from guichet.web.templates import TemplateRenderer


async def queue_activation(settings, username: str) -> list:
    """Create an account in ccas-castres as the wizard does: the email joins the same commit."""
    db = Database(settings)
    try:
        async with db.session(all_tenants=True) as session:
            tenant = TenantSnapshot.from_model(
                (
                    await session.execute(select(Tenant).where(Tenant.slug == "ccas-castres"))
                ).scalar_one()
            )
        async with db.session(tenant.id) as session:
            service = AccountService(
                session, tenant, settings, TemplateRenderer(settings.themes_dir)
            )
            await service.create_account(
                {
                    "username": username,
                    "civility": "Madame",
                    "last_name": "Alquier",
                    "first_names": "Cécile",
                    "email": f"{username}@exemple.fr",
                },
                "Tarn2castres81x",
                [],
                1,
                "fr",
            )
            await session.commit()
            return list(service.queued)
    finally:
        await db.dispose()


async def sent_state(settings, ids) -> list:
    db = Database(settings)
    try:
        async with db.session(all_tenants=True) as session:
            rows = (
                (await session.execute(select(OutboxMessage).where(OutboxMessage.id.in_(ids))))
                .scalars()
                .all()
            )
            return [r.sent_at for r in rows]
    finally:
        await db.dispose()
