"""Ledgers, invoices and their lines, payment attempts and payments. Money is integer cents."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from advanced_alchemy.types import GUID, DateTimeUTC, JsonB
from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from guichet.db.base import TenantOwned, TimestampedBase

__all__ = [
    "ApiToken",
    "BillableItem",
    "BillingRun",
    "Invoice",
    "InvoiceLine",
    "InvoiceStatus",
    "Ledger",
    "Payment",
    "PaymentTransaction",
    "PrintPart",
    "RunStatus",
    "TransactionStatus",
]


def _enum(cls: type[enum.Enum], length: int = 20) -> Enum:
    return Enum(
        cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e]
    )


class Ledger(TimestampedBase, TenantOwned):
    """A billing register (régie), e.g. "FACTURATION SERVICE SÉNIORS", with its numbering and its
    payment backend."""

    __tablename__ = "ledger"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    service_id: Mapped[uuid.UUID] = mapped_column(
        GUID, ForeignKey("service.id", ondelete="RESTRICT")
    )
    number_prefix: Mapped[str] = mapped_column(String(10), default="")
    next_number: Mapped[int] = mapped_column(BigInteger, default=1)
    merchant_label: Mapped[str] = mapped_column(String(100), default="")  # "CCAS CASTRES VADS"
    # « Chèque à l'ordre de … » on the invoices (empty: the invoices name no payee)
    cheque_payee: Mapped[str] = mapped_column(String(200), default="", server_default="")
    backend: Mapped[str] = mapped_column(String(30), default="sandbox")
    backend_options: Mapped[str] = mapped_column(Text, default="")  # encrypted JSON
    online_payment: Mapped[bool] = mapped_column(Boolean, default=True)
    min_amount_cents: Mapped[int] = mapped_column(Integer, default=100)
    max_amount_cents: Mapped[int] = mapped_column(Integer, default=1_000_000)


class InvoiceStatus(enum.StrEnum):
    UNPAID = "non_reglee"
    PARTIAL = "partiellement_reglee"
    PAID = "reglee"
    CANCELLED = "annulee"
    DIRECT_DEBIT = "prelevee"


class Invoice(TimestampedBase, TenantOwned):
    __tablename__ = "invoice"
    __table_args__ = (
        UniqueConstraint("tenant_id", "ledger_id", "number"),
        UniqueConstraint("tenant_id", "ledger_id", "service_account_id", "period"),
        Index("ix_invoice_tenant_account", "tenant_id", "service_account_id"),
    )

    ledger_id: Mapped[uuid.UUID] = mapped_column(GUID, ForeignKey("ledger.id", ondelete="RESTRICT"))
    service_account_id: Mapped[uuid.UUID] = mapped_column(
        GUID, ForeignKey("service_account.id", ondelete="RESTRICT")
    )
    number: Mapped[str] = mapped_column(String(30))
    label: Mapped[str] = mapped_column(String(200))  # "Janvier 2020"
    recipient: Mapped[str] = mapped_column(String(200))  # "Madame ALQUIER Cécile"
    # the lines under the recipient's name on the paper invoice, as they were when it was made
    recipient_address: Mapped[str] = mapped_column(String(600), default="", server_default="")
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    pay_from: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    pay_until: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    paid_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[InvoiceStatus] = mapped_column(
        _enum(InvoiceStatus, 30), default=InvoiceStatus.UNPAID
    )
    pdf_key: Mapped[str] = mapped_column(String(300), default="")
    pdf_digest: Mapped[str] = mapped_column(String(64), default="")
    # set by billing runs: a service file gets at most one invoice per ledger and period
    period: Mapped[str | None] = mapped_column(String(7), nullable=True)
    billing_run_id: Mapped[uuid.UUID | None] = mapped_column(
        GUID, ForeignKey("billing_run.id", ondelete="SET NULL"), nullable=True
    )
    emailed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    reminded_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    # cancelled by the régisseur: the credit note ("avoir") that cancels it
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    cancel_reason: Mapped[str] = mapped_column(String(300), default="")
    credit_note_number: Mapped[str] = mapped_column(String(40), default="")

    @property
    def amount_due_cents(self) -> int:
        if self.status in (InvoiceStatus.CANCELLED, InvoiceStatus.DIRECT_DEBIT):
            return 0
        return max(0, self.total_cents - self.paid_cents)

    @property
    def excess_cents(self) -> int:
        """What was paid beyond what was owed, to give back: an invoice paid online twice
        (two windows, two devices), or paid after it was cancelled or debited. The bank's
        money is always recorded; this says how much of it is to refund."""
        if self.status in (InvoiceStatus.CANCELLED, InvoiceStatus.DIRECT_DEBIT):
            return max(0, self.paid_cents)
        return max(0, self.paid_cents - self.total_cents)


class InvoiceLine(TimestampedBase, TenantOwned):
    __tablename__ = "invoice_line"
    __table_args__ = (Index("ix_invoice_line_tenant_invoice", "tenant_id", "invoice_id"),)

    invoice_id: Mapped[uuid.UUID] = mapped_column(
        GUID, ForeignKey("invoice.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    unit_cents: Mapped[int] = mapped_column(BigInteger)
    amount_cents: Mapped[int] = mapped_column(BigInteger)


class TransactionStatus(enum.StrEnum):
    PENDING = "pending"
    PAID = "paid"
    REFUSED = "refused"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    ERROR = "error"


class PaymentTransaction(TimestampedBase, TenantOwned):
    """One attempt to pay online; the bank's notifications are kept as received."""

    __tablename__ = "payment_transaction"
    __table_args__ = (
        UniqueConstraint("tenant_id", "reference"),
        Index("ix_payment_transaction_tenant_invoice", "tenant_id", "invoice_id"),
    )

    invoice_id: Mapped[uuid.UUID] = mapped_column(
        GUID, ForeignKey("invoice.id", ondelete="RESTRICT")
    )
    reference: Mapped[str] = mapped_column(String(40))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    backend: Mapped[str] = mapped_column(String(30))
    email: Mapped[str] = mapped_column(String(254), default="")
    status: Mapped[TransactionStatus] = mapped_column(
        _enum(TransactionStatus), default=TransactionStatus.PENDING
    )
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    notified_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    bank_status: Mapped[str] = mapped_column(Text, default="")
    notifications: Mapped[list[dict[str, Any]]] = mapped_column(JsonB, default=list)
    # the form that sends the browser to the bank (JSON: url, method, fields), so that the page
    # holding it has an address of its own: the browser's Back from the bank comes back to it
    bank_form: Mapped[str] = mapped_column(Text, default="", server_default="")


class Payment(TimestampedBase, TenantOwned):
    __tablename__ = "payment"
    __table_args__ = (
        Index("ix_payment_tenant_invoice", "tenant_id", "invoice_id"),
        UniqueConstraint("tenant_id", "transaction_id"),  # one payment per attempt
    )

    invoice_id: Mapped[uuid.UUID] = mapped_column(
        GUID, ForeignKey("invoice.id", ondelete="RESTRICT")
    )
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(
        GUID, ForeignKey("payment_transaction.id", ondelete="RESTRICT"), nullable=True
    )
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(20))  # online, agent (cash, cheque…)
    paid_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    reference: Mapped[str] = mapped_column(String(100), default="")


class BillableItem(TimestampedBase, TenantOwned):
    """A service delivered to a citizen's file (e.g. a meal delivered on 3 January), waiting for
    the billing run of its period."""

    __tablename__ = "billable_item"
    __table_args__ = (
        Index("ix_billable_item_tenant_ledger_period", "tenant_id", "ledger_id", "period"),
        # What a billing run still has to invoice, by file: the run walks it by batches and
        # marks each file's items; without it each mark scanned the whole period (O(n²)).
        Index(
            "ix_billable_item_pending",
            "tenant_id",
            "ledger_id",
            "period",
            "service_account_id",
            postgresql_where=text("invoice_id IS NULL"),
            sqlite_where=text("invoice_id IS NULL"),
        ),
        # what an import knows an item by (billing/items.py)
        Index(
            "uq_billable_item_identity",
            "tenant_id",
            "ledger_id",
            "service_account_id",
            "service_date",
            "label",
            unique=True,
        ),
    )

    ledger_id: Mapped[uuid.UUID] = mapped_column(GUID, ForeignKey("ledger.id", ondelete="RESTRICT"))
    service_account_id: Mapped[uuid.UUID] = mapped_column(
        GUID, ForeignKey("service_account.id", ondelete="RESTRICT")
    )
    period: Mapped[str] = mapped_column(String(7))  # "2020-01"
    service_date: Mapped[date] = mapped_column(Date)
    label: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    unit_cents: Mapped[int] = mapped_column(BigInteger)
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(
        GUID, ForeignKey("invoice.id", ondelete="SET NULL"), nullable=True
    )


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class BillingRun(TimestampedBase, TenantOwned):
    """One billing run of a ledger for a period; its counters show the progress."""

    __tablename__ = "billing_run"
    __table_args__ = (Index("ix_billing_run_tenant_ledger", "tenant_id", "ledger_id"),)

    ledger_id: Mapped[uuid.UUID] = mapped_column(GUID, ForeignKey("ledger.id", ondelete="RESTRICT"))
    period: Mapped[str] = mapped_column(String(7))
    status: Mapped[RunStatus] = mapped_column(_enum(RunStatus), default=RunStatus.QUEUED)
    invoices_created: Mapped[int] = mapped_column(Integer, default=0)
    pdfs_rendered: Mapped[int] = mapped_column(Integer, default=0)
    emails_queued: Mapped[int] = mapped_column(Integer, default=0)
    print_pdf_key: Mapped[str] = mapped_column(String(300), default="")  # its first volume
    print_volumes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str] = mapped_column(Text, default="")
    finished_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)

    @property
    def print_keys(self) -> list[str]:
        """The print file's volumes in order (a run made before volumes has one)."""
        if not self.print_pdf_key:
            return []
        count = max(self.print_volumes, 1)
        return [print_volume_key(self.print_pdf_key, n) for n in range(1, count + 1)]


class PrintPart(TimestampedBase, TenantOwned):
    """The pages of a PDF batch's postal invoices, written by the batch and waiting to be joined
    into the period's print file. The row names the file, so that the print step finds the
    parts in one query (not one lookup per invoice in the store) and deleting the tenant deletes
    the file even when a run stopped before its print step."""

    __tablename__ = "billing_print_part"
    __table_args__ = (
        Index("ix_billing_print_part_tenant_ledger_period", "tenant_id", "ledger_id", "period"),
    )

    ledger_id: Mapped[uuid.UUID] = mapped_column(GUID, ForeignKey("ledger.id", ondelete="RESTRICT"))
    period: Mapped[str] = mapped_column(String(7))
    first_number: Mapped[str] = mapped_column(String(30))  # the batch's first invoice
    storage_key: Mapped[str] = mapped_column(String(300))


def print_volume_key(first: str, number: int) -> str:
    """``…-courrier.pdf``, ``…-courrier-2.pdf``, ``…-courrier-3.pdf``…"""
    return first if number == 1 else f"{first.removesuffix('.pdf')}-{number}.pdf"


class ApiToken(TimestampedBase, TenantOwned):
    """A token given to the tenant's billing software; only its digest is stored."""

    __tablename__ = "api_token"
    __table_args__ = (UniqueConstraint("tenant_id", "token_digest"),)

    name: Mapped[str] = mapped_column(String(100))
    token_digest: Mapped[str] = mapped_column(String(64))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
