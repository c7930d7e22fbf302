"""A supporting document stored for a citizen; the file itself lives in the file store."""

from __future__ import annotations

import enum
import uuid
from datetime import date

from advanced_alchemy.types import GUID
from sqlalchemy import BigInteger, Date, Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from guichet.db.base import TenantOwned, TimestampedBase

__all__ = ["Document", "DocumentKind"]


class DocumentKind(enum.StrEnum):
    PROOF_OF_ADDRESS = "justificatif_domicile"
    IDENTITY = "piece_identite"
    TAX_NOTICE = "avis_imposition"
    BANK_DETAILS = "rib"
    CAF = "attestation_caf"
    OTHER = "autre"


class Document(TimestampedBase, TenantOwned):
    __tablename__ = "document"
    __table_args__ = (Index("ix_document_tenant_citizen", "tenant_id", "citizen_id"),)

    citizen_id: Mapped[uuid.UUID] = mapped_column(
        GUID, ForeignKey("citizen.id", ondelete="CASCADE")
    )
    title: Mapped[str] = mapped_column(String(150))
    kind: Mapped[DocumentKind] = mapped_column(
        Enum(
            DocumentKind,
            native_enum=False,
            length=30,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    media_type: Mapped[str] = mapped_column(String(50))
    size: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
