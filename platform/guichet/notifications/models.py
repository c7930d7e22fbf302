"""The outbox: an email that must not be lost is a row committed with the change it reports."""

from __future__ import annotations

from datetime import datetime

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from guichet.db.base import TenantOwned, TimestampedBase

__all__ = ["OutboxMessage"]


class OutboxMessage(TimestampedBase, TenantOwned):
    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_pending", "sent_at", "next_attempt_at"),)

    kind: Mapped[str] = mapped_column(String(50))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    sender_name: Mapped[str] = mapped_column(String(200), default="")
    reply_to: Mapped[str] = mapped_column(String(254), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime | None] = mapped_column(
        DateTimeUTC(timezone=True), nullable=True
    )
    sent_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    message_id: Mapped[str] = mapped_column(String(200), default="")
    # a stored file sent with the message (an invoice's PDF), read when it is sent
    attachment_key: Mapped[str] = mapped_column(String(300), default="", server_default="")
    attachment_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
