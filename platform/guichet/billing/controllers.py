"""MES FACTURES (guide §5): the invoices, one invoice, its PDF, online payment, the paperless
opt-in; and the bank's side: the return page and the notification endpoint."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet import metrics
from guichet.accounts.forms import valid_email
from guichet.accounts.models import Citizen, ServiceAccount
from guichet.accounts.web import AccountsContext, private_page, provide_ctx, require_citizen
from guichet.billing.backends import BANK_NAMES
from guichet.billing.models import Invoice, InvoiceStatus, TransactionStatus
from guichet.billing.pdf import current_invoice_pdf, invoice_pdf
from guichet.billing.services import (
    HISTORY_SHOWN,
    OPEN_SHOWN,
    YEAR_SHOWN,
    BillingService,
    NotificationError,
    PaymentUnavailable,
    as_utc,
    handle_notification,
    payment_blocker,
)
from guichet.i18n import N_
from guichet.i18n import gettext as _
from guichet.notifications.services import enqueue_delivery, queue_email
from guichet.tenancy.models import Service
from guichet.tenancy.snapshot import TenantSnapshot
from guichet.web.pages import download_response
from guichet.web.security import BANK_PAGE_POLICY

__all__ = ["BillingController", "PaymentNotificationController"]

log = logging.getLogger("guichet.payments")
_sqlite_locks: dict[str, asyncio.Lock] = {}


STATUS_LABELS = {
    InvoiceStatus.UNPAID: N_("Facture non réglée"),
    InvoiceStatus.PARTIAL: N_("Facture partiellement réglée"),
    InvoiceStatus.PAID: N_("Facture réglée"),
    InvoiceStatus.CANCELLED: N_("Facture annulée"),
    InvoiceStatus.DIRECT_DEBIT: N_("Facture prélevée"),
}


def base_url(request: Request[Any, Any, Any], tenant: TenantSnapshot) -> str:
    """Where the bank sends the citizen and its notifications: the public URL in production,
    the address this request came to otherwise (any port, the tests' servers)."""
    settings = request.app.state.services.settings
    origin = (
        settings.web.public_url if settings.is_production else str(request.base_url).rstrip("/")
    )
    return f"{origin}/{tenant.slug}"


def _to_pay(invoice: Invoice) -> bool:
    return invoice.status in (InvoiceStatus.UNPAID, InvoiceStatus.PARTIAL)


def _year(value: str | None) -> int | None:
    """MES FACTURES' ``?annee=2024``: a year of four digits, else the page without it."""
    if value and len(value) == 4 and value.isascii() and value.isdigit():
        year = int(value)
        return year if 2000 <= year <= 2100 else None
    return None


class BillingController(Controller):
    path = "/mon-espace/factures"
    dependencies = {"ctx": Provide(provide_ctx)}

    async def _guard(self, ctx: AccountsContext) -> Response[Any] | tuple[Citizen, BillingService]:
        citizen = await require_citizen(ctx)
        if not isinstance(citizen, Citizen):
            return citizen
        return citizen, BillingService(ctx.db, ctx.tenant.id, citizen.id)

    @get("/", name="billing:list")
    async def index(self, ctx: AccountsContext) -> Response[Any]:
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        citizen, service = guard
        year = _year(ctx.request.query_params.get("annee"))
        if year is not None:
            return await self._year_page(ctx, citizen, service, year)
        groups: list[dict[str, Any]] = []
        for _ledger_id, items in groupby(await service.invoices(), key=lambda row: row[1].id):
            entries = list(items)
            history = [i for i, _lg, rank in entries if not _to_pay(i)]
            groups.append(
                {
                    "ledger": entries[0][1],
                    "open": [i for i, _lg, _rank in entries if _to_pay(i)],
                    "history": history[:HISTORY_SHOWN],
                    "more": len(history) > HISTORY_SHOWN,
                }
            )
        shown = [invoice for group in groups for invoice in group["open"]]
        if any(len(group["open"]) >= OPEN_SHOWN for group in groups):  # some not loaded
            unpaid, due_cents = await service.due()
        else:
            unpaid, due_cents = len(shown), sum(i.amount_due_cents for i in shown)
        more = any(group["more"] for group in groups)
        # no invoice yet: because no service is linked, or because none was issued yet?
        linked = bool(groups) or bool(await ctx.accounts.linked_accounts(citizen))
        return await private_page(
            ctx,
            "billing/list.html",
            citizen,
            groups=groups,
            linked=linked,
            unpaid=unpaid,
            due_cents=due_cents,
            open_cut=unpaid > sum(len(group["open"]) for group in groups),
            years=await service.years() if more else [],
            status_labels=STATUS_LABELS,
            page_title=_("MES FACTURES"),
        )

    async def _year_page(
        self, ctx: AccountsContext, citizen: Citizen, service: BillingService, year: int
    ) -> Response[Any]:
        """Every invoice of one year, by ledger: where the history of MES FACTURES stops."""
        rows = await service.invoices_of_year(year)
        groups = []
        for _ledger_id, items in groupby(rows, key=lambda row: row[1].id):
            entries = list(items)
            groups.append({"ledger": entries[0][1], "all": [i for i, _lg in entries]})
        return await private_page(
            ctx,
            "billing/year.html",
            citizen,
            billed_year=year,
            groups=groups,
            cut=len(rows) >= YEAR_SHOWN,
            shown=YEAR_SHOWN,
            years=await service.years(),
            status_labels=STATUS_LABELS,
            page_title=_("MES FACTURES — %(year)s", year=year),
        )

    @get("/{invoice_id:uuid}", name="billing:invoice")
    async def invoice(self, ctx: AccountsContext, invoice_id: FromPath[uuid.UUID]) -> Response[Any]:
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        citizen, service = guard
        view = await service.get(invoice_id)
        if view is None:
            raise NotFoundException()
        return await self._invoice_page(ctx, citizen, view)

    async def _invoice_page(
        self,
        ctx: AccountsContext,
        citizen: Citizen,
        view: Any,
        status_code: int = 200,
        errors: dict[str, str] | None = None,
        email: str | None = None,
        unavailable: bool = False,
    ) -> Response[Any]:
        blocker = payment_blocker(view.invoice, view.ledger)
        pending = (
            None
            if blocker
            else await BillingService(ctx.db, ctx.tenant.id, citizen.id).pending_attempt(
                view.invoice.id
            )
        )
        return await private_page(
            ctx,
            "billing/invoice.html",
            citizen,
            status_code=status_code,
            view=view,
            blocker=blocker,
            pending=pending,
            bank=BANK_NAMES.get(view.ledger.backend),
            status_labels=STATUS_LABELS,
            errors=errors or {},
            email=email if email is not None else citizen.email,
            unavailable=unavailable,
            page_title=f"{view.ledger.name} - {view.invoice.number} - {view.invoice.label.upper()}",
        )

    @post("/{invoice_id:uuid}/payer", name="billing:pay")
    async def pay(self, ctx: AccountsContext, invoice_id: FromPath[uuid.UUID]) -> Response[Any]:
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        citizen, service = guard
        view = await service.get(invoice_id)
        if view is None:
            raise NotFoundException()
        form = await ctx.request.form()
        email = str(form.get("email", "")).strip()[:254]
        if not valid_email(email):
            message = (
                _("Adresse de courriel invalide, par exemple : prenom.nom@exemple.fr")
                if email
                else _(
                    "Indiquez votre adresse de courriel : la confirmation du paiement y sera "
                    "envoyée."
                )
            )
            return await self._invoice_page(ctx, citizen, view, 400, {"email": message}, email)
        blocker = payment_blocker(view.invoice, view.ledger)
        if blocker:
            return await self._invoice_page(ctx, citizen, view, 400, email=email)
        if form.get("again") != "oui" and await service.pending_attempt(view.invoice.id):
            # a payment begun in another window or on another device may still be paid there:
            # say so, and start another only once the citizen has read it
            return await self._invoice_page(ctx, citizen, view, 409, email=email)
        try:
            transaction, _bank_form = await service.start_payment(
                view,
                email,
                ctx.request.app.state.services.settings,
                base_url(ctx.request, ctx.tenant),
            )
        except PaymentUnavailable as exc:
            log.error("payment backend of ledger %s unavailable: %s", view.ledger.code, exc)
            return await self._invoice_page(ctx, citizen, view, 503, email=email, unavailable=True)
        ctx.accounts.record(
            citizen,
            "payment_started",
            {
                "invoice": view.invoice.number,
                "amount_cents": transaction.amount_cents,
                "reference": transaction.reference,
            },
            ctx.ip,
        )
        await ctx.commit()
        # the page that goes on to the bank has its own address: Back from the bank finds it
        return await ctx.redirect(f"/mon-espace/factures/paiement/{transaction.reference}/banque")

    async def _attempt(
        self, ctx: AccountsContext, reference: str
    ) -> Response[Any] | tuple[Citizen, Any, Invoice]:
        """(the citizen, their payment attempt of this reference, its invoice); 404 for
        anyone else's."""
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        citizen, service = guard
        found = await service.transaction(reference[:40])
        if found is None:
            raise NotFoundException()
        return citizen, found[0], found[1]

    @get("/paiement/{reference:str}/banque", name="billing:bank")
    async def bank(self, ctx: AccountsContext, reference: FromPath[str]) -> Response[Any]:
        """« Paiement sécurisé »: the bank's form, while the attempt can still be paid."""
        found = await self._attempt(ctx, reference)
        if isinstance(found, Response):
            return found
        citizen, transaction, invoice = found
        expires = as_utc(transaction.expires_at)
        if (
            transaction.status != TransactionStatus.PENDING
            or not transaction.bank_form
            or expires <= datetime.now(UTC)
        ):  # answered, or too old to pay: where it stands
            return await ctx.redirect(f"/mon-espace/factures/paiement/{transaction.reference}")
        response = await private_page(
            ctx,
            "billing/redirect.html",
            citizen,
            form=json.loads(transaction.bank_form),
            invoice=invoice,
            transaction=transaction,
            page_title=_("Paiement sécurisé"),
        )
        response.headers["Content-Security-Policy"] = BANK_PAGE_POLICY
        return response

    @get("/{invoice_id:uuid}/pdf", name="billing:pdf")
    async def pdf(self, ctx: AccountsContext, invoice_id: FromPath[uuid.UUID]) -> Response[Any]:
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        _citizen, service = guard
        view = await service.get(invoice_id)
        if view is None:
            raise NotFoundException()
        invoice = view.invoice
        data = await current_invoice_pdf(
            ctx.request.app.state.services,
            ctx.commit,
            ctx.tenant,
            invoice,
            view.ledger,
            view.lines,
            view.payments,
        )
        name = f"facture-{invoice.number}.pdf"
        return await ctx.finish(download_response(data, "application/pdf", name))

    @get("/{invoice_id:uuid}/recu/{payment_id:uuid}", name="billing:receipt")
    async def receipt(
        self, ctx: AccountsContext, invoice_id: FromPath[uuid.UUID], payment_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        """The payment receipt (reçu de paiement), as a PDF."""
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        _citizen, service = guard
        view = await service.get(invoice_id)
        payment = next((p for p in view.payments if p.id == payment_id), None) if view else None
        if view is None or payment is None or payment.amount_cents <= 0:  # a refund has none
            raise NotFoundException()
        services = ctx.request.app.state.services
        from guichet.billing.pdf import tenant_logo

        logo = tenant_logo(services.files, ctx.tenant)
        html = services.renderer.render(
            ctx.tenant.theme,
            "pdf/receipt.html",
            {
                "tenant": ctx.tenant,
                "invoice": view.invoice,
                "ledger": view.ledger,
                "payment": payment,
                "logo": logo,
                "locale": "fr",
            },
        )
        data = await asyncio.to_thread(invoice_pdf, html)
        name = f"recu-{view.invoice.number}-{payment.paid_at:%Y%m%d}.pdf"
        return await ctx.finish(download_response(data, "application/pdf", name))

    @get("/adhesion", name="billing:paperless")
    async def paperless(self, ctx: AccountsContext) -> Response[Any]:
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        citizen, _service = guard
        return await private_page(
            ctx,
            "billing/paperless.html",
            citizen,
            accounts=await self._accounts(ctx, citizen),
            errors={},
            page_title=_("ADHÉSION À LA FACTURE/COMPTE EN LIGNE"),
        )

    async def _accounts(self, ctx: AccountsContext, citizen: Citizen) -> list[Any]:
        return [
            (a, s)
            for a, s in (
                await ctx.db.execute(
                    select(ServiceAccount, Service)
                    .join(Service, Service.id == ServiceAccount.service_id)
                    .where(
                        ServiceAccount.tenant_id == ctx.tenant.id,
                        ServiceAccount.citizen_id == citizen.id,
                    )
                    .order_by(Service.name)
                )
            ).all()
        ]

    @post("/adhesion", name="billing:paperless_post")
    async def paperless_post(self, ctx: AccountsContext) -> Response[Any]:
        guard = await self._guard(ctx)
        if isinstance(guard, Response):
            return guard
        citizen, _service = guard
        form = await ctx.request.form()
        accounts = await self._accounts(ctx, citizen)
        try:
            account_id = uuid.UUID(str(form.get("account", "")))
        except ValueError:
            raise NotFoundException() from None
        match = next((a for a, _s in accounts if a.id == account_id), None)
        if match is None:
            raise NotFoundException()
        wanted = form.get("paperless") == "yes"
        email = str(form.get("email", "")).strip()[:254] or citizen.email
        if wanted and not valid_email(email):
            return await private_page(
                ctx,
                "billing/paperless.html",
                citizen,
                status_code=400,
                accounts=accounts,
                errors={
                    "email": _("Adresse de courriel invalide, par exemple : prenom.nom@exemple.fr")
                },
                page_title=_("ADHÉSION À LA FACTURE/COMPTE EN LIGNE"),
            )
        match.paperless = wanted
        match.paperless_email = email if wanted else ""
        match.paperless_changed_at = datetime.now(UTC)
        ctx.accounts.record(
            citizen,
            "paperless_changed",
            {"reference": match.reference, "paperless": wanted, "email": match.paperless_email},
            ctx.ip,
        )
        await ctx.commit()
        service_name = next(s.name for a, s in accounts if a.id == account_id)
        if wanted:
            done = _(
                "C'est fait : les factures du service %(service)s vous seront envoyées par "
                "courriel à %(email)s ; vous ne les recevrez plus par courrier.",
                service=service_name,
                email=email,
            )
        else:
            done = _(
                "C'est fait : les factures du service %(service)s vous seront de nouveau "
                "envoyées par courrier.",
                service=service_name,
            )
        ctx.flash(done, "success")
        return await ctx.redirect("/mon-espace/factures/adhesion")

    @get("/paiement/{reference:str}", name="billing:return")
    async def payment_return(self, ctx: AccountsContext, reference: FromPath[str]) -> Response[Any]:
        found = await self._attempt(ctx, reference)
        if isinstance(found, Response):
            return found
        citizen, transaction, invoice = found
        pending = transaction.status == TransactionStatus.PENDING
        return await private_page(
            ctx,
            "billing/return.html",
            citizen,
            transaction=transaction,
            invoice=invoice,
            pending=pending,
            status_labels=STATUS_LABELS,
            page_title=_("Paiement"),
            headers_refresh=pending,
        )


def _outcome(transaction: Any, changed: bool) -> str:
    """What a notification did, for the metrics."""
    if not changed:
        return "duplicate"
    if transaction.status == TransactionStatus.PAID:
        return "late" if transaction.late else "paid"
    return str(transaction.status)  # refused, cancelled, error


class PaymentNotificationController(Controller):
    """What the bank calls: the browser's return (shown, never trusted) and the signed
    server-to-server notification."""

    path = "/paiement"

    @get("/retour/{reference:str}", name="payments:browser_return")
    async def browser_return(
        self, tenant: TenantSnapshot, reference: FromPath[str]
    ) -> Response[Any]:
        from litestar.response import Redirect

        return Redirect(
            f"/{tenant.slug}/mon-espace/factures/paiement/{reference[:40]}", status_code=303
        )

    @post("/notification", name="payments:notification")
    async def notification(
        self, request: Request[Any, Any, Any], tenant: TenantSnapshot, db_session: AsyncSession
    ) -> Response[str]:
        services = request.app.state.services
        settings = services.settings
        raw = await request.body()
        if len(raw) > 16 * 1024:
            return Response("too large", status_code=413, media_type="text/plain")
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            return Response("bad encoding", status_code=400, media_type="text/plain")
        if request.method == "POST" and not body and request.url.query:
            body = request.url.query
        source = request.client.host if request.client else ""
        lock = (
            _sqlite_locks.setdefault(str(tenant.id), asyncio.Lock())
            if services.db.dialect == "sqlite"
            else None
        )
        try:
            if lock is not None:
                async with lock:
                    transaction, changed = await handle_notification(
                        db_session, tenant.id, body, settings, base_url(request, tenant), source
                    )
            else:
                transaction, changed = await handle_notification(
                    db_session, tenant.id, body, settings, base_url(request, tenant), source
                )
        except NotificationError as exc:
            log.warning("payment notification refused: %s", exc.reason)
            await db_session.rollback()
            metrics.payment(tenant.slug, "rejected")
            return Response(
                f"refused: {exc.reason}", status_code=exc.status_code, media_type="text/plain"
            )
        queued: list[uuid.UUID] = []
        if changed and transaction.status == TransactionStatus.PAID:
            queued = await self._confirm(request, tenant, db_session, transaction)
        await db_session.commit()
        metrics.payment(tenant.slug, _outcome(transaction, changed))
        enqueue_delivery(settings, queued)
        return Response("OK", status_code=200, media_type="text/plain")

    async def _confirm(
        self,
        request: Request[Any, Any, Any],
        tenant: TenantSnapshot,
        session: AsyncSession,
        transaction: Any,
    ) -> list[uuid.UUID]:
        """The payment confirmation email, in the same transaction as the payment."""
        from guichet.billing.models import Invoice, Ledger

        invoice = (
            await session.execute(
                select(Invoice).where(
                    Invoice.tenant_id == tenant.id, Invoice.id == transaction.invoice_id
                )
            )
        ).scalar_one()
        ledger = (
            await session.execute(
                select(Ledger).where(Ledger.tenant_id == tenant.id, Ledger.id == invoice.ledger_id)
            )
        ).scalar_one()
        if not transaction.email:
            return []
        services = request.app.state.services
        message = queue_email(
            session,
            services.renderer,
            services.settings,
            tenant,
            kind="payment_confirmed",
            recipient=transaction.email,
            locale=tenant.default_locale,
            context={"invoice": invoice, "ledger": ledger, "transaction": transaction},
        )
        return [message.id]
