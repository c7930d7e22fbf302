"""Billing for régisseurs and administrators (``/{tenant}/admin/facturation``): billing runs
(launch one, follow its progress), invoices (search, a payment received at the counter,
cancellation by a credit note), payments exported for accounting (CSV), and the API tokens of
the billing software. Every change is in the audit log.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import secrets
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from litestar import Controller, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError

from guichet.accounts.forms import parse_date
from guichet.accounts.models import ServiceAccount
from guichet.accounts.web import AccountsContext, provide_ctx
from guichet.admin.controllers import _SERVICE_CODE, _param, _text
from guichet.billing.backends import REAL_BACKENDS, backend_for
from guichet.billing.crypto import decrypt_options, encrypt_options
from guichet.billing.imports import (
    CSV_COLUMNS,
    create_token,
    csv_position,
    french_problem,
    import_invoices,
    parse_csv,
)
from guichet.billing.items import ITEM_CSV_COLUMNS, import_items, parse_items_csv
from guichet.billing.models import (
    ApiToken,
    BillableItem,
    BillingRun,
    Invoice,
    InvoiceStatus,
    Ledger,
    Payment,
    PaymentTransaction,
    TransactionStatus,
)
from guichet.billing.runs import PARIS, RUN_TASK, create_run, period_label
from guichet.billing.services import refresh_status
from guichet.i18n import N_, current_locale, format_money, ngettext
from guichet.i18n import gettext as _
from guichet.staff.models import StaffUser
from guichet.staff.web import confirm_first, confirmed, require_staff, staff_audit, staff_page
from guichet.tenancy.models import Service
from guichet.text import fold
from guichet.web.pages import download_response

__all__ = ["INVOICE_STATUS_LABELS", "OFFLINE_METHODS", "BillingAdminController"]


INVOICE_STATUS_LABELS = {
    InvoiceStatus.UNPAID: N_("non réglée"),
    InvoiceStatus.PARTIAL: N_("partiellement réglée"),
    InvoiceStatus.PAID: N_("réglée"),
    InvoiceStatus.CANCELLED: N_("annulée"),
    InvoiceStatus.DIRECT_DEBIT: N_("prélevée"),
}
OFFLINE_METHODS = {
    "especes": N_("espèces"),
    "cheque": N_("chèque"),
    "virement": N_("virement"),
    "carte": N_("carte bancaire au guichet"),
}
PAST_DAY = N_("Date invalide : écrivez-la comme 21/03/2026 (pas dans le futur).")
# giving back what was paid beyond an invoice's amount: a payment of a negative amount
REFUND_METHODS = {
    "remb_virement": N_("par virement"),
    "remb_cheque": N_("par chèque"),
    "remb_banque": N_("en annulant le paiement en ligne, depuis l'espace de la banque"),
}
METHOD_LABELS = {
    "online": N_("paiement en ligne"),
    **OFFLINE_METHODS,
    "remb_virement": N_("remboursement par virement"),
    "remb_cheque": N_("remboursement par chèque"),
    "remb_banque": N_("remboursement par la banque"),
}
# the payments export's « mode » column: the codes of OFFLINE_METHODS and REFUND_METHODS,
# and « en_ligne »
EXPORTED_METHODS = {"online": "en_ligne"}
# the invoices search's « payée en trop »: what was paid beyond what is owed, to give back
OVERPAID = "trop_percu"
_OVERPAID_WHERE = or_(
    Invoice.paid_cents > Invoice.total_cents,
    and_(
        Invoice.status.in_([InvoiceStatus.CANCELLED, InvoiceStatus.DIRECT_DEBIT]),
        Invoice.paid_cents > 0,
    ),
)
_PERIOD = re.compile(r"(19|20)\d\d-(0[1-9]|1[0-2])")
MAX_ITEMS_FILE = 5 * 1024 * 1024
_LEDGER_CODE = _SERVICE_CODE  # the same rule as a service's code
# the CSV's columns as the page's report names them
ITEM_COLUMN_LABELS = {
    "ledger": N_("régie"),
    "service": N_("service"),
    "reference": N_("dossier"),
    "date": N_("date"),
    "label": N_("libellé"),
    "quantity": N_("quantité"),
    "unit_price": N_("prix unitaire"),
    "(item)": N_("ligne"),
    "items": N_("fichier"),
}
_AMOUNT = re.compile(r"[0-9]{1,7}([.,][0-9]{1,2})?")
PAGE = 50


def _cents(text: str) -> int | None:
    compact = text.replace(" ", "").replace("\u00a0", "").replace("€", "")
    if not _AMOUNT.fullmatch(compact):
        return None
    try:
        return int((Decimal(compact.replace(",", ".")) * 100).to_integral_value())
    except InvalidOperation:  # pragma: no cover - the pattern already says so
        return None


# each bank as the agents choose it (the code, e.g. ``payfip_ws``, is what is stored)
BANK_CHOICES = {
    "sandbox": N_("Banque de démonstration (simulée, hors production)"),
    "paybox": N_("Paybox (Verifone)"),
    "payfip_ws": N_("PayFiP (DGFiP, Trésor public)"),
    "systempayv2": N_("Systempay (Caisse d'Épargne, Banque Populaire)"),
}
# eopayment's captions of the options it leaves in English or as a bare name (the others
# are in French already); the option's code is shown beside, as the bank's documents call it
OPTION_LABELS = {
    "capture_mode": N_("Mode de capture (IMMEDIATE ou AUTHOR_CAPTURE)"),
    "timezone": N_("Fuseau horaire"),
    "callback": N_("Adresse de notification (callback)"),
    "numcli": N_("Numéro client (PayFiP)"),
    "saisie": N_("Mode (T : test, X : activation, W : production)"),
    "vads_ctx_mode": N_("Mode (TEST ou PRODUCTION)"),
    "vads_payment_config": N_("Paiement en une ou plusieurs fois"),
    "capture_day": N_("Nombre de jours pour un paiement différé"),
}


def backend_parameters(kind: str) -> list[tuple[str, str, bool]]:
    """(name, label, secret) of a bank's options that the ledger sets (the return addresses
    are the platform's)."""
    import eopayment

    parameters = eopayment.get_backend(kind).description["parameters"]
    result = []
    for parameter in parameters:
        name = parameter["name"]
        if name in ("normal_return_url", "automatic_return_url"):
            continue
        label = (
            _(OPTION_LABELS[name])
            if name in OPTION_LABELS
            else str(parameter.get("caption") or name)
        )
        secret = any(word in name for word in ("secret", "cle", "key", "password"))
        result.append((name, label, secret))
    return result


def ledger_values(ledger: Ledger) -> dict[str, Any]:
    return {
        "name": ledger.name,
        "merchant_label": ledger.merchant_label,
        "cheque_payee": ledger.cheque_payee,
        "backend": ledger.backend,
        "online_payment": ledger.online_payment,
        "min_amount": f"{ledger.min_amount_cents / 100:.2f}".replace(".", ","),
        "max_amount": f"{ledger.max_amount_cents / 100:.2f}".replace(".", ","),
    }


def paris_today() -> date:
    """Today where the agents are: the machine's clock may be UTC, an hour or two behind
    Paris (a payment typed at 00:30 for « today » was refused as being in the future)."""
    return datetime.now(PARIS).date()


def _counter_day_problem(typed: str, day: date | None) -> str | None:
    """What is wrong with the day a counter payment or refund was made, as typed."""
    if not typed:
        return _("Ce champ est obligatoire.")
    if day is None or day > paris_today() or day.year < 2000:
        return _(PAST_DAY)
    return None


def _counter_moment(day: date) -> datetime:
    """When a payment or refund typed at the counter took place: now when it is today's (so
    that it comes after an online payment of the morning in the lists and the export), noon
    of its day otherwise."""
    if day == paris_today():
        return datetime.now(UTC)
    return datetime.combine(day, time(12, 0), tzinfo=UTC)


def _cell(text: str) -> str:
    """A text cell a spreadsheet will not read as a formula (=, +, -, @, tab, return first)."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _stored_options(secret_keys: tuple[str, ...], ledger: Ledger) -> tuple[dict[str, Any], bool]:
    """(the bank options stored, whether they could be read). Options encrypted with another
    secret key (``GUICHET_SECRET_KEY`` changed) cannot: the page says so and asks for them
    again, rather than failing."""
    try:
        return decrypt_options(secret_keys, ledger.backend_options), True
    except ValueError:
        return {}, False


async def _csv_upload(ctx: AccountsContext, missing: str) -> tuple[bytes, str, str]:
    """The CSV file chosen in the form: (its content, its name, ""), or what is wrong with it
    as the last item (``missing`` when no file was chosen)."""
    form = await ctx.request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return b"", "", missing
    data = await upload.read()
    if len(data) > MAX_ITEMS_FILE:
        return b"", "", _("Le fichier dépasse 5 Mo : coupez-le en plusieurs.")
    return data, upload.filename[:100], ""


def _new(count: int) -> str:  # an import's count of invoices or items (« factures », feminine)
    return ngettext("%(num)s nouvelle", "%(num)s nouvelles", count, num=_count(count))


def _known(count: int) -> str:
    return ngettext("%(num)s déjà connue", "%(num)s déjà connues", count, num=_count(count))


def _count(count: int) -> str:
    """« 3 000 », as French writes it (the import flashes said « 3000 nouvelles »)."""
    from babel.numbers import format_decimal

    return format_decimal(count, locale=current_locale())


def _at_most_100(report: list[tuple[int | None, str]]) -> list[tuple[int | None, str]]:
    """The first 100 problems of an import's report, and how many more there are: an agent
    who corrected the 100 shown used to find the next ones only by sending the file again."""
    if len(report) <= 100:
        return report
    more = len(report) - 100
    return [
        *report[:100],
        (
            None,
            ngettext(
                "… et %(num)s autre problème plus loin dans le fichier : corrigez-le aussi.",
                "… et %(num)s autres problèmes plus loin dans le fichier : corrigez-les aussi.",
                more,
            ),
        ),
    ]


def _header_problem(columns: tuple[str, ...], problem: str) -> str:
    """The header line an import wants, and the columns it lacks (``problem``: the parser's
    « missing columns: … »)."""
    expected = _(
        "La première ligne doit nommer les colonnes : %(columns)s.", columns=";".join(columns)
    )
    missing = problem.removeprefix("missing columns: ")
    return expected + " " + _("Il manque : %(missing)s.", missing=missing)


def _last_month() -> str:
    return (paris_today().replace(day=1) - timedelta(days=1)).strftime("%m/%Y")


_MONTH_NAMES = {
    fold(name): number
    for number, name in enumerate(
        (
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ),
        start=1,
    )
}


def _month(typed: str) -> str:
    """The month typed as every other date of the page is (« 10/2026 »), in words (« octobre
    2026 ») or as 2026-10: 2026-10; what was typed when it is none of them. Only 2026-10 was
    taken, and « novembre 2026 » came back cut to « novembr »."""
    text = " ".join(typed.split())
    if _PERIOD.fullmatch(text):
        return text
    numbers = re.fullmatch(r"(\d{1,2}) ?[/.-] ?(\d{4})", text)
    words = re.fullmatch(r"(\D+) (\d{4})", text)
    if numbers and 1 <= int(numbers.group(1)) <= 12:
        return f"{numbers.group(2)}-{int(numbers.group(1)):02d}"
    if words and fold(words.group(1)) in _MONTH_NAMES:
        return f"{words.group(2)}-{_MONTH_NAMES[fold(words.group(1))]:02d}"
    return text


def _month_number(text: str) -> int | None:
    """The month's number of « 13/2026 » or « 2026-13 » (to say that it is out of range)."""
    found = re.fullmatch(r"(\d{1,2}) ?[/.-] ?\d{4}|\d{4}-(\d{1,2})", text)
    return int(found.group(1) or found.group(2)) if found else None


class BillingAdminController(Controller):
    path = "/admin/facturation"
    dependencies = {"ctx": Provide(provide_ctx)}

    async def _ledgers(self, ctx: AccountsContext) -> list[Ledger]:
        return list(
            (
                await ctx.db.execute(
                    select(Ledger).where(Ledger.tenant_id == ctx.tenant.id).order_by(Ledger.name)
                )
            ).scalars()
        )

    # -- billing runs --------------------------------------------------------------------------
    async def _runs_page(
        self,
        ctx: AccountsContext,
        staff: StaffUser,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
        export_values: dict[str, str] | None = None,
        export_errors: dict[str, str] | None = None,
        items_report: list[tuple[int | None, str]] | None = None,
        invoices_report: list[tuple[int | None, str]] | None = None,
        ledger_values: dict[str, str] | None = None,
        ledger_errors: dict[str, str] | None = None,
    ) -> Response[Any]:
        ledgers = await self._ledgers(ctx)
        services = (
            await ctx.db.execute(
                select(Service.code, Service.name)
                .where(Service.tenant_id == ctx.tenant.id)
                .order_by(Service.name)
            )
        ).all()
        today = paris_today()
        pending = (
            await ctx.db.execute(
                select(
                    Ledger.name,
                    BillableItem.period,
                    func.count(),
                    func.count(func.distinct(BillableItem.service_account_id)),
                )
                .join(Ledger, Ledger.id == BillableItem.ledger_id)
                .where(BillableItem.tenant_id == ctx.tenant.id, BillableItem.invoice_id.is_(None))
                .group_by(Ledger.name, BillableItem.period)
                .order_by(BillableItem.period.desc(), Ledger.name)
                .limit(24)
            )
        ).all()
        overpaid = await ctx.db.scalar(
            select(func.count())
            .select_from(Invoice)
            .where(Invoice.tenant_id == ctx.tenant.id, _OVERPAID_WHERE)
        )
        runs = list(
            (
                await ctx.db.execute(
                    select(BillingRun, Ledger)
                    .join(Ledger, Ledger.id == BillingRun.ledger_id)
                    .where(BillingRun.tenant_id == ctx.tenant.id)
                    .order_by(BillingRun.created_at.desc())
                    .limit(30)
                )
            ).all()
        )
        return await staff_page(
            ctx,
            "admin/billing.html",
            staff,
            status_code=status_code,
            ledgers=[(ledger.code, ledger.name) for ledger in ledgers],
            overpaid=overpaid,
            runs=runs,
            period_label=period_label,
            # the launch form: last month unless something was typed
            values=values or {"period": _last_month()},
            errors=errors or {},
            export_values=export_values
            or {"du": today.replace(day=1).strftime("%d/%m/%Y"), "au": today.strftime("%d/%m/%Y")},
            export_errors=export_errors or {},
            pending=pending,
            items_report=items_report,
            invoices_report=invoices_report,
            invoice_columns=";".join(CSV_COLUMNS),
            services=[(code, name) for code, name in services],
            ledger_values=ledger_values or {},
            ledger_errors=ledger_errors or {},
            item_columns=";".join(ITEM_CSV_COLUMNS),
            page_title=_("Facturation"),
        )

    @get("/", name="admin:billing")
    async def index(self, ctx: AccountsContext) -> Response[Any]:
        staff = await require_staff(ctx, "billing")
        if not isinstance(staff, StaffUser):
            return staff
        return await self._runs_page(ctx, staff)

    async def _waiting(self, ctx: AccountsContext, ledger_code: str, period: str) -> str:
        """How many items of the month wait for an invoice, in a sentence."""
        items, files = (
            await ctx.db.execute(
                select(func.count(), func.count(func.distinct(BillableItem.service_account_id)))
                .join(Ledger, Ledger.id == BillableItem.ledger_id)
                .where(
                    BillableItem.tenant_id == ctx.tenant.id,
                    Ledger.code == ledger_code,
                    BillableItem.period == period,
                    BillableItem.invoice_id.is_(None),
                )
            )
        ).one()
        if not items:
            return _(
                "Aucune prestation de ce mois n'attend d'être facturée : la facturation ne "
                "créera aucune facture. Importez d'abord les prestations (page Facturation)."
            )
        return ngettext(
            "%(num)s prestation attend d'être facturée",
            "%(num)s prestations attendent d'être facturées",
            items,
        ) + ngettext(" : %(num)s facture sera créée.", " : %(num)s factures seront créées.", files)

    @post("/regies", name="admin:ledger_create")
    async def ledger_create(self, ctx: AccountsContext) -> Response[Any]:
        """A new ledger (its code, name, service and numbers), then its page for the bank."""
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        form = await ctx.request.form()
        values = {
            "code": _text(form, "code", 50).lower(),
            "name": _text(form, "name", 200),
            "service": _text(form, "service", 50),
            "number_prefix": _text(form, "number_prefix", 10),
        }
        errors: dict[str, str] = {}
        if not _LEDGER_CODE.fullmatch(values["code"]):
            errors["code"] = _("Lettres minuscules, chiffres et tirets, par exemple « seniors ».")
        elif values["code"] in {ledger.code for ledger in await self._ledgers(ctx)}:
            errors["code"] = _("Ce code est déjà celui d'une régie.")
        if not values["name"]:
            errors["name"] = _("Ce champ est obligatoire.")
        service_id = await ctx.db.scalar(
            select(Service.id).where(
                Service.tenant_id == ctx.tenant.id, Service.code == values["service"]
            )
        )
        if service_id is None:
            errors["service"] = _("Choisissez le service dans la liste.")
        if values["number_prefix"] and not (
            values["number_prefix"].isascii() and values["number_prefix"].isdigit()
        ):
            errors["number_prefix"] = _("Des chiffres seulement, par exemple 2001, ou rien.")
        if errors:
            return await self._runs_page(
                ctx,
                staff,
                status_code=400,
                ledger_values=values,
                ledger_errors=errors,
            )
        ctx.db.add(
            Ledger(
                tenant_id=ctx.tenant.id,
                code=values["code"],
                name=values["name"],
                service_id=service_id,
                number_prefix=values["number_prefix"],
                backend="sandbox",
                backend_options=encrypt_options(ctx.accounts.settings.web.secret_key, {}),
            )
        )
        staff_audit(ctx, staff, "billing.ledger_created", values["code"])
        try:
            await ctx.db.commit()
        except IntegrityError:  # the same code created meanwhile (a double click)
            await ctx.db.rollback()
            await ctx.db.refresh(staff)
            return await self._runs_page(
                ctx,
                staff,
                status_code=400,
                ledger_values=values,
                ledger_errors={"code": _("Ce code est déjà celui d'une régie.")},
            )
        ctx.flash(
            _(
                "La régie « %(name)s » est créée, avec la banque de démonstration : choisissez "
                "ici sa banque et ses options.",
                name=values["name"],
            ),
            "success",
        )
        return await ctx.redirect(f"/admin/facturation/regies/{values['code']}")

    @post("/prestations", name="admin:billing_items")
    async def import_items_csv(self, ctx: AccountsContext) -> Response[Any]:
        """Billable items from a CSV file, all or nothing, with the lines to correct."""
        staff = await require_staff(ctx, "billing")
        if not isinstance(staff, StaffUser):
            return staff

        async def refused(report: list[tuple[int | None, str]]) -> Response[Any]:
            return await self._runs_page(ctx, staff, status_code=400, items_report=report)

        data, filename, problem = await _csv_upload(
            ctx, _("Choisissez le fichier CSV des prestations.")
        )
        if problem:
            return await refused([(None, problem)])
        rows, lines, problems = parse_items_csv(data)
        if problems:
            [(code, _english)] = problems
            if code == "header":
                said = _header_problem(ITEM_CSV_COLUMNS, _english)
            else:
                said = _("Le fichier n'est pas du texte UTF-8 : enregistrez-le en « CSV UTF-8 ».")
            return await refused([(None, said)])
        if not rows:
            return await refused([(None, _("Le fichier ne contient aucune ligne de prestation."))])
        try:
            report = await import_items(ctx.db, ctx.tenant.id, rows)
        except IntegrityError:  # the same file sent twice at the same moment
            await ctx.db.rollback()
            await ctx.db.refresh(staff)
            return await refused(
                [(None, _("Ce fichier était déjà en cours d'import : réessayez."))]
            )
        if report.problems:  # nothing was added to the session
            column = {name: _(label) for name, label in ITEM_COLUMN_LABELS.items()}
            return await refused(
                _at_most_100(
                    [
                        (
                            lines[p.index] if p.index is not None else None,
                            f"{column.get(p.field, p.field)} : "
                            f"{p.words(french=True, line_of=lines.__getitem__)}",
                        )
                        for p in report.problems
                    ]
                )
            )
        staff_audit(
            ctx,
            staff,
            "billing.items_imported",
            filename,
            {"created": report.created, "updated": report.updated, "unchanged": report.unchanged},
        )
        await ctx.db.commit()
        ctx.flash(
            _(
                "Prestations importées : %(new)s, %(changed)s, %(known)s.",
                new=_new(report.created),
                changed=ngettext(
                    "%(num)s modifiée",
                    "%(num)s modifiées",
                    report.updated,
                    num=_count(report.updated),
                ),
                known=_known(report.unchanged),
            ),
            "success",
        )
        return await ctx.redirect("/admin/facturation/")

    @post("/factures/import", name="admin:billing_invoices_import")
    async def import_invoices_csv(self, ctx: AccountsContext) -> Response[Any]:
        """Invoices made by the services' billing software, from a CSV file: all or nothing,
        with the lines to correct; sent again, the same invoices are « déjà connues »."""
        staff = await require_staff(ctx, "billing")
        if not isinstance(staff, StaffUser):
            return staff

        async def refused(report: list[tuple[int | None, str]]) -> Response[Any]:
            return await self._runs_page(ctx, staff, status_code=400, invoices_report=report)

        data, filename, problem = await _csv_upload(
            ctx, _("Choisissez le fichier CSV des factures.")
        )
        if problem:
            return await refused([(None, problem)])
        invoices, problems, rows = parse_csv(data)

        def to_correct(errors: list[dict[str, Any]]) -> list[tuple[int | None, str]]:
            """Each problem on its line of the file, in the file's order (the first 100)."""
            said = []
            for error in errors:
                index = error["index"]
                line, name = csv_position(rows[index] if index is not None else [], error["field"])
                said.append((line, french_problem(name, error["message"])))
            said.sort(key=lambda pair: pair[0] or 0)
            return _at_most_100(said)

        if problems and all(problem["index"] is not None for problem in problems):
            return await refused(to_correct(problems))  # rows of one number that disagree
        if problems:
            if problems[0]["field"] == "(header)":
                said = _header_problem(CSV_COLUMNS, problems[0]["message"])
            else:
                said = _("Le fichier n'est pas un fichier CSV lisible : enregistrez-le en CSV.")
            return await refused([(None, said)])
        if not invoices:
            return await refused([(None, _("Le fichier ne contient aucune ligne de facture."))])
        try:
            report = await import_invoices(ctx.db, ctx.tenant.id, invoices)
            if not report.errors:
                staff_audit(
                    ctx,
                    staff,
                    "billing.invoices_imported",
                    filename,
                    {"created": len(report.created), "unchanged": len(report.unchanged)},
                )
                await ctx.db.commit()
        except IntegrityError:  # the same file sent twice at the same moment: one import won
            await ctx.db.rollback()
            await ctx.db.refresh(staff)
            return await refused(
                [(None, _("Ce fichier était déjà en cours d'import : réessayez."))]
            )
        if report.errors:
            await ctx.db.rollback()  # the valid ones too: the file is sent again, corrected
            await ctx.db.refresh(staff)
            return await refused(to_correct(report.errors))
        ctx.flash(
            _(
                "Factures importées : %(new)s, %(known)s. Les habitants les voient dans MES "
                "FACTURES.",
                new=_new(len(report.created)),
                known=_known(len(report.unchanged)),
            ),
            "success",
        )
        return await ctx.redirect("/admin/facturation/")

    @post("/", name="admin:billing_run")
    async def launch(self, ctx: AccountsContext) -> Response[Any]:
        staff = await require_staff(ctx, "billing")
        if not isinstance(staff, StaffUser):
            return staff
        form = await ctx.request.form()
        values = {"ledger": _text(form, "ledger", 50), "period": _month(_text(form, "period", 30))}
        errors: dict[str, str] = {}
        if values["ledger"] not in {ledger.code for ledger in await self._ledgers(ctx)}:
            errors["ledger"] = _("Choisissez la régie dans la liste.")
        last_year = paris_today().year + 1
        number = _month_number(values["period"])
        if number is not None and not 1 <= number <= 12:  # « 13/2026 »: say what is wrong
            errors["period"] = _(
                "Il n'y a pas de mois %(number)s : le mois va de 1 à 12, par exemple 10/2026.",
                number=number,
            )
        elif not _PERIOD.fullmatch(values["period"]):
            errors["period"] = _("Le mois, par exemple 10/2026 ou octobre 2026.")
        elif not 2000 <= int(values["period"][:4]) <= last_year:  # 1900-01 or 2099-01: a typo
            errors["period"] = _(
                "Choisissez un mois entre 2000 et %(last_year)s.", last_year=last_year
            )
        if errors:
            return await self._runs_page(ctx, staff, values, errors, status_code=400)
        if not confirmed(form):
            ledger_name = next(
                ledger.name
                for ledger in await self._ledgers(ctx)
                if ledger.code == values["ledger"]
            )
            return await confirm_first(
                ctx,
                staff,
                title=_(
                    "Lancer la facturation de %(period)s ?",
                    period=period_label(values["period"]).lower(),
                ),
                explanation=[
                    await self._waiting(ctx, values["ledger"], values["period"]),
                    _(
                        "Les factures de %(period)s de la régie « %(ledger)s » vont être créées "
                        "avec leurs numéros, puis envoyées : par courriel aux adhérents de la "
                        "facture en ligne, dans le fichier à imprimer pour les autres.",
                        period=period_label(values["period"]).lower(),
                        ledger=ledger_name,
                    ),
                    _(
                        "Une facture créée ne se supprime pas : elle s'annule par un avoir. "
                        "Relancer le même mois ne crée pas de doublon."
                    ),
                ],
                action="/admin/facturation/",
                fields=values,
                button=_("Lancer la facturation"),
                back="/admin/facturation/",
            )
        run = await create_run(ctx.db, ctx.tenant.id, values["ledger"], values["period"])
        staff_audit(ctx, staff, "billing.run_launched", f"{values['ledger']} {values['period']}")
        await ctx.db.commit()
        from guichet.notifications.services import _celery

        try:
            _celery(ctx.accounts.settings).send_task(
                RUN_TASK, args=[str(ctx.tenant.id), str(run.id)], retry=False
            )
            ctx.flash(
                _(
                    "La facturation de %(period)s est lancée : suivez son avancement ci-dessous.",
                    period=period_label(values["period"]).lower(),  # mid-sentence
                ),
                "success",
            )
        except Exception:
            ctx.flash(
                _(
                    "La facturation est enregistrée mais les traitements en arrière-plan ne "
                    "répondent pas : elle partira à leur retour. Prévenez l'exploitant si cela "
                    "dure."
                ),
                "warning",
            )
        return await ctx.redirect("/admin/facturation/")

    @get("/lancements/{run_id:uuid}/courrier/{volume:int}", name="admin:billing_print")
    async def print_file(
        self, ctx: AccountsContext, run_id: FromPath[uuid.UUID], volume: FromPath[int]
    ) -> Response[Any]:
        """A volume of a run's print file: the invoices going by post, to print and send."""
        staff = await require_staff(ctx, "billing")
        if not isinstance(staff, StaffUser):
            return staff
        run = (
            await ctx.db.execute(
                select(BillingRun).where(
                    BillingRun.tenant_id == ctx.tenant.id, BillingRun.id == run_id
                )
            )
        ).scalar_one_or_none()
        if run is None or not 1 <= volume <= len(keys := run.print_keys):
            raise NotFoundException()
        files = ctx.request.app.state.services.files
        data = await asyncio.to_thread(files.get, keys[volume - 1])
        suffix = f"-{volume}" if len(keys) > 1 else ""
        name = f"courrier-{run.period}{suffix}.pdf"
        return await ctx.finish(download_response(data, "application/pdf", name))

    # -- invoices ------------------------------------------------------------------------------
    @get("/factures", name="admin:invoices")
    async def invoices(self, ctx: AccountsContext) -> Response[Any]:
        staff = await require_staff(ctx, "billing")
        if not isinstance(staff, StaffUser):
            return staff
        query = " ".join(str(ctx.request.query_params.get("q", "")).replace("\x00", "").split())[
            :100
        ]
        wanted = str(ctx.request.query_params.get("etat", ""))
        statement = (
            select(Invoice, Ledger, ServiceAccount.reference)
            .join(Ledger, Ledger.id == Invoice.ledger_id)
            .join(ServiceAccount, ServiceAccount.id == Invoice.service_account_id)
            .where(Invoice.tenant_id == ctx.tenant.id, ServiceAccount.tenant_id == ctx.tenant.id)
            .order_by(Invoice.issue_date.desc(), Invoice.number.desc())
            .limit(PAGE)
        )
        for word in query.split()[:4]:  # each word in the number, the file or the recipient
            pattern = f"%{word.replace('%', '').replace('_', '')}%"
            statement = statement.where(
                or_(
                    Invoice.number.ilike(pattern),
                    ServiceAccount.reference.ilike(pattern),
                    Invoice.recipient.ilike(pattern),
                )
            )
        if wanted in {s.value for s in InvoiceStatus}:
            statement = statement.where(Invoice.status == InvoiceStatus(wanted))
        elif wanted == OVERPAID:
            statement = statement.where(_OVERPAID_WHERE)
        rows = list((await ctx.db.execute(statement)).all())
        return await staff_page(
            ctx,
            "admin/invoices.html",
            staff,
            rows=rows,
            query=query,
            wanted=wanted,
            statuses=[
                *((s.value, _(label)) for s, label in INVOICE_STATUS_LABELS.items()),
                (OVERPAID, _("payée en trop, à rembourser")),
            ],
            status_labels=INVOICE_STATUS_LABELS,
            limit=PAGE,
            page_title=_("Factures"),
        )

    async def _invoice(
        self, ctx: AccountsContext, invoice_id: uuid.UUID, lock: bool = False
    ) -> tuple[Invoice, Ledger]:
        """The invoice (locked for the transaction when it is about to change: a bank
        notification or another agent waits, and sees the change)."""
        statement = (
            select(Invoice, Ledger)
            .join(Ledger, Ledger.id == Invoice.ledger_id)
            .where(Invoice.tenant_id == ctx.tenant.id, Invoice.id == invoice_id)
        )
        if lock:
            statement = statement.with_for_update(of=Invoice)
        row = (await ctx.db.execute(statement)).first()
        if row is None:
            raise NotFoundException()
        return row[0], row[1]

    def _first_use(self, ctx: AccountsContext, form: Any) -> bool:
        """A form carries a one-time value: sent again (a double click, a reload), it is not
        acted on twice. The last 50 are remembered in the staff session."""
        once = form.get("once")
        if not isinstance(once, str) or not re.fullmatch(r"[0-9a-f]{32}", once):
            return True  # an old page without it: the amount checks still hold
        used = list(ctx.session.get("forms_used") or [])
        if once in used:
            return False
        ctx.session.set("forms_used", [*used, once][-50:])
        return True

    async def _invoice_page(
        self,
        ctx: AccountsContext,
        staff: StaffUser,
        invoice: Invoice,
        ledger: Ledger,
        values: dict[str, str],
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Response[Any]:
        payments = list(
            (
                await ctx.db.execute(
                    select(Payment)
                    .where(Payment.tenant_id == ctx.tenant.id, Payment.invoice_id == invoice.id)
                    .order_by(Payment.paid_at)
                )
            ).scalars()
        )
        return await staff_page(
            ctx,
            "admin/invoice.html",
            staff,
            status_code=status_code,
            invoice=invoice,
            ledger=ledger,
            payments=payments,
            methods=[(k, _(v)) for k, v in OFFLINE_METHODS.items()],
            refund_methods=[(k, _(v)) for k, v in REFUND_METHODS.items()],
            once=uuid.uuid4().hex,
            method_labels=METHOD_LABELS,
            status_labels=INVOICE_STATUS_LABELS,
            values=values,
            errors=errors,
            page_title=f"{ledger.name} — {invoice.number}",
        )

    @get("/factures/{invoice_id:uuid}", name="admin:invoice")
    async def invoice(self, ctx: AccountsContext, invoice_id: FromPath[uuid.UUID]) -> Response[Any]:
        staff = await require_staff(ctx, "billing")
        if not isinstance(staff, StaffUser):
            return staff
        invoice, ledger = await self._invoice(ctx, invoice_id)
        values = {
            "amount": f"{invoice.amount_due_cents / 100:.2f}".replace(".", ","),
            "paid_on": paris_today().strftime("%d/%m/%Y"),
            "method": "cheque",
            "refund_amount": f"{invoice.excess_cents / 100:.2f}".replace(".", ","),
            "refunded_on": paris_today().strftime("%d/%m/%Y"),
        }
        return await self._invoice_page(ctx, staff, invoice, ledger, values, {})

    async def _counter_form(
        self, ctx: AccountsContext, invoice_id: uuid.UUID, already: str
    ) -> Response[Any] | tuple[StaffUser, Invoice, Ledger, Any]:
        """(the agent, the invoice locked, its ledger, the form) of a payment or refund typed
        at the counter, or where to go: sign in first, or the same form sent twice (a double
        click), said with ``already``."""
        staff = await require_staff(ctx, "billing")
        if not isinstance(staff, StaffUser):
            return staff
        invoice, ledger = await self._invoice(ctx, invoice_id, lock=True)
        form = await ctx.request.form()
        if not self._first_use(ctx, form):
            ctx.flash(already, "info")
            return await ctx.redirect(f"/admin/facturation/factures/{invoice.id}")
        return staff, invoice, ledger, form

    @post("/factures/{invoice_id:uuid}/reglement", name="admin:invoice_payment")
    async def record_payment(
        self, ctx: AccountsContext, invoice_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        """A payment received at the counter (cash, cheque, transfer, card)."""
        opened = await self._counter_form(ctx, invoice_id, _("Ce règlement est déjà enregistré."))
        if isinstance(opened, Response):
            return opened
        staff, invoice, ledger, form = opened
        values = {
            "amount": _text(form, "amount", 20),
            "paid_on": _text(form, "paid_on", 20),
            "method": _text(form, "method", 20),
            "reference": _text(form, "reference", 100),
        }
        errors: dict[str, str] = {}
        cents = _cents(values["amount"])
        paid_on = parse_date(values["paid_on"], short_year=True)
        if invoice.status in (InvoiceStatus.CANCELLED, InvoiceStatus.DIRECT_DEBIT):
            errors["amount"] = _("Cette facture est annulée ou prélevée : rien à encaisser.")
        elif cents is None or cents <= 0:
            errors["amount"] = _("Un montant en euros, par exemple 8,53.")
        elif cents > invoice.amount_due_cents:
            errors["amount"] = _(
                "Plus que le reste à payer (%(due)s) : un trop-perçu se règle à part.",
                due=f"{invoice.amount_due_cents / 100:.2f} €".replace(".", ","),
            )
        if problem := _counter_day_problem(values["paid_on"], paid_on):
            errors["paid_on"] = problem
        if values["method"] not in OFFLINE_METHODS:
            errors["method"] = _("Choisissez le mode de paiement dans la liste.")
        if errors or cents is None or paid_on is None:
            return await self._invoice_page(
                ctx, staff, invoice, ledger, values, errors, status_code=400
            )
        return await self._record(
            ctx,
            staff,
            invoice,
            (cents, values["method"], paid_on, values["reference"]),
            "billing.payment_recorded",
            _("Le règlement est enregistré."),
        )

    async def _record(
        self,
        ctx: AccountsContext,
        staff: StaffUser,
        invoice: Invoice,
        entry: tuple[int, str, date, str],
        action: str,
        done: str,
    ) -> Response[Any]:
        """A payment typed at the counter, or a refund (negative ``cents``), on the locked
        invoice: its new state, the audit line (who recorded it is there, not in the
        payment's reference), then back to the invoice saying ``done``."""
        cents, method, day, reference = entry
        ctx.db.add(
            Payment(
                tenant_id=ctx.tenant.id,
                invoice_id=invoice.id,
                amount_cents=cents,
                method=method,
                paid_at=_counter_moment(day),
                reference=reference,
            )
        )
        invoice.paid_cents += cents  # the row is locked: no other change in between
        refresh_status(invoice)
        staff_audit(
            ctx, staff, action, invoice.number, {"amount_cents": abs(cents), "method": method}
        )
        await ctx.db.commit()
        ctx.flash(done, "success")
        return await ctx.redirect(f"/admin/facturation/factures/{invoice.id}")

    @post("/factures/{invoice_id:uuid}/remboursement", name="admin:invoice_refund")
    async def record_refund(
        self, ctx: AccountsContext, invoice_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        """What was paid beyond the invoice's amount, given back: a payment of a negative
        amount, never more than the excess (it shows in the payments export)."""
        opened = await self._counter_form(
            ctx, invoice_id, _("Ce remboursement est déjà enregistré.")
        )
        if isinstance(opened, Response):
            return opened
        staff, invoice, ledger, form = opened
        values = {
            "refund_amount": _text(form, "refund_amount", 20),
            "refunded_on": _text(form, "refunded_on", 20),
            "refund_method": _text(form, "refund_method", 20),
            "refund_reference": _text(form, "refund_reference", 100),
        }
        errors: dict[str, str] = {}
        cents = _cents(values["refund_amount"])
        refunded_on = parse_date(values["refunded_on"], short_year=True)
        if invoice.excess_cents <= 0:
            refunded = await ctx.db.scalar(
                select(func.count())
                .select_from(Payment)
                .where(
                    Payment.tenant_id == ctx.tenant.id,
                    Payment.invoice_id == invoice.id,
                    Payment.amount_cents < 0,
                )
            )
            errors["refund_amount"] = (
                _("Ce trop-perçu est déjà remboursé (voyez les règlements ci-dessus).")
                if refunded
                else _("Rien n'a été payé en trop sur cette facture.")
            )
        elif cents is None or cents <= 0:
            errors["refund_amount"] = _("Un montant en euros, par exemple 8,53.")
        elif cents > invoice.excess_cents:
            errors["refund_amount"] = _(
                "Plus que ce qui a été payé en trop (%(excess)s).",
                excess=f"{invoice.excess_cents / 100:.2f} €".replace(".", ","),
            )
        if problem := _counter_day_problem(values["refunded_on"], refunded_on):
            errors["refunded_on"] = problem
        if values["refund_method"] not in REFUND_METHODS:
            errors["refund_method"] = _("Choisissez le mode de remboursement dans la liste.")
        if errors or cents is None or refunded_on is None:
            return await self._invoice_page(
                ctx, staff, invoice, ledger, values, errors, status_code=400
            )
        return await self._record(
            ctx,
            staff,
            invoice,
            (-cents, values["refund_method"], refunded_on, values["refund_reference"]),
            "billing.refund_recorded",
            _("Le remboursement est enregistré."),
        )

    @post("/factures/{invoice_id:uuid}/annulation", name="admin:invoice_cancel")
    async def cancel(self, ctx: AccountsContext, invoice_id: FromPath[uuid.UUID]) -> Response[Any]:
        """Cancel an invoice nobody has paid any of, by a credit note of its whole amount."""
        staff = await require_staff(ctx, "billing")
        if not isinstance(staff, StaffUser):
            return staff
        invoice, ledger = await self._invoice(ctx, invoice_id, lock=True)
        form = await ctx.request.form()
        values = {"reason": _text(form, "reason", 300)}
        errors: dict[str, str] = {}
        pending = await ctx.db.scalar(
            select(func.count(PaymentTransaction.id)).where(
                PaymentTransaction.tenant_id == ctx.tenant.id,
                PaymentTransaction.invoice_id == invoice.id,
                PaymentTransaction.status == TransactionStatus.PENDING,
            )
        )
        if invoice.status == InvoiceStatus.CANCELLED:
            errors["reason"] = _("Cette facture est déjà annulée.")
        elif invoice.status == InvoiceStatus.DIRECT_DEBIT:
            errors["reason"] = _("Cette facture est réglée par prélèvement : rien à annuler ici.")
        elif pending:
            errors["reason"] = _(
                "Un paiement en ligne est en cours sur cette facture : attendez sa fin (une "
                "heure au plus), puis annulez."
            )
        elif invoice.paid_cents > 0:
            errors["reason"] = _(
                "Une partie est déjà réglée : remboursez-la d'abord, puis annulez le reste."
            )
        elif not values["reason"]:
            errors["reason"] = _("Dites pourquoi, par exemple « erreur de tarif ».")
        if errors:
            return await self._invoice_page(
                ctx, staff, invoice, ledger, values, errors, status_code=400
            )
        if not confirmed(form):
            return await confirm_first(
                ctx,
                staff,
                title=_("Annuler la facture %(number)s ?", number=invoice.number),
                explanation=[
                    _(
                        "La facture %(number)s de %(recipient)s (%(amount)s) sera annulée par "
                        "l'avoir %(credit_note)s, pour ce motif : « %(reason)s ».",
                        number=invoice.number,
                        recipient=invoice.recipient,
                        amount=format_money(invoice.total_cents),
                        credit_note=f"AV-{invoice.number}",
                        reason=values["reason"],
                    ),
                    _("Une annulation ne peut pas être défaite."),
                ],
                action=f"/admin/facturation/factures/{invoice.id}/annulation",
                fields=values,
                button=_("Annuler la facture"),
                back=f"/admin/facturation/factures/{invoice.id}",
            )
        invoice.status = InvoiceStatus.CANCELLED
        invoice.cancelled_at = datetime.now(UTC)
        invoice.cancel_reason = values["reason"]
        invoice.credit_note_number = f"AV-{invoice.number}"
        staff_audit(
            ctx, staff, "billing.invoice_cancelled", invoice.number, {"reason": values["reason"]}
        )
        await ctx.db.commit()
        ctx.flash(
            _("La facture est annulée par l'avoir %(number)s.", number=invoice.credit_note_number),
            "success",
        )
        return await ctx.redirect(f"/admin/facturation/factures/{invoice.id}")

    @get("/factures/{invoice_id:uuid}/pdf", name="admin:invoice_pdf")
    async def invoice_pdf(
        self, ctx: AccountsContext, invoice_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        """The invoice as its citizen downloads it: to reprint a letter a resident has lost."""
        staff = await require_staff(ctx, "billing")
        if not isinstance(staff, StaffUser):
            return staff
        invoice, ledger = await self._invoice(ctx, invoice_id)
        from guichet.billing.pdf import current_invoice_pdf
        from guichet.billing.services import lines_and_payments

        lines, payments = await lines_and_payments(ctx.db, ctx.tenant.id, invoice.id)
        data = await current_invoice_pdf(
            ctx.request.app.state.services, ctx.commit, ctx.tenant, invoice, ledger, lines, payments
        )
        return await ctx.finish(
            download_response(data, "application/pdf", f"facture-{invoice.number}.pdf")
        )

    @get("/factures/{invoice_id:uuid}/avoir", name="admin:credit_note")
    async def credit_note(
        self, ctx: AccountsContext, invoice_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        staff = await require_staff(ctx, "billing")
        if not isinstance(staff, StaffUser):
            return staff
        invoice, ledger = await self._invoice(ctx, invoice_id)
        if not invoice.credit_note_number:
            raise NotFoundException()
        services = ctx.request.app.state.services
        from guichet.billing.pdf import invoice_pdf, tenant_logo

        html = services.renderer.render(
            ctx.tenant.theme,
            "pdf/credit_note.html",
            {
                "tenant": ctx.tenant,
                "invoice": invoice,
                "ledger": ledger,
                "logo": tenant_logo(services.files, ctx.tenant),
                "locale": "fr",
            },
        )
        data = await asyncio.to_thread(invoice_pdf, html)
        return await ctx.finish(
            download_response(data, "application/pdf", f"avoir-{invoice.number}.pdf")
        )

    # -- accounting export ---------------------------------------------------------------------
    @get("/paiements.csv", name="admin:payments_csv")
    async def payments_csv(self, ctx: AccountsContext) -> Response[Any]:
        """Payments between two dates (inclusive), for the accounting software: one line each,
        ; separated, amounts in euros with a comma, UTF-8 with a BOM (opens in a spreadsheet)."""
        staff = await require_staff(ctx, "billing")
        if not isinstance(staff, StaffUser):
            return staff
        today = paris_today()
        asked = {name: _param(ctx, name, 20) for name in ("du", "au")}
        start = parse_date(asked["du"], short_year=True) if asked["du"] else today.replace(day=1)
        end = parse_date(asked["au"], short_year=True) if asked["au"] else today
        errors: dict[str, str] = {}
        for name, day in (("du", start), ("au", end)):
            if name in ctx.request.query_params and not asked[name]:  # the form, left empty
                errors[name] = _("Ce champ est obligatoire.")
            elif day is None or not date(2000, 1, 1) <= day <= date(2100, 12, 31):
                errors[name] = _("Date invalide : écrivez-la comme 21/03/2026.")
        if not errors and start and end and end < start:
            errors["au"] = _("La date de fin doit venir après la date de début.")
        if errors or start is None or end is None:
            return await self._runs_page(
                ctx,
                staff,
                status_code=400,
                export_values=asked,
                export_errors=errors,
            )
        rows = (
            await ctx.db.execute(
                select(Payment, Invoice, Ledger)
                .join(Invoice, Invoice.id == Payment.invoice_id)
                .join(Ledger, Ledger.id == Invoice.ledger_id)
                .where(
                    Payment.tenant_id == ctx.tenant.id,
                    Payment.paid_at >= datetime.combine(start, time.min, tzinfo=PARIS),
                    Payment.paid_at
                    < datetime.combine(end + timedelta(days=1), time.min, tzinfo=PARIS),
                )
                .order_by(Payment.paid_at)
            )
        ).all()
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
        writer.writerow(
            ["date", "regie", "facture", "destinataire", "montant", "mode", "reference"]
        )
        for payment, invoice, ledger in rows:
            writer.writerow(
                [
                    payment.paid_at.astimezone(PARIS).date().isoformat(),
                    _cell(ledger.code),
                    _cell(invoice.number),
                    _cell(invoice.recipient),
                    f"{payment.amount_cents / 100:.2f}".replace(".", ","),
                    EXPORTED_METHODS.get(payment.method, payment.method),
                    _cell(payment.reference),
                ]
            )
        staff_audit(
            ctx, staff, "billing.payments_exported", f"{start.isoformat()}..{end.isoformat()}"
        )
        await ctx.db.commit()
        return await ctx.finish(
            download_response(
                ("\ufeff" + buffer.getvalue()).encode(),
                "text/csv",  # Litestar adds « ; charset=utf-8 »
                f"paiements-{start.isoformat()}-{end.isoformat()}.csv",
            )
        )

    # -- ledgers and payment backends ----------------------------------------------------------
    async def _ledger(self, ctx: AccountsContext, code: str) -> Ledger:
        ledger = await ctx.db.scalar(
            select(Ledger).where(Ledger.tenant_id == ctx.tenant.id, Ledger.code == code[:50])
        )
        if ledger is None:
            raise NotFoundException()
        return ledger

    def _backends(self, ctx: AccountsContext) -> list[tuple[str, str]]:
        choices = [(k, _(BANK_CHOICES[k])) for k in sorted(REAL_BACKENDS)]
        if not ctx.accounts.settings.is_production:
            choices.insert(0, ("sandbox", _(BANK_CHOICES["sandbox"])))
        return choices

    async def _ledger_page(
        self,
        ctx: AccountsContext,
        staff: StaffUser,
        ledger: Ledger,
        values: dict[str, Any],
        errors: dict[str, str],
        status_code: int = 200,
        test: tuple[bool, str] | None = None,
    ) -> Response[Any]:
        stored, readable = _stored_options(ctx.accounts.settings.web.secret_keys, ledger)
        return await staff_page(
            ctx,
            "admin/ledger.html",
            staff,
            status_code=status_code,
            ledger=ledger,
            values=values,
            errors=errors,
            backends=self._backends(ctx),
            parameters={kind: backend_parameters(kind) for kind in REAL_BACKENDS},
            bank_names={kind: _(BANK_CHOICES[kind]) for kind in REAL_BACKENDS},
            stored=set(stored),
            unreadable=not readable,
            test=test,
            page_title=ledger.name,
        )

    @get("/regies/{code:str}", name="admin:ledger")
    async def ledger(self, ctx: AccountsContext, code: FromPath[str]) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        ledger = await self._ledger(ctx, code)
        return await self._ledger_page(ctx, staff, ledger, ledger_values(ledger), {})

    @post("/regies/{code:str}", name="admin:ledger_post")
    async def ledger_post(self, ctx: AccountsContext, code: FromPath[str]) -> Response[Any]:
        """The ledger's settings and its bank's options: a secret is never shown back; an empty
        field keeps what is stored."""
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        ledger = await self._ledger(ctx, code)
        form = await ctx.request.form()
        values: dict[str, Any] = {
            "name": _text(form, "name", 200),
            "merchant_label": _text(form, "merchant_label", 100),
            "cheque_payee": _text(form, "cheque_payee", 200),
            "backend": _text(form, "backend", 30),
            "online_payment": form.get("online_payment") == "oui",
            "min_amount": _text(form, "min_amount", 12),
            "max_amount": _text(form, "max_amount", 12),
        }
        errors: dict[str, str] = {}
        if not values["name"]:
            errors["name"] = _("Ce champ est obligatoire.")
        if values["backend"] not in dict(self._backends(ctx)):
            errors["backend"] = _("Choisissez la banque dans la liste.")
        low, high = _cents(values["min_amount"]), _cents(values["max_amount"])
        if low is None:
            errors["min_amount"] = _("Un montant en euros, par exemple 8,53.")
        if high is None:
            errors["max_amount"] = _("Un montant en euros, par exemple 8,53.")
        elif low is not None and high < low:
            errors["max_amount"] = _("Le maximum doit être au moins le minimum.")
        given = {}
        if values["backend"] in REAL_BACKENDS:
            for name, _label, _secret in backend_parameters(values["backend"]):
                value = _text(form, f"option-{values['backend']}-{name}", 500)
                if value:
                    given[name] = value
        if errors:
            return await self._ledger_page(ctx, staff, ledger, values, errors, status_code=400)
        settings = ctx.accounts.settings
        options = (
            _stored_options(settings.web.secret_keys, ledger)[0]
            if values["backend"] == ledger.backend
            else {}
        )
        options.update(given)
        ledger.name, ledger.merchant_label = values["name"], values["merchant_label"]
        ledger.cheque_payee = values["cheque_payee"]
        ledger.backend, ledger.online_payment = values["backend"], values["online_payment"]
        ledger.min_amount_cents, ledger.max_amount_cents = int(low or 0), int(high or 0)
        ledger.backend_options = encrypt_options(settings.web.secret_key, options)
        staff_audit(
            ctx,
            staff,
            "billing.ledger_changed",
            ledger.code,
            {"backend": ledger.backend, "options_changed": sorted(given)},  # names, never values
        )
        await ctx.db.commit()
        ctx.flash(_("La régie est enregistrée."), "success")
        return await ctx.redirect(f"/admin/facturation/regies/{ledger.code}")

    @post("/regies/{code:str}/test", name="admin:ledger_test")
    async def ledger_test(self, ctx: AccountsContext, code: FromPath[str]) -> Response[Any]:
        """Build a real 1 € payment request with the stored options (signing, and for PayFiP
        the bank's web service): what the bank would refuse shows here, not to a citizen."""
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        ledger = await self._ledger(ctx, code)
        base = f"{ctx.accounts.settings.web.public_url}/{ctx.tenant.slug}"
        try:
            backend = backend_for(
                ledger,
                ctx.accounts.settings,
                f"{base}/mon-espace/factures/retour",
                f"{base}/paiement/notification/{ledger.code}",
            )
            await asyncio.wait_for(
                asyncio.to_thread(
                    backend.request, Decimal("1.00"), email="test@exemple.fr", orderid="TEST"
                ),
                timeout=15,
            )
            result = (
                True,
                _("La banque accepte la configuration (demande de paiement de test construite)."),
            )
        except Exception as exc:  # the bank's library raises many kinds
            result = (
                False,
                _(
                    "La configuration ne fonctionne pas : %(error)s",
                    error=type(exc).__name__,  # its text may quote an option
                ),
            )
        staff_audit(ctx, staff, "billing.ledger_tested", ledger.code, {"ok": result[0]})
        await ctx.db.commit()
        return await self._ledger_page(ctx, staff, ledger, ledger_values(ledger), {}, test=result)

    # -- API tokens ----------------------------------------------------------------------------
    async def _tokens_page(
        self,
        ctx: AccountsContext,
        staff: StaffUser,
        fresh: str = "",
        status_code: int = 200,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
    ) -> Response[Any]:
        tokens = list(
            (
                await ctx.db.execute(
                    select(ApiToken)
                    .where(ApiToken.tenant_id == ctx.tenant.id)
                    .order_by(ApiToken.created_at.desc())
                )
            ).scalars()
        )
        return await staff_page(
            ctx,
            "admin/tokens.html",
            staff,
            status_code=status_code,
            tokens=tokens,
            fresh=fresh,
            errors=errors or {},
            values=values or {},
            # the form's own id: sent again by a refresh, it creates no second token
            form_id=secrets.token_urlsafe(16),
            page_title=_("Jetons d'API"),
        )

    @get("/jetons", name="admin:tokens")
    async def tokens(self, ctx: AccountsContext) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        return await self._tokens_page(ctx, staff)

    @post("/jetons", name="admin:tokens_post")
    async def tokens_post(self, ctx: AccountsContext) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        form = await ctx.request.form()
        name = _text(form, "token_name", 100)
        form_id = _text(form, "form_id", 40)
        if not name:
            return await self._tokens_page(
                ctx,
                staff,
                status_code=400,
                errors={"token_name": _("Ce champ est obligatoire.")},
                values={"token_name": name},
            )
        used = list(ctx.session.get("token_forms") or [])
        if form_id and form_id in used:  # sent again after its answer (a refresh, Back)
            ctx.flash(
                _(
                    "Ce jeton est déjà créé et n'est plus affiché. Si vous ne l'avez pas copié, "
                    "révoquez-le et créez-en un autre."
                ),
                "warning",
            )
            return await ctx.redirect("/admin/facturation/jetons")
        token = await create_token(ctx.db, ctx.tenant.id, name)
        staff_audit(ctx, staff, "api_token.created", name)
        await ctx.db.commit()
        if form_id:
            ctx.session.set("token_forms", [*used, form_id][-20:])
        # shown on this answer only: never stored in clear, never in the session
        return await self._tokens_page(ctx, staff, fresh=token)

    @post("/jetons/{token_id:uuid}/revoquer", name="admin:token_revoke")
    async def revoke(self, ctx: AccountsContext, token_id: FromPath[uuid.UUID]) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        token = await ctx.db.scalar(
            select(ApiToken).where(ApiToken.tenant_id == ctx.tenant.id, ApiToken.id == token_id)
        )
        if token is None:
            raise NotFoundException()
        if token.revoked_at is None and not confirmed(await ctx.request.form()):
            return await confirm_first(
                ctx,
                staff,
                title=_("Révoquer le jeton « %(name)s » ?", name=token.name),
                explanation=[
                    _(
                        "Le logiciel qui utilise ce jeton ne pourra plus envoyer de factures au "
                        "portail. Une révocation ne peut pas être défaite : il faudra créer un "
                        "nouveau jeton et le donner à ce logiciel."
                    )
                ],
                action=f"/admin/facturation/jetons/{token.id}/revoquer",
                button=_("Révoquer le jeton"),
                back="/admin/facturation/jetons",
            )
        if token.revoked_at is None:
            token.revoked_at = datetime.now(UTC)
            staff_audit(ctx, staff, "api_token.revoked", token.name)
            await ctx.db.commit()
        ctx.flash(_("Le jeton « %(name)s » est révoqué.", name=token.name), "success")
        return await ctx.redirect("/admin/facturation/jetons")
