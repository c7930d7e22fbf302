"""Declarative base and the tenant-owned mixin.

Every tenant-owned table carries ``tenant_id`` (indexed first in composite indexes) and is listed
in :data:`TENANT_OWNED_TABLES`, which the migrations use to create PostgreSQL row-level security
policies and the tests use to check that no table was forgotten.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import ForeignKey, MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

__all__ = ["TENANT_OWNED_TABLES", "Base", "TenantOwned", "TimestampedBase", "utcnow"]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TENANT_OWNED_TABLES: set[str] = set()


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Root of every model; UUID primary keys (portable between SQLite and PostgreSQL)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {uuid.UUID: GUID, datetime: DateTimeUTC}

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=uuid.uuid4)


class TimestampedBase(Base):
    __abstract__ = True

    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utcnow, onupdate=utcnow
    )


class TenantOwned:
    """Mixin of tenant-owned models: a ``tenant_id`` column and registration for RLS."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table = getattr(cls, "__tablename__", None)
        if table and not cls.__dict__.get("__abstract__", False):
            TENANT_OWNED_TABLES.add(table)

    @declared_attr
    @classmethod
    def tenant_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(
            GUID, ForeignKey("tenant.id", ondelete="CASCADE"), nullable=False, index=True
        )
