"""A person around the citizen, shown as a card on the dashboard."""

from __future__ import annotations

import enum
import uuid

from advanced_alchemy.types import GUID
from sqlalchemy import Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from guichet.db.base import TenantOwned, TimestampedBase

__all__ = ["Contact", "ContactKind"]


class ContactKind(enum.StrEnum):
    SPOUSE = "conjoint"
    CHILD = "enfant"
    HOUSEHOLD = "membre_foyer"
    EMERGENCY = "contact_a_prevenir"
    DOCTOR = "medecin"
    HOME_HELP = "aide_domicile"
    OTHER = "autre"


class Contact(TimestampedBase, TenantOwned):
    __tablename__ = "contact"
    __table_args__ = (Index("ix_contact_tenant_citizen", "tenant_id", "citizen_id"),)

    citizen_id: Mapped[uuid.UUID] = mapped_column(
        GUID, ForeignKey("citizen.id", ondelete="CASCADE")
    )
    kind: Mapped[ContactKind] = mapped_column(
        Enum(
            ContactKind,
            native_enum=False,
            length=30,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    civility: Mapped[str] = mapped_column(String(20), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    first_name: Mapped[str] = mapped_column(String(100))
    relation: Mapped[str] = mapped_column(String(100), default="")  # "fille", "voisin"…
    phone: Mapped[str] = mapped_column(String(30), default="")
    mobile: Mapped[str] = mapped_column(String(30), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
