"""Invoices of a citizen, online payment, and what the bank tells us.

The browser's return from the bank is never proof of payment: only a notification whose signature
the backend verified, whose reference and amount match an attempt, changes an invoice. Each
notification is kept as received; a repeated one changes nothing; a late one (after the attempt
expired) is recorded, applied and flagged for the agents — money the bank took is never ignored.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, overload
from urllib.parse import parse_qs

from eopayment import BackendNotFound, ResponseError
from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.accounts.models import ServiceAccount
from guichet.billing.backends import backend_for
from guichet.billing.models import (
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Ledger,
    Payment,
    PaymentTransaction,
    TransactionStatus,
)
from guichet.i18n import gettext as _
from guichet.settings import Settings

__all__ = [
    "ATTEMPT_TTL",
    "HISTORY_SHOWN",
    "OPEN_SHOWN",
    "YEAR_SHOWN",
    "BillingService",
    "NotificationError",
    "PaymentUnavailable",
    "as_utc",
    "handle_notification",
    "payment_blocker",
    "refresh_status",
]

ATTEMPT_TTL = timedelta(minutes=30)
MAX_NOTIFICATION_BYTES = 16 * 1024


def now() -> datetime:
    return datetime.now(UTC)


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """A stored moment, aware: SQLite gives it back naive (it is UTC)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def refresh_status(invoice: Invoice) -> None:
    if invoice.status in (InvoiceStatus.CANCELLED, InvoiceStatus.DIRECT_DEBIT):
        return
    if invoice.paid_cents >= invoice.total_cents:
        invoice.status = InvoiceStatus.PAID
    elif invoice.paid_cents > 0:
        invoice.status = InvoiceStatus.PARTIAL
    else:
        invoice.status = InvoiceStatus.UNPAID


def payment_blocker(invoice: Invoice, ledger: Ledger, at: datetime | None = None) -> str | None:
    """Why this invoice cannot be paid online now (a sentence for the citizen), or None."""
    at = at or now()
    if invoice.status == InvoiceStatus.DIRECT_DEBIT:
        return _("Cette facture est réglée par prélèvement automatique.")
    if invoice.status == InvoiceStatus.CANCELLED:
        return _("Cette facture est annulée.")
    if invoice.amount_due_cents <= 0:
        return _("Cette facture est déjà réglée.")
    if not ledger.online_payment:
        return _(
            "Le paiement en ligne n'est pas proposé pour cette facturation : réglez-la "
            "auprès de nos services."
        )
    pay_from, pay_until = as_utc(invoice.pay_from), as_utc(invoice.pay_until)
    if pay_from and at < pay_from:
        return _("Le paiement en ligne n'est pas encore ouvert pour cette facture.")
    if pay_until and at > pay_until:
        return _(
            "Le paiement en ligne de cette facture est clos : réglez-la auprès de nos services."
        )
    if invoice.amount_due_cents < ledger.min_amount_cents:
        return _("Le montant restant est inférieur au minimum accepté en ligne.")
    if invoice.amount_due_cents > ledger.max_amount_cents:
        return _(
            "Le montant dépasse le maximum accepté en ligne : réglez cette facture auprès "
            "de nos services."
        )
    return None


# Built once with bound parameters (the tenant is always one): see accounts/services.py.
# The dashboard's count of unpaid invoices (accounts/space.py, through guichet.billing).
UNPAID_COUNT = (
    select(func.count())
    .select_from(Invoice)
    .join(ServiceAccount, ServiceAccount.id == Invoice.service_account_id)
    .where(
        Invoice.tenant_id == bindparam("tenant_id"),
        ServiceAccount.citizen_id == bindparam("citizen_id"),
        Invoice.status.in_([InvoiceStatus.UNPAID, InvoiceStatus.PARTIAL]),
    )
)

_MINE = (
    select(Invoice, Ledger)
    .join(ServiceAccount, ServiceAccount.id == Invoice.service_account_id)
    .join(Ledger, Ledger.id == Invoice.ledger_id)
    .where(
        Invoice.tenant_id == bindparam("tenant_id"),
        ServiceAccount.tenant_id == bindparam("tenant_id"),
        ServiceAccount.citizen_id == bindparam("citizen_id"),
    )
)
_OPEN = Invoice.status.in_([InvoiceStatus.UNPAID, InvoiceStatus.PARTIAL])
# MES FACTURES: every invoice to pay (up to OPEN_SHOWN) and, per ledger, the HISTORY_SHOWN
# latest others, plus one to tell that there are more (a file billed every month for years
# would otherwise make a page of thousands of lines)
OPEN_SHOWN, HISTORY_SHOWN = 200, 24
_RANKED = (
    select(
        Invoice.id,
        func.row_number()
        .over(
            partition_by=(Invoice.ledger_id, _OPEN),
            order_by=(Invoice.issue_date.desc(), Invoice.number.desc()),
        )
        .label("rank"),
    )
    .join(ServiceAccount, ServiceAccount.id == Invoice.service_account_id)
    .where(
        Invoice.tenant_id == bindparam("tenant_id"),
        ServiceAccount.tenant_id == bindparam("tenant_id"),
        ServiceAccount.citizen_id == bindparam("citizen_id"),
    )
    .subquery()
)
_MY_INVOICES = (
    select(Invoice, Ledger, _RANKED.c.rank)
    .join(_RANKED, _RANKED.c.id == Invoice.id)
    .join(Ledger, Ledger.id == Invoice.ledger_id)
    .where(
        Invoice.tenant_id == bindparam("tenant_id"),
        (_RANKED.c.rank <= HISTORY_SHOWN + 1) | (_OPEN & (_RANKED.c.rank <= OPEN_SHOWN)),
    )
    .order_by(Ledger.name, Ledger.id, Invoice.issue_date.desc(), Invoice.number.desc())
)
# Most citizens have a few dozen invoices: one plain statement brings them all (the ranked one
# above costs about a third more of the page's CPU), and is used only past FIRST_LOOK.
FIRST_LOOK = 300
_MY_FIRST_LOOK = _MINE.order_by(
    Ledger.name, Ledger.id, Invoice.issue_date.desc(), Invoice.number.desc()
).limit(bindparam("first_look"))
# what the citizen has to pay, all invoices counted
_MY_DUE = (
    select(func.count(), func.coalesce(func.sum(Invoice.total_cents - Invoice.paid_cents), 0))
    .join(ServiceAccount, ServiceAccount.id == Invoice.service_account_id)
    .where(
        Invoice.tenant_id == bindparam("tenant_id"),
        ServiceAccount.tenant_id == bindparam("tenant_id"),
        ServiceAccount.citizen_id == bindparam("citizen_id"),
        _OPEN,
    )
)
_YEAR = func.extract("year", Invoice.issue_date)
_MY_YEARS = (
    select(_YEAR)
    .join(ServiceAccount, ServiceAccount.id == Invoice.service_account_id)
    .where(
        Invoice.tenant_id == bindparam("tenant_id"),
        ServiceAccount.tenant_id == bindparam("tenant_id"),
        ServiceAccount.citizen_id == bindparam("citizen_id"),
    )
    .group_by(_YEAR)
    .order_by(_YEAR.desc())
)
YEAR_SHOWN = 500
_MY_YEAR = (
    _MINE.where(
        Invoice.issue_date >= bindparam("first_day"), Invoice.issue_date < bindparam("next_year")
    )
    .order_by(Ledger.name, Invoice.issue_date.desc(), Invoice.number.desc())
    .limit(YEAR_SHOWN)
)
_MY_INVOICE = _MINE.where(Invoice.id == bindparam("invoice_id"))
_LINES = (
    select(InvoiceLine)
    .where(
        InvoiceLine.tenant_id == bindparam("tenant_id"),
        InvoiceLine.invoice_id == bindparam("invoice_id"),
    )
    .order_by(InvoiceLine.position)
)
_PAYMENTS = (
    select(Payment)
    .where(
        Payment.tenant_id == bindparam("tenant_id"), Payment.invoice_id == bindparam("invoice_id")
    )
    .order_by(Payment.paid_at)
)
_PENDING = (
    select(PaymentTransaction)
    .where(
        PaymentTransaction.tenant_id == bindparam("tenant_id"),
        PaymentTransaction.invoice_id == bindparam("invoice_id"),
        PaymentTransaction.status == TransactionStatus.PENDING,
        PaymentTransaction.expires_at > bindparam("now"),
    )
    .order_by(PaymentTransaction.created_at.desc())
    .limit(1)
)
_MY_ACCOUNTS = select(ServiceAccount).where(
    ServiceAccount.tenant_id == bindparam("tenant_id"),
    ServiceAccount.citizen_id == bindparam("citizen_id"),
)


@dataclass
class InvoiceView:
    invoice: Invoice
    ledger: Ledger
    lines: list[InvoiceLine]
    payments: list[Payment]


async def lines_and_payments(
    session: AsyncSession, tenant_id: uuid.UUID, invoice_id: uuid.UUID
) -> tuple[list[InvoiceLine], list[Payment]]:
    """An invoice's lines and payments, in order (the invoice already found in the tenant)."""
    of_invoice = {"tenant_id": tenant_id, "invoice_id": invoice_id}
    lines = list((await session.execute(_LINES, of_invoice)).scalars())
    payments = list((await session.execute(_PAYMENTS, of_invoice)).scalars())
    return lines, payments


class BillingService:
    """A citizen's invoices: every query goes through the citizen's linked service files."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID, citizen_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.citizen_id = citizen_id

    @property
    def _mine_parameters(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "citizen_id": self.citizen_id}

    async def invoices(self) -> list[tuple[Invoice, Ledger, int]]:
        """(invoice, its ledger, its rank among the ledger's invoices to pay, or among the
        others): all to pay up to OPEN_SHOWN, then HISTORY_SHOWN + 1 others per ledger, newest
        first, by ledger name."""
        parameters = {**self._mine_parameters, "first_look": FIRST_LOOK}
        first = (await self.session.execute(_MY_FIRST_LOOK, parameters)).all()
        if len(first) < FIRST_LOOK:  # all of them: ranked here as the statement would
            ranks: dict[tuple[uuid.UUID, bool], int] = {}
            ranked = []
            for invoice, ledger in first:
                key = (ledger.id, invoice.status in (InvoiceStatus.UNPAID, InvoiceStatus.PARTIAL))
                ranks[key] = rank = ranks.get(key, 0) + 1
                if rank <= (OPEN_SHOWN if key[1] else HISTORY_SHOWN + 1):
                    ranked.append((invoice, ledger, rank))
            return ranked
        rows = await self.session.execute(_MY_INVOICES, self._mine_parameters)
        return [(i, ledger, rank) for i, ledger, rank in rows.all()]

    async def due(self) -> tuple[int, int]:
        """(how many invoices are to pay, the sum still due in cents)."""
        count, cents = (await self.session.execute(_MY_DUE, self._mine_parameters)).one()
        return int(count), int(cents)

    async def years(self) -> list[int]:
        """The years the citizen has invoices of, newest first."""
        rows = await self.session.execute(_MY_YEARS, self._mine_parameters)
        return [int(year) for year in rows.scalars()]

    async def invoices_of_year(self, year: int) -> list[tuple[Invoice, Ledger]]:
        """Every invoice issued that year (at most YEAR_SHOWN), by ledger, newest first."""
        parameters = {
            **self._mine_parameters,
            "first_day": date(year, 1, 1),
            "next_year": date(year + 1, 1, 1),
        }
        rows = await self.session.execute(_MY_YEAR, parameters)
        return [(i, ledger) for i, ledger in rows.all()]

    async def get(self, invoice_id: uuid.UUID) -> InvoiceView | None:
        parameters = {**self._mine_parameters, "invoice_id": invoice_id}
        row = (await self.session.execute(_MY_INVOICE, parameters)).first()
        if row is None:
            return None
        invoice, ledger = row
        lines, payments = await lines_and_payments(self.session, self.tenant_id, invoice.id)
        return InvoiceView(invoice, ledger, lines, payments)

    async def accounts(self) -> list[ServiceAccount]:
        return list((await self.session.execute(_MY_ACCOUNTS, self._mine_parameters)).scalars())

    async def start_payment(
        self, view: InvoiceView, email: str, settings: Settings, base_url: str
    ) -> tuple[PaymentTransaction, Any]:
        """Record an attempt and return the form that sends the browser to the bank."""
        reference = secrets.token_hex(10).upper()
        amount = view.invoice.amount_due_cents
        transaction = PaymentTransaction(
            tenant_id=self.tenant_id,
            invoice_id=view.invoice.id,
            reference=reference,
            amount_cents=amount,
            backend=view.ledger.backend,
            email=email,
            expires_at=now() + ATTEMPT_TTL,
        )
        try:
            backend = backend_for(
                view.ledger,
                settings,
                normal_return_url=f"{base_url}/paiement/retour/{reference}",
                automatic_return_url=f"{base_url}/paiement/notification",
            )
            _tid, _kind, form = backend.request(
                Decimal(amount) / 100,
                email=email,
                transaction_id=reference,
                orderid=view.invoice.number,
                info1=view.ledger.merchant_label or None,
            )
        except Exception as exc:  # unreadable options, a backend refusing its configuration…
            raise PaymentUnavailable(f"{type(exc).__name__}: {exc}"[:300]) from exc
        transaction.bank_form = json.dumps(
            {
                "url": form.url,
                "method": form.method,
                "fields": [{"name": f["name"], "value": str(f["value"])} for f in form.fields],
            }
        )
        self.session.add(transaction)
        return transaction, form

    async def pending_attempt(self, invoice_id: uuid.UUID) -> PaymentTransaction | None:
        """The latest attempt to pay this invoice that the bank has not answered yet and that
        can still be paid (another window, another device): paying again would pay twice."""
        return (
            await self.session.execute(
                _PENDING,
                {"tenant_id": self.tenant_id, "invoice_id": invoice_id, "now": now()},
            )
        ).scalar()

    async def transaction(self, reference: str) -> tuple[PaymentTransaction, Invoice] | None:
        row = (
            await self.session.execute(
                select(PaymentTransaction, Invoice)
                .join(Invoice, Invoice.id == PaymentTransaction.invoice_id)
                .join(ServiceAccount, ServiceAccount.id == Invoice.service_account_id)
                .where(
                    PaymentTransaction.tenant_id == self.tenant_id,
                    PaymentTransaction.reference == reference,
                    ServiceAccount.citizen_id == self.citizen_id,
                )
            )
        ).first()
        return (row[0], row[1]) if row else None


class PaymentUnavailable(Exception):
    """The ledger's payment backend cannot start a payment (its configuration is broken)."""


class NotificationError(Exception):
    """A notification refused (bad signature, unknown reference, amount mismatch…)."""

    def __init__(self, reason: str, status_code: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code  # 503: our side is broken, the bank should retry


def _reference_of(body: str) -> str:
    fields = parse_qs(body, keep_blank_values=True)
    for name in ("vads_ext_info_eopayment_trans_id", "reference", "refdet", "transaction_id"):
        if fields.get(name):
            return fields[name][0][:40]
    raise NotificationError("no transaction reference")


def _source_allowed(source: str, settings: Settings) -> bool:
    import ipaddress

    networks = settings.web.paybox_networks()
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:194.2.122.158 is 194.2.122.158
    return any(address in network for network in networks)


async def handle_notification(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    body: str,
    settings: Settings,
    base_url: str,
    source: str = "",
) -> tuple[PaymentTransaction, bool]:
    """Apply a bank notification; returns (transaction, changed). Idempotent: the transaction row
    is locked (``FOR UPDATE``) and a paid attempt is never paid again."""
    if len(body) > MAX_NOTIFICATION_BYTES:
        raise NotificationError("notification too large")
    reference = _reference_of(body)
    row = (
        await session.execute(
            select(PaymentTransaction)
            .where(
                PaymentTransaction.tenant_id == tenant_id, PaymentTransaction.reference == reference
            )
            .with_for_update()
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotificationError("unknown reference")
    transaction = row
    invoice = (
        await session.execute(
            select(Invoice)
            .where(Invoice.tenant_id == tenant_id, Invoice.id == transaction.invoice_id)
            .with_for_update()
        )
    ).scalar_one()
    ledger = (
        await session.execute(
            select(Ledger).where(Ledger.tenant_id == tenant_id, Ledger.id == invoice.ledger_id)
        )
    ).scalar_one()
    if ledger.backend == "paybox" and not _source_allowed(source, settings):
        # Refused before anything is written: a stranger cannot grow the attempt's record.
        raise NotificationError(f"source address {source!r} not allowed for paybox")
    try:
        backend = backend_for(
            ledger,
            settings,
            f"{base_url}/paiement/retour/{reference}",
            f"{base_url}/paiement/notification",
        )
    except Exception as exc:  # unreadable options: keep what the bank sent, let it retry
        transaction.notifications = [
            *transaction.notifications,
            {
                "received_at": now().isoformat(),
                "source": source,
                "body": body,
                "refused": f"configuration: {type(exc).__name__}",
            },
        ]
        await session.commit()
        raise NotificationError("payment backend configuration unreadable", 503) from None
    try:
        response = backend.response(body)
    except (ResponseError, BackendNotFound, KeyError, ValueError, ArithmeticError) as exc:
        raise NotificationError(f"unreadable notification: {type(exc).__name__}") from None
    record = {
        "received_at": now().isoformat(),
        "source": source,
        "signed": response.signed,
        "result": response.result,
        "body": body,
    }
    if not response.signed:
        # eopayment reports PAID with signed=False for an unsigned paybox answer: never trust it.
        transaction.notifications = [*transaction.notifications, {**record, "refused": "unsigned"}]
        await session.commit()
        raise NotificationError("signature missing or wrong")
    amount = _notified_amount(response.bank_data)
    if amount is not None and amount != transaction.amount_cents:
        transaction.notifications = [*transaction.notifications, {**record, "refused": "amount"}]
        await session.commit()
        raise NotificationError("amount differs from the attempt")
    transaction.notifications = [*transaction.notifications, record]
    transaction.notified_at = now()
    transaction.bank_status = str(response.bank_status or "")[:1000]
    if transaction.status == TransactionStatus.PAID:
        await session.commit()
        return transaction, False  # a repeated notification changes nothing
    import eopayment

    if response.result == eopayment.PAID:
        expires = as_utc(transaction.expires_at)
        transaction.late = transaction.status == TransactionStatus.EXPIRED or bool(
            expires and now() > expires
        )
        transaction.status = TransactionStatus.PAID
        session.add(
            Payment(
                tenant_id=tenant_id,
                invoice_id=invoice.id,
                transaction_id=transaction.id,
                amount_cents=transaction.amount_cents,
                method="online",
                paid_at=now(),
                reference=reference,
            )
        )
        invoice.paid_cents += transaction.amount_cents
        refresh_status(invoice)
        await session.flush()
        return transaction, True
    if response.result in (eopayment.DENIED, eopayment.CANCELLED, eopayment.ERROR):
        transaction.status = {
            eopayment.DENIED: TransactionStatus.REFUSED,
            eopayment.CANCELLED: TransactionStatus.CANCELLED,
        }.get(response.result, TransactionStatus.ERROR)
        await session.flush()
        return transaction, True
    await session.commit()
    return transaction, False


def _notified_amount(bank_data: dict[str, Any]) -> int | None:
    for name in ("vads_amount", "montant", "amount"):
        value = bank_data.get(name)
        if value is not None:
            text = str(value)
            if not text.isdigit():
                raise NotificationError("amount is not a whole number of cents")
            return int(text)
    return None


EXPIRE_TASK = "guichet.billing.expire_attempts"


async def expire_attempts(session: AsyncSession) -> int:
    """Reconciliation: attempts the bank never answered within their time become ``expired``
    (platform-level, every tenant). A notification arriving later is still applied, and flagged
    ``late`` for the agents."""
    stale = (
        (
            await session.execute(
                select(PaymentTransaction)
                .where(
                    PaymentTransaction.status == TransactionStatus.PENDING,
                    PaymentTransaction.expires_at < now(),
                )
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    for transaction in stale:
        transaction.status = TransactionStatus.EXPIRED
    await session.commit()
    return len(stale)


REMIND_TASK = "guichet.billing.remind"
REMIND_DAYS_BEFORE = 5


async def send_reminders(
    session: AsyncSession, settings: Settings, renderer: Any
) -> list[uuid.UUID]:
    """One reminder per unpaid invoice due within five days, to the email its citizen chose
    (paperless address, else the space's address). Platform-level, every tenant."""
    from datetime import date as date_type

    from guichet.accounts.models import Citizen
    from guichet.notifications.services import queue_email
    from guichet.tenancy.models import Tenant
    from guichet.tenancy.snapshot import TenantSnapshot

    today = date_type.today()
    rows = (
        await session.execute(
            select(Invoice, Ledger, ServiceAccount, Citizen, Tenant)
            .join(Ledger, Ledger.id == Invoice.ledger_id)
            .join(ServiceAccount, ServiceAccount.id == Invoice.service_account_id)
            .join(Citizen, Citizen.id == ServiceAccount.citizen_id, isouter=True)
            .join(Tenant, Tenant.id == Invoice.tenant_id)
            .where(
                Invoice.status.in_([InvoiceStatus.UNPAID, InvoiceStatus.PARTIAL]),
                Invoice.reminded_at.is_(None),
                Invoice.due_date >= today,
                Invoice.due_date <= today + timedelta(days=REMIND_DAYS_BEFORE),
            )
            .with_for_update(of=Invoice, skip_locked=True)
        )
    ).all()
    queued: list[uuid.UUID] = []
    for invoice, ledger, account, citizen, tenant in rows:
        recipient = (account.paperless_email if account.paperless else "") or (
            citizen.email if citizen is not None else ""
        )
        if not recipient:
            continue
        message = queue_email(
            session,
            renderer,
            settings,
            TenantSnapshot.from_model(tenant),
            kind="invoice_reminder",
            recipient=recipient,
            locale=citizen.locale if citizen else tenant.default_locale,
            context={"invoice": invoice, "ledger": ledger},
        )
        invoice.reminded_at = now()
        queued.append(message.id)
    await session.commit()
    return queued
