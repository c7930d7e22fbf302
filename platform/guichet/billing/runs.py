"""Billing runs: a period's billable items become invoices, their PDFs, emails and a print file.

Resumable and idempotent: items already invoiced are skipped, an account gets at most one invoice
per ledger and period (a unique constraint), PDFs and emails are made only for invoices that lack
them. Numbers are gapless per ledger: the ledger row is locked (``FOR UPDATE``) while numbers are
taken, in the same transaction as the invoices, so a rolled-back batch gives its numbers back.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import secrets
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.accounts.models import Citizen, ServiceAccount, mailing_address
from guichet.billing.models import (
    BillableItem,
    BillingRun,
    Invoice,
    InvoiceLine,
    Ledger,
    PrintPart,
    RunStatus,
    print_volume_key,
)
from guichet.billing.pdf import (
    InvoiceDoc,
    PdfJoiner,
    content_digest,
    portal_url,
    render_invoices_html,
    split_batch,
)
from guichet.db.session import Database
from guichet.files import FileStore
from guichet.notifications.services import queue_email
from guichet.settings import Settings
from guichet.tenancy.models import Tenant
from guichet.tenancy.snapshot import TenantSnapshot
from guichet.web.templates import TemplateRenderer

__all__ = [
    "ORPHAN_PART_AGE",
    "PARIS",
    "RUN_TASK",
    "SWEEP_PARTS_TASK",
    "create_run",
    "execute_run",
    "period_label",
    "sweep_print_parts",
]

RUN_TASK = "guichet.billing.run"
SWEEP_PARTS_TASK = "guichet.billing.sweep_print_parts"
_sqlite_locks: dict[str, asyncio.Lock] = {}
log = logging.getLogger("guichet.billing.runs")
MONTHS_FR = (
    "Janvier",
    "Février",
    "Mars",
    "Avril",
    "Mai",
    "Juin",
    "Juillet",
    "Août",
    "Septembre",
    "Octobre",
    "Novembre",
    "Décembre",
)


PAYMENT_DAYS = 45  # from the invoice's date to its due date
PARIS = ZoneInfo("Europe/Paris")


def period_label(period: str) -> str:
    year, month = (int(x) for x in period.split("-"))
    return f"{MONTHS_FR[month - 1]} {year}"


def _period_dates(period: str) -> tuple[date, date]:
    year, month = (int(x) for x in period.split("-"))
    start = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return start, following


async def create_run(
    session: AsyncSession, tenant_id: uuid.UUID, ledger_code: str, period: str
) -> BillingRun:
    ledger = (
        await session.execute(
            select(Ledger).where(Ledger.tenant_id == tenant_id, Ledger.code == ledger_code)
        )
    ).scalar_one()
    _period_dates(period)  # validates
    run = BillingRun(tenant_id=tenant_id, ledger_id=ledger.id, period=period)
    session.add(run)
    await session.flush()
    return run


async def _create_invoices(
    session: AsyncSession, run: BillingRun, ledger_id: uuid.UUID, accounts_batch: int
) -> int:
    """Invoice up to ``accounts_batch`` accounts that still have items; returns how many."""
    tenant_id = run.tenant_id
    # The ledger row is locked first: a concurrent run waits here, then sees the items this one
    # has invoiced (PostgreSQL); SQLite serializes through the process lock of execute_run.
    ledger = (
        await session.execute(
            select(Ledger)
            .where(Ledger.tenant_id == tenant_id, Ledger.id == ledger_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    pending = BillableItem.invoice_id.is_(None)
    account_ids = list(
        (
            await session.execute(
                select(BillableItem.service_account_id)
                .where(
                    BillableItem.tenant_id == tenant_id,
                    BillableItem.ledger_id == ledger_id,
                    BillableItem.period == run.period,
                    pending,
                )
                .group_by(BillableItem.service_account_id)
                .order_by(BillableItem.service_account_id)
                .limit(accounts_batch)
            )
        ).scalars()
    )
    if not account_ids:
        await session.commit()
        return 0
    rows = (
        await session.execute(
            select(
                BillableItem.service_account_id,
                BillableItem.label,
                BillableItem.unit_cents,
                func.sum(BillableItem.quantity),
            )
            .where(
                BillableItem.tenant_id == tenant_id,
                BillableItem.ledger_id == ledger_id,
                BillableItem.period == run.period,
                pending,
                BillableItem.service_account_id.in_(account_ids),
            )
            .group_by(BillableItem.service_account_id, BillableItem.label, BillableItem.unit_cents)
        )
    ).all()
    grouped: dict[uuid.UUID, list[tuple[str, int, int]]] = defaultdict(list)
    for account_id, label, unit, quantity in rows:
        grouped[account_id].append((label, int(unit), int(quantity)))
    accounts = {
        a.id: a
        for a in (
            await session.execute(
                select(ServiceAccount).where(
                    ServiceAccount.tenant_id == tenant_id, ServiceAccount.id.in_(account_ids)
                )
            )
        ).scalars()
    }
    linked = [a.citizen_id for a in accounts.values() if a.citizen_id is not None]
    citizens: dict[uuid.UUID | None, Citizen] = {
        c.id: c
        for c in (
            await session.execute(
                select(Citizen).where(Citizen.tenant_id == tenant_id, Citizen.id.in_(linked))
            )
        ).scalars()
    }
    existing = {
        i.service_account_id: i.id
        for i in (
            await session.execute(
                select(Invoice).where(
                    Invoice.tenant_id == tenant_id,
                    Invoice.ledger_id == ledger_id,
                    Invoice.period == run.period,
                    Invoice.service_account_id.in_(account_ids),
                )
            )
        ).scalars()
    }
    # Numbers the ledger's own numbering would give but that are taken already (an invoice
    # imported from the service's billing software with such a number) are skipped: the run
    # used to fail on them, and again at every relaunch.
    first_free = f"{ledger.number_prefix}{ledger.next_number:06d}"
    taken = set(
        (
            await session.execute(
                select(Invoice.number).where(
                    Invoice.tenant_id == tenant_id,
                    Invoice.ledger_id == ledger_id,
                    Invoice.number >= first_free,
                    func.length(Invoice.number) == len(first_free),
                )
            )
        ).scalars()
    )
    # Dated the day they are made, payable until the due date's evening (18:00 in France, as
    # the guide's window ends). The issue date was the 16th of the following month — in the
    # future for a run made before then — and online payment closed two weeks before the due
    # date, while the reminder goes out in the last days before it (a tester's walk).
    issue = date.today()
    due = issue + timedelta(days=PAYMENT_DAYS)
    now = datetime.now(UTC)
    pay_until = datetime.combine(due, time(18, 0), tzinfo=PARIS).astimezone(UTC)
    created = 0
    marks: list[dict[str, uuid.UUID]] = []
    for account_id in account_ids:
        invoice_id = existing.get(account_id)
        if invoice_id is None:
            invoice_id = uuid.uuid4()
            while (number := f"{ledger.number_prefix}{ledger.next_number:06d}") in taken:
                ledger.next_number += 1
            ledger.next_number += 1
            lines = sorted(grouped[account_id])
            session.add(
                Invoice(
                    id=invoice_id,
                    tenant_id=tenant_id,
                    ledger_id=ledger_id,
                    service_account_id=account_id,
                    number=number,
                    label=period_label(run.period),
                    recipient=accounts[account_id].holder_name,
                    recipient_address=mailing_address(
                        accounts[account_id], citizens.get(accounts[account_id].citizen_id)
                    ),
                    issue_date=issue,
                    due_date=due,
                    pay_from=now,
                    pay_until=pay_until,
                    total_cents=sum(qty * unit for _label, unit, qty in lines),
                    period=run.period,
                    billing_run_id=run.id,
                )
            )
            for position, (label, unit, qty) in enumerate(lines, start=1):
                session.add(
                    InvoiceLine(
                        tenant_id=tenant_id,
                        invoice_id=invoice_id,
                        position=position,
                        label=label,
                        quantity=qty,
                        unit_cents=unit,
                        amount_cents=qty * unit,
                    )
                )
            created += 1
        marks.append({"file": account_id, "invoice": invoice_id})
    # One flush and one statement sent as a batch (executemany) for the whole group of files:
    # a flush and an UPDATE per file were a tenth of a billing run on SQLite (bench/README.md).
    await session.flush()
    table = BillableItem.__table__
    assert isinstance(table, Table)
    items = table.c
    await session.execute(
        update(table)
        .where(
            items.tenant_id == tenant_id,
            items.ledger_id == ledger_id,
            items.period == run.period,
            items.invoice_id.is_(None),
            items.service_account_id == bindparam("file"),
        )
        .values(invoice_id=bindparam("invoice")),
        marks,
    )
    run.invoices_created += created
    await session.commit()
    return len(account_ids)


async def _render_pdfs(
    session: AsyncSession,
    run: BillingRun,
    tenant: TenantSnapshot,
    ledger: Ledger,
    renderer: TemplateRenderer,
    files: FileStore,
    batch: int,
    portal: str,
) -> int:
    invoices = list(
        (
            await session.execute(
                select(Invoice)
                .where(
                    Invoice.tenant_id == run.tenant_id,
                    Invoice.ledger_id == run.ledger_id,
                    Invoice.period == run.period,
                    Invoice.pdf_key == "",
                )
                .order_by(Invoice.number)
                .limit(batch)
                # A concurrent run of the period takes the next batch instead of rendering this
                # one too (and printing it twice): PostgreSQL's row locks until this batch's
                # commit; SQLite renders one batch at a time per ledger (execute_run).
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    if not invoices:
        await session.commit()
        return 0
    lines: dict[uuid.UUID, list[InvoiceLine]] = defaultdict(list)
    for line in (
        await session.execute(
            select(InvoiceLine)
            .where(
                InvoiceLine.tenant_id == run.tenant_id,
                InvoiceLine.invoice_id.in_([i.id for i in invoices]),
            )
            .order_by(InvoiceLine.position)
        )
    ).scalars():
        lines[line.invoice_id].append(line)
    docs = [InvoiceDoc(i, ledger, lines[i.id], []) for i in invoices]
    html = render_invoices_html(
        renderer,
        files,
        tenant,
        docs,
        f"{ledger.name} — {period_label(run.period)}",
        portal_url=portal,
    )
    postal = {
        str(a)
        for a in (
            await session.execute(
                select(Invoice.id)
                .join(ServiceAccount, ServiceAccount.id == Invoice.service_account_id)
                .where(
                    Invoice.id.in_([i.id for i in invoices]), ServiceAccount.paperless.is_(False)
                )
            )
        ).scalars()
    }
    pdfs = await asyncio.to_thread(split_batch, html, [str(i.id) for i in invoices], postal)
    if pdfs.get("*"):
        part_key = _print_part_key(run, invoices[0].number)
        files.put(part_key, pdfs["*"])
        session.add(
            PrintPart(
                tenant_id=run.tenant_id,
                ledger_id=run.ledger_id,
                period=run.period,
                first_number=invoices[0].number,
                storage_key=part_key,
            )
        )
    for invoice in invoices:
        single = render_invoices_html(
            renderer,
            files,
            tenant,
            [InvoiceDoc(invoice, ledger, lines[invoice.id], [])],
            f"{ledger.name} — {invoice.number} — {invoice.label}",
            portal_url=portal,
        )
        digest = content_digest(single)
        key = f"tenants/{tenant.id}/invoices/{invoice.id}-{digest[:12]}.pdf"
        files.put(key, pdfs[str(invoice.id)])
        invoice.pdf_key, invoice.pdf_digest = key, digest
    run.pdfs_rendered += len(invoices)
    await session.commit()
    return len(invoices)


async def _email_adherents(
    session: AsyncSession,
    run: BillingRun,
    tenant: TenantSnapshot,
    ledger: Ledger,
    renderer: TemplateRenderer,
    settings: Settings,
) -> list[uuid.UUID]:
    rows = (
        await session.execute(
            select(Invoice, ServiceAccount)
            .join(ServiceAccount, ServiceAccount.id == Invoice.service_account_id)
            .where(
                Invoice.tenant_id == run.tenant_id,
                Invoice.ledger_id == run.ledger_id,
                Invoice.period == run.period,
                Invoice.emailed_at.is_(None),
                ServiceAccount.paperless.is_(True),
            )
            .with_for_update(of=Invoice, skip_locked=True)  # a concurrent run emails the others
        )
    ).all()
    queued = []
    for invoice, account in rows:
        message = queue_email(
            session,
            renderer,
            settings,
            tenant,
            kind="invoice_available",
            recipient=account.paperless_email or account.email,
            locale=tenant.default_locale,
            context={"invoice": invoice, "ledger": ledger, "attached": bool(invoice.pdf_key)},
            # the invoice itself: « vous les recevrez uniquement sur votre boîte mail »
            attachment=(invoice.pdf_key, f"facture-{invoice.number}.pdf")
            if invoice.pdf_key
            else None,
        )
        invoice.emailed_at = datetime.now(UTC)
        queued.append(message.id)
    run.emails_queued += len(queued)
    await session.commit()
    return queued


def _print_parts_folder(tenant_id: uuid.UUID) -> str:
    return f"tenants/{tenant_id}/billing/"


def _print_part_key(run: BillingRun, first_number: str) -> str:
    """A key of its own for every part written, even for the same batch rendered again after a
    stop: a part left by a stop is never overwritten, so never named later (sweep_print_parts)."""
    return (
        f"{_print_parts_folder(run.tenant_id)}{run.ledger_id}/{run.period}/"
        f"courrier-{first_number}-{secrets.token_hex(6)}.pdf"
    )


# A part is written before the commit of its batch, which writes the row naming it: a part
# that no row names may be a batch still being made, for seconds; after this long it is one
# left by a stop.
ORPHAN_PART_AGE = timedelta(days=1)
# What a batch writes in the parts' folder: its part, or the temporary file of a write cut short.
_PART_NAME = re.compile(r"[0-9a-f-]{36}/\d{4}-\d{2}/(courrier-[\w-]+\.pdf|\.tmp-\w+)")
_SUFFIXED_PART = re.compile(r"courrier-[\w-]+-[0-9a-f]{12}\.pdf")


def _unnamed_parts(
    files: FileStore, tenants: list[uuid.UUID], named: set[str], limit: datetime
) -> int:
    """Delete the parts in the tenants' parts folders that ``named`` does not hold, written
    before ``limit``; returns how many. A tenant whose folder cannot be listed, or a key that
    cannot be deleted, is logged and skipped: the next sweep tries again."""
    deleted = 0
    for tenant_id in tenants:
        folder = _print_parts_folder(tenant_id)
        try:
            listed = list(files.listing(folder))
        except Exception:
            log.exception("cannot list the print parts of tenant %s", tenant_id)
            continue
        for key, written in listed:
            if key in named or written >= limit or not _PART_NAME.fullmatch(key[len(folder) :]):
                continue
            try:
                files.delete(key)
            except Exception:
                log.exception("cannot delete the print part %s", key)
                continue
            log.info("deleted print part %s: no row named it since %s", key, written)
            deleted += 1
    return deleted


async def sweep_print_parts(
    session: AsyncSession, files: FileStore, older_than: timedelta = ORPHAN_PART_AGE
) -> int:
    """Delete the batches' parts that no row names, older than ``older_than``; returns how many.
    Platform-level, every tenant (the worker's beat).

    Two stops leave such parts: between writing a batch's part and committing the batch (the
    row goes with the batch's invoices, which are rendered again, under another key), and
    between the commit that records the period's volumes, which deletes the parts' rows, and
    the deletion of their files. Nothing is lost either way: the part is printed in a volume or
    made again; only the file stays."""
    limit = datetime.now(UTC) - older_than
    named = set((await session.execute(select(PrintPart.storage_key))).scalars())
    tenants = list((await session.execute(select(Tenant.id))).scalars())
    await session.commit()  # nothing held open while the store is listed
    return await asyncio.to_thread(_unnamed_parts, files, tenants, named, limit)


# A volume of the print file closes once it holds this many pages (at the end of a batch's
# part, so that an invoice is never cut): joining every part into one file holds all their
# pages in memory, growing with the run (about 200 MB more for 10,000 one-page invoices;
# bench/README.md).
PRINT_VOLUME_PAGES = 1_000


def _join_volumes(files: FileStore, parts: list[str], first_key: str) -> int:
    """Join the batches' parts, in order, into volumes of about ``PRINT_VOLUME_PAGES`` pages;
    returns how many volumes were written (0 when no part is in the store). Only one volume is
    in memory at a time."""
    volumes = 0
    joiner: PdfJoiner | None = None

    def store(joiner: PdfJoiner) -> None:
        nonlocal volumes
        volumes += 1
        # written to a temporary file and streamed to the store: never held twice in memory
        with joiner, tempfile.TemporaryFile() as joined:
            joiner.save(joined)
            joined.seek(0)
            key = print_volume_key(first_key, volumes)
            files.put_stream(key, iter(lambda: joined.read(1024 * 1024), b""))

    try:
        for key in parts:
            try:
                data = files.get(key)
            except FileNotFoundError:  # a stop after deleting parts; the upgrade's candidates
                if _SUFFIXED_PART.fullmatch(key.rsplit("/", 1)[-1]):
                    # a batch's own part, named by its row, is deleted only after that row: lost
                    log.error(
                        "print part %s is named but not in the store: its postal invoices are "
                        "missing from this print file (print them from their own PDFs)",
                        key,
                    )
                else:  # the candidates the upgrade to rows named, one per invoice
                    log.info(
                        "print part %s is not in the store: joined already, or never written", key
                    )
                continue
            joiner = joiner or PdfJoiner()
            joiner.add(data)
            if joiner.pages >= PRINT_VOLUME_PAGES:
                store(joiner)
                joiner = None
        if joiner is not None:
            store(joiner)
            joiner = None
    finally:  # a part that cannot be read: the volume's sources are closed all the same
        if joiner is not None:
            joiner.close()
    return volumes


async def _print_file(session: AsyncSession, run: BillingRun, files: FileStore) -> None:
    """The PDF of every invoice going by post (accounts not signed up for paperless), joined
    by volumes from the parts each PDF batch joined from its postal invoices' PDFs.

    Each batch is rendered by one run only (claimed in ``_render_pdfs``), so each part is its
    own; one run at a time joins a period's parts (a transaction-level advisory lock on
    PostgreSQL, the process lock on SQLite) and deletes their rows in the commit that records
    its volumes, so that two runs of the period never print the same invoice; the files go
    right after. A run stopped between writing its volumes and recording them joins the parts
    again when it resumes, or finds its volumes when the parts are gone."""
    first_key = f"tenants/{run.tenant_id}/billing-runs/{run.id}-courrier.pdf"
    if session.bind.dialect.name == "postgresql":
        lock_id = int.from_bytes(
            hashlib.blake2b(f"print:{run.ledger_id}:{run.period}".encode(), digest_size=8).digest(),
            "big",
            signed=True,
        )
        await session.execute(select(func.pg_advisory_xact_lock(lock_id)))
        await _join_print_parts(session, run, files, first_key)
    else:
        async with _sqlite_locks.setdefault(f"print:{run.ledger_id}:{run.period}", asyncio.Lock()):
            await _join_print_parts(session, run, files, first_key)


async def _join_print_parts(
    session: AsyncSession, run: BillingRun, files: FileStore, first_key: str
) -> None:
    rows = (
        await session.execute(
            select(PrintPart.id, PrintPart.storage_key)
            .where(
                PrintPart.tenant_id == run.tenant_id,
                PrintPart.ledger_id == run.ledger_id,
                PrintPart.period == run.period,
            )
            .order_by(PrintPart.first_number)
        )
    ).all()
    # One file per batch (batches are claimed); a file named twice would be joined once.
    parts = list(dict.fromkeys(key for _id, key in rows))
    volumes = await asyncio.to_thread(_join_volumes, files, parts, first_key) if parts else 0
    if rows:  # the rows read, not the period's: a batch committed meanwhile is not joined yet
        await session.execute(
            delete(PrintPart).where(
                PrintPart.tenant_id == run.tenant_id, PrintPart.id.in_([i for i, _key in rows])
            )
        )
    if not volumes:  # nothing to join; volumes written but not recorded before a stop?
        while files.exists(print_volume_key(first_key, volumes + 1)):
            volumes += 1
    if volumes and not run.print_pdf_key:
        run.print_pdf_key, run.print_volumes = first_key, volumes
    await session.commit()
    for key in parts:  # once the volumes are recorded: a stop before leaves the parts to join
        files.delete(key)


async def execute_run(
    db: Database,
    settings: Settings,
    renderer: TemplateRenderer,
    files: FileStore,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    batch: int = 50,
    progress: Callable[[BillingRun], Any] | None = None,
) -> list[uuid.UUID]:
    """Carry the run to its end (or resume it); returns the ids of the emails queued."""
    async with db.session(tenant_id) as session:
        run = (
            await session.execute(
                select(BillingRun).where(BillingRun.tenant_id == tenant_id, BillingRun.id == run_id)
            )
        ).scalar_one()
        tenant = TenantSnapshot.from_model(
            (await session.execute(select(Tenant).where(Tenant.id == tenant_id))).scalar_one()
        )
        ledger = (
            await session.execute(
                select(Ledger).where(Ledger.tenant_id == tenant_id, Ledger.id == run.ledger_id)
            )
        ).scalar_one()
        run.status = RunStatus.RUNNING
        await session.commit()
        try:
            # SQLite has no row locks: a ledger's invoices are created, and its batches
            # rendered, by one run at a time in this process.
            ledger_lock: contextlib.AbstractAsyncContextManager[Any] = (
                _sqlite_locks.setdefault(str(ledger.id), asyncio.Lock())
                if db.dialect == "sqlite"
                else contextlib.nullcontext()
            )
            async with ledger_lock:
                while await _create_invoices(session, run, ledger.id, batch):
                    if progress:
                        progress(run)
            while True:
                async with ledger_lock:
                    rendered = await _render_pdfs(
                        session,
                        run,
                        tenant,
                        ledger,
                        renderer,
                        files,
                        batch,
                        portal_url(settings, tenant),
                    )
                if not rendered:
                    break
                if progress:
                    progress(run)
            queued = await _email_adherents(session, run, tenant, ledger, renderer, settings)
            await _print_file(session, run, files)
            run.status = RunStatus.DONE
            run.finished_at = datetime.now(UTC)
            await session.commit()
            return queued
        except Exception as exc:
            await session.rollback()
            run.status = RunStatus.FAILED
            run.error = f"{type(exc).__name__}: {exc}"[:1000]
            await session.commit()
            raise
