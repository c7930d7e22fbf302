"""Writing and reading the audit log. A line is added to the caller's session: it is
committed, or rolled back, with the action it records."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.audit.models import AuditEvent

__all__ = ["audit", "audit_lines"]


def audit(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID | None,
    actor_kind: str,
    actor_id: uuid.UUID | None,
    actor_name: str,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
    ip: str = "",
) -> AuditEvent:
    event = AuditEvent(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        actor_kind=actor_kind,
        actor_id=actor_id,
        actor_name=actor_name[:254],
        action=action[:60],
        target=target[:200],
        detail=detail or {},
        ip=ip[:45],
    )
    session.add(event)
    return event


async def audit_lines(
    session: AsyncSession,
    tenant_id: uuid.UUID | None,
    *,
    action: str = "",
    actor: str = "",
    since: datetime | None = None,
    limit: int = 200,
) -> list[AuditEvent]:
    """The newest lines of one tenant (``None``: the platform's own), filtered."""
    statement = select(AuditEvent).order_by(AuditEvent.created_at.desc()).limit(limit)
    if tenant_id is None:
        statement = statement.where(AuditEvent.tenant_id.is_(None))
    else:
        statement = statement.where(AuditEvent.tenant_id == tenant_id)
    if action:
        statement = statement.where(AuditEvent.action.startswith(action))
    if actor:
        statement = statement.where(AuditEvent.actor_name.icontains(actor))
    if since is not None:
        statement = statement.where(AuditEvent.created_at >= since)
    return list((await session.execute(statement)).scalars())
