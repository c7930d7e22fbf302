"""A tenant's staff member, separate from its citizens. Roles: administrateur, agent, régisseur.

The back-office issue adds invitations and a second factor; until then staff are created with
``guichet staff create``."""

from __future__ import annotations

import enum
from datetime import datetime

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Boolean, Enum, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from guichet.db.base import TenantOwned, TimestampedBase
from guichet.db.repository import TenantRepository

__all__ = ["StaffRepository", "StaffRole", "StaffUser"]


class StaffRole(enum.StrEnum):
    ADMIN = "administrateur"
    AGENT = "agent"
    CASHIER = "regisseur"


class StaffUser(TimestampedBase, TenantOwned):
    __tablename__ = "staff_user"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)

    email: Mapped[str] = mapped_column(String(254))  # lower case; also the login
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[StaffRole] = mapped_column(
        Enum(
            StaffRole,
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=StaffRole.AGENT,
    )
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    last_login_at: Mapped[datetime | None] = mapped_column(
        DateTimeUTC(timezone=True), nullable=True
    )


class StaffRepository(TenantRepository[StaffUser]):
    model_type = StaffUser
