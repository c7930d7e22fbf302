"""Onboarding a tenant and inviting its administrators, and the tenants' figures: shared by the
operators' pages (``operators/web.py``) and the command line, which must not import the web
layer (a command starts in a fraction of the time)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.i18n import gettext as _
from guichet.notifications.services import queue_email
from guichet.settings import Settings
from guichet.staff.models import ROLE_LABELS, StaffRole, StaffUser
from guichet.staff.services import INVITATION_DAYS, RESET_VALID, StaffService
from guichet.tenancy.models import Tenant, TenantKind, TenantStatus
from guichet.tenancy.snapshot import TenantSnapshot
from guichet.web.templates import TemplateRenderer

__all__ = ["invitation_email", "onboard_tenant", "reinvite_admins", "tenant_figures"]


async def onboard_tenant(
    db: AsyncSession,
    services: Any,
    *,
    slug: str,
    name: str,
    kind: TenantKind,
    admin_email: str,
    admin_name: str,
) -> tuple[Tenant, uuid.UUID]:
    """A new tenant with the default look, and its first administrator invited by email;
    returns the tenant and the invitation's outbox id (to hand to a worker after commit)."""
    tenant = Tenant(
        id=uuid.uuid4(),
        slug=slug,
        name=name,
        short_name=name[:100],
        kind=kind,
        status=TenantStatus.ACTIVE,
        contact_email=admin_email[:200],
        welcome_text="",
    )
    db.add(tenant)
    await db.flush()
    user, token = await StaffService(db, tenant.id).invite(admin_email, admin_name, StaffRole.ADMIN)
    snapshot = TenantSnapshot.from_model(tenant)
    return tenant, invitation_email(db, services.renderer, services.settings, snapshot, user, token)


async def reinvite_admins(
    db: AsyncSession, services: Any, tenant: Tenant
) -> list[tuple[StaffUser, uuid.UUID]]:
    """A new invitation to each active administrator who has not accepted theirs (the former
    link stops working); (member, outbox id) of each."""
    staff = StaffService(db, tenant.id)
    snapshot = TenantSnapshot.from_model(tenant)
    waiting = [
        u
        for u in await staff.repository.get_many(StaffUser.role == StaffRole.ADMIN)
        if not u.password_hash and u.active
    ]
    invited = []
    for user in waiting:
        again, token = await staff.invite(user.email, user.name, user.role)
        message_id = invitation_email(
            db, services.renderer, services.settings, snapshot, again, token
        )
        invited.append((user, message_id))
    return invited


def invitation_email(
    db: AsyncSession,
    renderer: TemplateRenderer,
    settings: Settings,
    tenant: TenantSnapshot,
    user: StaffUser,
    token: str,
    kind: str = "staff_invitation",
) -> uuid.UUID:
    """Queue the email that brings ``user`` a link to choose a password — an invitation to
    ``tenant``, or ``staff_password_reset`` / ``staff_access_reset``; returns the outbox id."""
    message = queue_email(
        db,
        renderer,
        settings,
        tenant,
        kind=kind,
        recipient=user.email,
        locale=tenant.default_locale or "fr",
        context={
            "user": user,
            "role": _(ROLE_LABELS[user.role]),
            "link": f"{settings.web.public_url}/{tenant.slug}/agents/invitation/{token}",
            "minutes": int(RESET_VALID.total_seconds() // 60),
            "days": INVITATION_DAYS,
        },
    )
    return message.id


async def tenant_figures(db: AsyncSession) -> dict[uuid.UUID, dict[str, int]]:
    """Per tenant: active personal spaces, open requests and what is left to pay (cents)."""
    from guichet.accounts.models import Citizen, CitizenStatus
    from guichet.billing.models import Invoice, InvoiceStatus
    from guichet.procedures.models import OPEN_STATUSES, ProcedureRequest

    figures: dict[uuid.UUID, dict[str, int]] = {}

    async def gather(name: str, statement: Any) -> None:
        for tenant_id, value in (await db.execute(statement)).all():
            figures.setdefault(tenant_id, {})[name] = int(value or 0)

    await gather(
        "citizens",
        select(Citizen.tenant_id, func.count(Citizen.id))
        .where(Citizen.status == CitizenStatus.ACTIVE)
        .group_by(Citizen.tenant_id),
    )
    await gather(
        "open_requests",
        select(ProcedureRequest.tenant_id, func.count(ProcedureRequest.id))
        .where(ProcedureRequest.status.in_(OPEN_STATUSES))
        .group_by(ProcedureRequest.tenant_id),
    )
    await gather(
        "unpaid_cents",
        select(Invoice.tenant_id, func.sum(Invoice.total_cents - Invoice.paid_cents))
        .where(Invoice.status.in_((InvoiceStatus.UNPAID, InvoiceStatus.PARTIAL)))
        .group_by(Invoice.tenant_id),
    )
    return figures
