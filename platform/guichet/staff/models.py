"""A tenant's staff member, separate from its citizens. Roles: administrateur, agent, régisseur.

The back-office issue adds invitations and a second factor; until then staff are created with
``guichet staff create``."""

from __future__ import annotations

import enum
from datetime import datetime

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import BigInteger, Boolean, Enum, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from guichet.db.base import TenantOwned, TimestampedBase
from guichet.db.repository import TenantRepository
from guichet.i18n import N_

__all__ = ["ROLE_LABELS", "Operator", "StaffRepository", "StaffRole", "StaffUser"]


class StaffRole(enum.StrEnum):
    ADMIN = "administrateur"
    AGENT = "agent"
    CASHIER = "regisseur"


# The roles' names as staff read them (translated where shown: gettext(ROLE_LABELS[role])).
ROLE_LABELS = {
    StaffRole.ADMIN: N_("Administrateur"),
    StaffRole.AGENT: N_("Agent"),
    StaffRole.CASHIER: N_("Régisseur"),
}


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
    # the second factor (TOTP): the secret encrypted, the last step a code was accepted for
    totp_secret: Mapped[str] = mapped_column(String(300), default="")
    totp_step: Mapped[int] = mapped_column(BigInteger, default=0)
    # an invitation not yet accepted: the SHA-256 of its token and when it ends
    invite_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    invite_expires_at: Mapped[datetime | None] = mapped_column(
        DateTimeUTC(timezone=True), nullable=True
    )


class Operator(TimestampedBase):
    """A platform operator: onboards and looks after tenants; belongs to no tenant."""

    __tablename__ = "operator"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    last_login_at: Mapped[datetime | None] = mapped_column(
        DateTimeUTC(timezone=True), nullable=True
    )
    totp_secret: Mapped[str] = mapped_column(String(300), default="")
    totp_step: Mapped[int] = mapped_column(BigInteger, default=0)


class StaffRepository(TenantRepository[StaffUser]):
    model_type = StaffUser
