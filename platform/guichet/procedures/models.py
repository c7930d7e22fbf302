"""A procedure ("Demande de portage de repas à domicile"): who may submit it, its form, the
documents it needs, the announced processing time and the statuses it goes through."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from advanced_alchemy.types import GUID, DateTimeUTC, JsonB
from sqlalchemy import (
    BigInteger,
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from guichet.db.base import TenantOwned, TimestampedBase
from guichet.db.repository import TenantRepository

__all__ = [
    "FIELD_KINDS",
    "OPEN_STATUSES",
    "Procedure",
    "ProcedureRepository",
    "ProcedureRequest",
    "RequestAttachment",
    "RequestEvent",
    "RequestMessage",
    "RequestStatus",
]


class RequestStatus(enum.StrEnum):
    """Every status a request can have, in the order a request usually meets them."""

    DRAFT = "brouillon"
    SENT = "transmise"
    IN_REVIEW = "en_cours"
    WAITING = "en_attente_complements"
    ACCEPTED = "acceptee"
    REFUSED = "refusee"
    CLOSED = "cloturee"


# Sent and not yet decided: the agents' queue shows these first.
OPEN_STATUSES = (RequestStatus.SENT, RequestStatus.IN_REVIEW, RequestStatus.WAITING)


def _status_column(**kwargs: Any) -> Any:
    return mapped_column(
        Enum(
            RequestStatus,
            native_enum=False,
            length=30,
            values_callable=lambda e: [m.value for m in e],
        ),
        **kwargs,
    )


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


class ProcedureRequest(TimestampedBase, TenantOwned):
    """A request ("demande"): a draft until it is sent, then followed through its statuses.

    A citizen's request has ``citizen_id``; one sent without an account has none and is followed
    with its reference, the email and a tracking code (only its hash is kept)."""

    __tablename__ = "procedure_request"
    __table_args__ = (
        UniqueConstraint("tenant_id", "reference"),
        Index("ix_procedure_request_tenant_citizen", "tenant_id", "citizen_id"),
        Index("ix_procedure_request_tenant_status", "tenant_id", "status"),
    )

    procedure_id: Mapped[uuid.UUID] = mapped_column(
        GUID, ForeignKey("procedure.id", ondelete="CASCADE")
    )
    citizen_id: Mapped[uuid.UUID | None] = mapped_column(
        GUID, ForeignKey("citizen.id", ondelete="CASCADE"), nullable=True
    )
    # given when sent; a draft has none
    reference: Mapped[str | None] = mapped_column(String(20), nullable=True)
    status: Mapped[RequestStatus] = _status_column(default=RequestStatus.DRAFT)
    answers: Mapped[dict[str, Any]] = mapped_column(JsonB, default=dict)
    email: Mapped[str] = mapped_column(String(254), default="")
    name: Mapped[str] = mapped_column(String(200), default="")  # who is writing, for the agents
    locale: Mapped[str] = mapped_column(String(10), default="fr")
    tracking_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    assigned_to: Mapped[uuid.UUID | None] = mapped_column(
        GUID, ForeignKey("staff_user.id", ondelete="SET NULL"), nullable=True
    )


class RequestEvent(TimestampedBase, TenantOwned):
    """A status the request entered, when, and the comment that went with it."""

    __tablename__ = "request_event"
    __table_args__ = (Index("ix_request_event_tenant_request", "tenant_id", "request_id"),)

    request_id: Mapped[uuid.UUID] = mapped_column(
        GUID, ForeignKey("procedure_request.id", ondelete="CASCADE")
    )
    status: Mapped[RequestStatus] = _status_column()
    comment: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(200), default="")  # shown to agents only


class RequestMessage(TimestampedBase, TenantOwned):
    """A message of the thread between the citizen and the agents; ``read_at`` is when the
    other side first saw it."""

    __tablename__ = "request_message"
    __table_args__ = (Index("ix_request_message_tenant_request", "tenant_id", "request_id"),)

    request_id: Mapped[uuid.UUID] = mapped_column(
        GUID, ForeignKey("procedure_request.id", ondelete="CASCADE")
    )
    from_agent: Mapped[bool] = mapped_column(Boolean, default=False)
    author: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    read_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)


class RequestAttachment(TimestampedBase, TenantOwned):
    """A file of a request: a supporting document of the form (``slot``) or a message's
    attachment (``message_id``). Its own copy: deleting the stored document keeps it."""

    __tablename__ = "request_attachment"
    __table_args__ = (Index("ix_request_attachment_tenant_request", "tenant_id", "request_id"),)

    request_id: Mapped[uuid.UUID] = mapped_column(
        GUID, ForeignKey("procedure_request.id", ondelete="CASCADE")
    )
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        GUID, ForeignKey("request_message.id", ondelete="CASCADE"), nullable=True
    )
    slot: Mapped[str] = mapped_column(String(40), default="")
    title: Mapped[str] = mapped_column(String(150))
    media_type: Mapped[str] = mapped_column(String(50))
    size: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
