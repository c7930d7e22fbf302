"""One line of the audit log. Append-only: PostgreSQL refuses UPDATE and DELETE on the table
(a trigger, see the migration), and nothing in the platform offers either.

``tenant_id`` is not a foreign key on purpose: the lines of a deleted tenant stay (who deleted
it, and when, must outlive it); it is empty for platform-level actions (an operator signing
in)."""

from __future__ import annotations

import uuid
from typing import Any

from advanced_alchemy.types import GUID, JsonB
from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from guichet.db.base import TimestampedBase

__all__ = ["AuditEvent"]


class AuditEvent(TimestampedBase):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_tenant_created", "tenant_id", "created_at"),)

    tenant_id: Mapped[uuid.UUID | None] = mapped_column(GUID, nullable=True)
    actor_kind: Mapped[str] = mapped_column(String(20))  # staff, operator, citizen, system
    actor_id: Mapped[uuid.UUID | None] = mapped_column(GUID, nullable=True)
    actor_name: Mapped[str] = mapped_column(String(254), default="")
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JsonB, default=dict)
    ip: Mapped[str] = mapped_column(String(45), default="")
