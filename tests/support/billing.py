"""Test helpers for billing: invoices for a citizen, and the bank's signed answers."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select

from guichet.accounts.models import Citizen, ServiceAccount
from guichet.billing.backends import sandbox_secret
from guichet.billing.models import BillableItem, Invoice, InvoiceLine, Ledger
from guichet.billing.runs import create_run, execute_run
from guichet.billing.sandbox import sign
from guichet.db.session import Database
from guichet.files import create_file_store
from guichet.tenancy.models import Service, Tenant
from guichet.web.templates import TemplateRenderer
from tests.support.accounts import FR, csrf


async def tenant_and_service(
    session: Any, slug: str = "ccas-castres", code: str = "action-sociale"
) -> tuple[Tenant, Service]:
    """A tenant and one of its services (in a session opened for all tenants)."""
    tenant = (await session.execute(select(Tenant).where(Tenant.slug == slug))).scalar_one()
    service = (
        await session.execute(
            select(Service).where(Service.tenant_id == tenant.id, Service.code == code)
        )
    ).scalar_one()
    return tenant, service


async def linked_file(session: Any, slug: str, username: str) -> tuple[ServiceAccount, Ledger]:
    """A new file of the tenant's « action-sociale » service (numbered T-…) linked to the
    citizen ``username``, and the tenant's ``seniors`` ledger."""
    tenant, service = await tenant_and_service(session, slug)
    citizen_id = (
        await session.execute(
            select(Citizen.id).where(Citizen.tenant_id == tenant.id, Citizen.username == username)
        )
    ).scalar_one()
    ledger = (
        await session.execute(
            select(Ledger).where(Ledger.tenant_id == tenant.id, Ledger.code == "seniors")
        )
    ).scalar_one()
    account = ServiceAccount(
        tenant_id=service.tenant_id,
        service_id=service.id,
        reference=f"T-{uuid.uuid4().hex[:10]}",
        holder_name=f"Madame {username.upper()}",
        key_digest=uuid.uuid4().hex + uuid.uuid4().hex[:32],
        citizen_id=citizen_id,
        linked_at=datetime.now(UTC),
    )
    session.add(account)
    await session.flush()
    return account, ledger


async def invoice_for(
    settings: Any,
    slug: str,
    username: str,
    *,
    cents: int = 853,
    label: str = "Janvier 2020",
    window: str = "open",
    status: str | None = None,
) -> uuid.UUID:
    """A new invoice of the ``seniors`` ledger on a new service file linked to ``username``."""
    db = Database(settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            account, ledger = await linked_file(session, slug, username)
            now = datetime.now(UTC)
            pay_from, pay_until = {
                "open": (now - timedelta(days=1), now + timedelta(days=30)),
                "closed": (now - timedelta(days=60), now - timedelta(days=1)),
                "future": (now + timedelta(days=2), now + timedelta(days=30)),
            }[window]
            invoice = Invoice(
                tenant_id=account.tenant_id,
                ledger_id=ledger.id,
                service_account_id=account.id,
                number=f"9{uuid.uuid4().int % 10**9:09d}",
                label=label,
                recipient=account.holder_name,
                issue_date=date(2019, 12, 17),
                due_date=date(2020, 2, 15),
                pay_from=pay_from,
                pay_until=pay_until,
                total_cents=cents,
            )
            if status:
                invoice.status = status
            session.add(invoice)
            await session.flush()
            session.add(
                InvoiceLine(
                    tenant_id=account.tenant_id,
                    invoice_id=invoice.id,
                    position=1,
                    label="Portage de repas à domicile",
                    quantity=1,
                    unit_cents=cents,
                    amount_cents=cents,
                )
            )
            return invoice.id
    finally:
        await db.dispose()


async def invoices_on(
    settings: Any, username: str, days: list[date], status: str, slug: str = "ccas-castres"
) -> list[str]:
    """One invoice of 10,00 € of the ``seniors`` ledger issued on each of ``days``, in
    ``status``, on one new service file linked to ``username``; returns their numbers."""
    db = Database(settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            account, ledger = await linked_file(session, slug, username)
            stem = uuid.uuid4().int % 10**5
            numbers = [f"8{stem:05d}{n:04d}" for n in range(len(days))]
            paid = status in ("reglee",)
            for number, day in zip(numbers, days, strict=True):
                session.add(
                    Invoice(
                        tenant_id=account.tenant_id,
                        ledger_id=ledger.id,
                        service_account_id=account.id,
                        number=number,
                        label=f"Facture du {day.isoformat()}",
                        recipient=account.holder_name,
                        issue_date=day,
                        due_date=day + timedelta(days=45),
                        total_cents=1000,
                        paid_cents=1000 if paid else 0,
                        status=status,
                    )
                )
            return numbers
    finally:
        await db.dispose()


PAYBOX_OPTIONS = {  # Paybox's own published test account (its preproduction platform)
    "site": "1999888",
    "rang": "32",
    "identifiant": "107904482",
    "shared_secret": "0123456789ABCDEF" * 8,
}


async def on_a_paybox_ledger(settings: Any, invoice_id: uuid.UUID) -> None:
    """Move the invoice to a new ledger of its tenant whose bank is Paybox (test account)."""
    from guichet.billing.crypto import encrypt_options

    db = Database(settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            invoice = await session.get(Invoice, invoice_id)
            current = await session.get(Ledger, invoice.ledger_id)
            ledger = Ledger(
                tenant_id=invoice.tenant_id,
                code=f"pbx-{uuid.uuid4().hex[:8]}",
                name="Paybox",
                service_id=current.service_id,
                backend="paybox",
                backend_options=encrypt_options(settings.web.secret_key, PAYBOX_OPTIONS),
            )
            session.add(ledger)
            await session.flush()
            invoice.ledger_id = ledger.id
    finally:
        await db.dispose()


def bank_form(html: str) -> dict[str, str]:
    """The hidden fields of the page that sends the citizen to the bank."""
    return {
        unescape(n): unescape(v)
        for n, v in re.findall(
            r'<input type="hidden" name="(vads_[^"]+|signature)" value="([^"]*)"', html
        )
    }


def bank_answer(
    settings: Any, fields: dict[str, str], result: str = "00", **changes: str
) -> dict[str, str]:
    """What the sandbox bank sends back, signed (``changes`` are applied before signing)."""
    answer = {k: v for k, v in fields.items() if k != "signature"}
    answer.update(
        {
            "vads_result": result,
            "vads_auth_result": result,
            "vads_extra_result": "",
            "vads_auth_number": "T00001",
            "vads_trans_status": "AUTHORISED" if result == "00" else "REFUSED",
        }
    )
    answer.update(changes)
    answer["signature"] = sign(answer, sandbox_secret(settings))
    return answer


NOTIFY = "/ccas-castres/paiement/notification"


async def start_payment(web: Any, invoice_id: Any, email: str = "payeur@exemple.fr") -> Any:
    """The citizen starts paying the invoice; returns the form that goes to the bank."""
    page = (await web.get(f"/ccas-castres/mon-espace/factures/{invoice_id}", headers=FR)).text
    response = await web.post(
        f"/ccas-castres/mon-espace/factures/{invoice_id}/payer",
        headers=FR,
        data={"_csrf_token": csrf(page), "email": email},
    )
    assert response.status_code == 200, unescape(response.text)[:3000]
    # the page that goes on to the bank has an address of its own (Back from the bank)
    assert re.search(r"/mon-espace/factures/paiement/[0-9A-F]+/banque$", str(response.url))
    return bank_form(response.text)


async def notify(web: Any, answer: dict[str, str]) -> Any:
    """The bank's server-to-server notification."""
    return await web.post(
        NOTIFY,
        content=urlencode(answer),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )


async def ledger_with_items(settings: Any, accounts: int, paperless: int = 0) -> Any:
    """A fresh ledger of ccas-castres with ``accounts`` files and a month of items each."""
    db = Database(settings)
    async with db.transaction(all_tenants=True) as session:
        tenant, service = await tenant_and_service(session)
        code = f"test-{uuid.uuid4().hex[:8]}"
        ledger = Ledger(
            tenant_id=tenant.id,
            code=code,
            name="FACTURATION TEST",
            service_id=service.id,
            number_prefix="77",
        )
        session.add(ledger)
        await session.flush()
        for n in range(accounts):
            account = ServiceAccount(
                tenant_id=tenant.id,
                service_id=service.id,
                reference=f"R-{uuid.uuid4().hex[:10]}",
                holder_name=f"Monsieur TEST {n}",
                key_digest=uuid.uuid4().hex * 2,
                paperless=n < paperless,
                paperless_email=f"adherent{n}@exemple.fr",
            )
            session.add(account)
            await session.flush()
            for day in (3, 4, 5):
                session.add(
                    BillableItem(
                        tenant_id=tenant.id,
                        ledger_id=ledger.id,
                        service_account_id=account.id,
                        period="2020-02",
                        service_date=date(2020, 2, day),
                        label="Portage de repas à domicile",
                        quantity=1,
                        unit_cents=853,
                    )
                )
    return db, tenant.id, code, ledger.id


async def run_with_print_file(settings: Any, slug: str, volumes: list[bytes]) -> str:
    """A finished billing run of ``slug``'s first ledger whose print file is ``volumes`` (stored
    as a run writes them); its id. The period (1999-…) is one no test bills."""
    from guichet.billing.models import BillingRun, RunStatus, print_volume_key
    from guichet.files import create_file_store

    db = Database(settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
            ledger = await session.scalar(
                select(Ledger).where(Ledger.tenant_id == tenant.id).order_by(Ledger.code)
            )
            run = BillingRun(
                tenant_id=tenant.id,
                ledger_id=ledger.id,
                period=f"1999-{uuid.uuid4().int % 12 + 1:02d}",
                status=RunStatus.DONE,
                invoices_created=len(volumes),
                pdfs_rendered=len(volumes),
            )
            session.add(run)
            await session.flush()
            first = f"tenants/{tenant.id}/billing-runs/{run.id}-courrier.pdf"
            files = create_file_store(settings)
            for number, data in enumerate(volumes, start=1):
                files.put(print_volume_key(first, number), data)
            run.print_pdf_key, run.print_volumes = first, len(volumes)
            return str(run.id)
    finally:
        await db.dispose()


async def run_period(
    db: Any, settings: Any, tenant_id: Any, code: str, files: Any = None, **kwargs: Any
) -> Any:
    """A billing run of ledger ``code`` for 2020-02, carried to its end; (run id, emails)."""
    async with db.transaction(tenant_id) as session:
        run_id = (await create_run(session, tenant_id, code, "2020-02")).id
    renderer, files = TemplateRenderer(settings.themes_dir), files or create_file_store(settings)
    return run_id, await execute_run(db, settings, renderer, files, tenant_id, run_id, **kwargs)


async def postal_numbers(session: Any, ledger_id: Any) -> list[str]:
    """The numbers of the ledger's invoices that go by post, in order."""
    return list(
        (
            await session.execute(
                select(Invoice.number)
                .join(ServiceAccount, ServiceAccount.id == Invoice.service_account_id)
                .where(Invoice.ledger_id == ledger_id, ServiceAccount.paperless.is_(False))
                .order_by(Invoice.number)
            )
        ).scalars()
    )
