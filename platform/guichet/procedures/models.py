"""A procedure ("Demande de portage de repas à domicile"): who may submit it, its form, the
documents it needs, the announced processing time and the statuses it goes through."""

from __future__ import annotations

import enum
from typing import Any

from advanced_alchemy.types import JsonB
from sqlalchemy import Boolean, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from guichet.db.base import TenantOwned, TimestampedBase
from guichet.db.repository import TenantRepository

__all__ = ["FIELD_KINDS", "Procedure", "ProcedureRepository", "RequestStatus"]


class RequestStatus(enum.StrEnum):
    """Every status a request can have, in the order a request usually meets them."""

    DRAFT = "brouillon"
    SENT = "transmise"
    IN_REVIEW = "en_cours"
    WAITING = "en_attente_complements"
    ACCEPTED = "acceptee"
    REFUSED = "refusee"
    CLOSED = "cloturee"


# The kinds of form fields a procedure may use.
FIELD_KINDS = (
    "text",
    "long_text",
    "date",
    "number",
    "email",
    "phone",
    "choice",
    "checkboxes",
    "address",
    "document",
)


class Procedure(TimestampedBase, TenantOwned):
    __tablename__ = "procedure"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    code: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")  # Markdown
    account_required: Mapped[bool] = mapped_column(Boolean, default=True)
    processing_days: Mapped[int] = mapped_column(Integer, default=0)  # 0: not announced
    # [{"key", "label", "kind", "required", "hint", "choices": [...], "prefill"}]
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JsonB, default=list)
    # [{"key", "label", "required"}]: supporting documents asked for
    documents: Mapped[list[dict[str, Any]]] = mapped_column(JsonB, default=list)
    statuses: Mapped[list[str]] = mapped_column(JsonB, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ProcedureRepository(TenantRepository[Procedure]):
    model_type = Procedure
