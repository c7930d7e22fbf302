"""Invoices pushed by the tenant's billing software: JSON (the API) or CSV (a file), validated
line by line with a report, idempotent on (ledger, number).

An invoice already imported with the same content is "unchanged"; the same number with another
content is refused (a published invoice is corrected by the billing software with a new number
or a credit note, never rewritten in place).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.accounts.models import (
    MAX_ADDRESS_CHARS,
    MAX_ADDRESS_LINES,
    ServiceAccount,
    clean_postal_address,
    file_mailing_address,
    postal_address_problem,
)
from guichet.billing.models import ApiToken, Invoice, InvoiceLine, InvoiceStatus, Ledger
from guichet.i18n import N_
from guichet.i18n import gettext as _
from guichet.tenancy.models import Service

__all__ = [
    "CSV_COLUMNS",
    "ImportReport",
    "create_token",
    "csv_position",
    "french_problem",
    "import_invoices",
    "parse_csv",
    "verify_token",
]

MAX_INVOICES = 5000
NOTHING_TO_PAY = "a total of 0: nothing to pay"
NOT_THE_FIRST_ROW = "not the same as on this invoice's first line: one number is one invoice"
_NUMBER = re.compile(r"^[A-Za-z0-9-]{1,30}$")
_DIGITS = re.compile(r"[0-9]{1,9}")  # ASCII digits only ("²".isdigit() is true)
_EUROS = re.compile(r"-?[0-9]{1,9}([.,][0-9]{1,2})?")  # 10.019 is refused, never truncated


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(session: AsyncSession, tenant_id: uuid.UUID, name: str) -> str:
    """A new API token, shown once; only its digest is kept."""
    token = "gch_" + secrets.token_urlsafe(32)
    session.add(ApiToken(tenant_id=tenant_id, name=name[:100], token_digest=_digest(token)))
    await session.flush()
    return token


async def verify_token(session: AsyncSession, tenant_id: uuid.UUID, token: str) -> bool:
    row = (
        await session.execute(
            select(ApiToken).where(
                ApiToken.tenant_id == tenant_id,
                ApiToken.token_digest == _digest(token),
                ApiToken.revoked_at.is_(None),
            )
        )
    ).scalar_one_or_none()
    if row is None:
        return False
    row.last_used_at = datetime.now(UTC)
    return True


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": len(self.created),
            "unchanged": len(self.unchanged),
            "created_numbers": self.created,
            "errors": self.errors,
        }


def _date(value: Any) -> date | None:
    text = str(value or "").strip()
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def _datetime(value: Any) -> datetime | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _whole(value: Any) -> int | None:
    """A JSON whole number: 3, or 3.0 (JSON Schema's integers include it); never a boolean."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value if isinstance(value, int) else None


def _cents(value: Any, *, in_cents: bool = False) -> int | None:
    """A price in euros written 8,53 / 8.53 / 8 (``unit_price``), or a whole number of cents
    (``unit_cents``: 853); None when it is not one."""
    if isinstance(value, bool):
        return None
    if in_cents:
        if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
            return int(value.strip())
        return _whole(value)
    text = (
        ("" if value is None else str(value))
        .strip()
        .replace("\u00a0", "")
        .replace(" ", "")
        .replace("€", "")
    )
    if not _EUROS.fullmatch(text):
        return None  # no exponent, infinity or NaN: a plain amount
    amount = Decimal(text.replace(",", "."))
    return int(amount * 100)


def _validate(index: int, raw: Any, report: ImportReport) -> dict[str, Any] | None:
    def fail(name: str, message: str) -> None:
        report.errors.append(
            {
                "index": index,
                "number": str(raw.get("number", "")) if isinstance(raw, dict) else "",
                "field": name,
                "message": message,
            }
        )

    if not isinstance(raw, dict):
        fail("(invoice)", "an object is expected")
        return None
    before = len(report.errors)
    number = str(raw.get("number", "")).strip()
    if not _NUMBER.match(number):
        fail("number", "1 to 30 letters, digits or hyphens")
    for name in ("ledger", "service", "reference", "label"):
        if not str(raw.get(name, "")).strip():
            fail(name, "required")
    issue, due = _date(raw.get("issue_date")), _date(raw.get("due_date"))
    if issue is None:
        fail("issue_date", "a date written YYYY-MM-DD or DD/MM/YYYY")
    if due is None:
        fail("due_date", "a date written YYYY-MM-DD or DD/MM/YYYY")
    if issue and due and due < issue:
        fail("due_date", "before the issue date")
    pay_from, pay_until = _datetime(raw.get("pay_from")), _datetime(raw.get("pay_until"))
    for name, parsed in (("pay_from", pay_from), ("pay_until", pay_until)):
        if raw.get(name) and parsed is None:
            fail(name, "a date and time written YYYY-MM-DDTHH:MM")
    address = raw.get("recipient_address", "")
    if not isinstance(address, str) or len(address) > MAX_ADDRESS_CHARS:
        fail("recipient_address", f"text of at most {MAX_ADDRESS_CHARS} characters")
        address = ""
    elif problem := postal_address_problem(clean_postal_address(address)):
        fail("recipient_address", problem)
    lines = raw.get("lines")
    clean_lines = []
    if not isinstance(lines, list) or not lines or len(lines) > 200:
        fail("lines", "a list of 1 to 200 lines")
    else:
        for position, line in enumerate(lines, start=1):
            if not isinstance(line, dict) or not str(line.get("label", "")).strip():
                fail(f"lines[{position}].label", "required")
                continue
            quantity = line.get("quantity", 1)
            if isinstance(quantity, str) and _DIGITS.fullmatch(quantity.strip()):
                quantity = int(quantity)
            quantity = _whole(quantity)
            unit = (
                _cents(line.get("unit_cents"), in_cents=True)
                if "unit_cents" in line
                else _cents(line.get("unit_price"))
            )
            # both said at once: a line with two mistakes used to show the second only once
            # the first was corrected
            if quantity is None or not 0 < quantity <= 10_000:
                fail(f"lines[{position}].quantity", "a whole number from 1 to 10000")
            if unit is None or not 0 <= unit <= 10_000_000:
                fail(f"lines[{position}].unit_price", "an amount such as 8,53 (two decimals)")
            if quantity is None or unit is None or len(report.errors) > before:
                continue
            clean_lines.append((str(line["label"]).strip()[:300], quantity, unit))
        if (
            clean_lines
            and len(clean_lines) == len(lines)
            and not any(q * u for _, q, u in clean_lines)
        ):
            fail("lines", NOTHING_TO_PAY)
    if len(report.errors) > before:
        return None
    return {
        "number": number,
        "ledger": str(raw["ledger"]).strip(),
        "service": str(raw["service"]).strip(),
        "reference": str(raw["reference"]).strip(),
        "label": str(raw["label"]).strip()[:200],
        "issue_date": issue,
        "due_date": due,
        "pay_from": pay_from,
        "pay_until": pay_until,
        "lines": clean_lines,
        "direct_debit": bool(raw.get("direct_debit", False)),
        "recipient": str(raw.get("recipient", "")).strip()[:200],
        "recipient_address": clean_postal_address(address),
    }


async def import_invoices(
    session: AsyncSession, tenant_id: uuid.UUID, payloads: list[Any]
) -> ImportReport:
    """Validate every invoice, then create the valid ones; one transaction per import."""
    report = ImportReport()
    if len(payloads) > MAX_INVOICES:
        report.errors.append(
            {
                "index": None,
                "number": "",
                "field": "invoices",
                "message": f"at most {MAX_INVOICES} invoices per import",
            }
        )
        return report
    ledgers = {
        lg.code: lg
        for lg in (
            await session.execute(select(Ledger).where(Ledger.tenant_id == tenant_id))
        ).scalars()
    }
    seen: set[tuple[str, str]] = set()
    services = set(
        (
            await session.execute(select(Service.code).where(Service.tenant_id == tenant_id))
        ).scalars()
    )
    for index, raw in enumerate(payloads):
        clean = _validate(index, raw, report)
        if clean is None:
            continue
        ledger = ledgers.get(clean["ledger"])
        if ledger is None:
            report.errors.append(
                {
                    "index": index,
                    "number": clean["number"],
                    "field": "ledger",
                    "message": "no such ledger",
                }
            )
            continue
        key = (clean["ledger"], clean["number"])
        if key in seen:
            report.errors.append(
                {
                    "index": index,
                    "number": clean["number"],
                    "field": "number",
                    "message": "twice in this import",
                }
            )
            continue
        seen.add(key)
        if clean["service"] not in services:
            report.errors.append(
                {
                    "index": index,
                    "number": clean["number"],
                    "field": "service",
                    "message": "no such service",
                }
            )
            continue
        account = (
            await session.execute(
                select(ServiceAccount)
                .join(Service, Service.id == ServiceAccount.service_id)
                .where(
                    ServiceAccount.tenant_id == tenant_id,
                    Service.code == clean["service"],
                    ServiceAccount.reference == clean["reference"],
                )
            )
        ).scalar_one_or_none()
        if account is None:
            report.errors.append(
                {
                    "index": index,
                    "number": clean["number"],
                    "field": "reference",
                    "message": "no file with this reference in this service",
                }
            )
            continue
        total = sum(q * u for _label, q, u in clean["lines"])
        existing = (
            await session.execute(
                select(Invoice).where(
                    Invoice.tenant_id == tenant_id,
                    Invoice.ledger_id == ledger.id,
                    Invoice.number == clean["number"],
                )
            )
        ).scalar_one_or_none()
        if existing is not None:
            lines = [
                (line.label, line.quantity, line.unit_cents)
                for line in (
                    await session.execute(
                        select(InvoiceLine)
                        .where(
                            InvoiceLine.tenant_id == tenant_id,
                            InvoiceLine.invoice_id == existing.id,
                        )
                        .order_by(InvoiceLine.position)
                    )
                ).scalars()
            ]
            same = (
                existing.service_account_id == account.id
                and existing.total_cents == total
                and existing.label == clean["label"]
                and lines == clean["lines"]
                and existing.issue_date == clean["issue_date"]
                and existing.due_date == clean["due_date"]
            )
            if same:
                report.unchanged.append(clean["number"])
            else:
                report.errors.append(
                    {
                        "index": index,
                        "number": clean["number"],
                        "field": "number",
                        "message": "already imported with "
                        "another content: use a new number or a credit note",
                    }
                )
            continue
        invoice = Invoice(
            tenant_id=tenant_id,
            ledger_id=ledger.id,
            service_account_id=account.id,
            number=clean["number"],
            label=clean["label"],
            recipient=clean["recipient"] or account.holder_name,
            recipient_address=clean["recipient_address"]
            or await file_mailing_address(session, account),
            issue_date=clean["issue_date"],
            due_date=clean["due_date"],
            pay_from=clean["pay_from"],
            pay_until=clean["pay_until"],
            total_cents=total,
            status=InvoiceStatus.DIRECT_DEBIT if clean["direct_debit"] else InvoiceStatus.UNPAID,
        )
        session.add(invoice)
        await session.flush()
        for position, (label, quantity, unit) in enumerate(clean["lines"], start=1):
            session.add(
                InvoiceLine(
                    tenant_id=tenant_id,
                    invoice_id=invoice.id,
                    position=position,
                    label=label,
                    quantity=quantity,
                    unit_cents=unit,
                    amount_cents=quantity * unit,
                )
            )
        report.created.append(clean["number"])
    await session.flush()
    return report


# The report's words in French (translated) for the staff's page; the API keeps the English.
FRENCH_MESSAGES = {
    "an object is expected": N_("la facture n'est pas lisible"),
    "1 to 30 letters, digits or hyphens": N_("1 à 30 lettres, chiffres ou tirets"),
    "required": N_("à remplir"),
    "a date written YYYY-MM-DD or DD/MM/YYYY": N_("une date comme 17/12/2019"),
    "before the issue date": N_("avant la date de la facture"),
    "a date and time written YYYY-MM-DDTHH:MM": N_("une date et une heure comme 2020-01-31T18:00"),
    f"text of at most {MAX_ADDRESS_CHARS} characters": N_("300 caractères au plus"),
    f"at most {MAX_ADDRESS_LINES} lines and {MAX_ADDRESS_CHARS} characters": N_(
        "5 lignes et 300 caractères au plus"
    ),
    "a list of 1 to 200 lines": N_("de 1 à 200 lignes par facture"),
    "a whole number from 1 to 10000": N_("un nombre entier de 1 à 10 000"),
    "an amount such as 8,53 (two decimals)": N_("un montant comme 8,53"),
    f"at most {MAX_INVOICES} invoices per import": N_("5 000 factures au plus par fichier"),
    "no such ledger": N_("aucune régie n'a ce code"),
    "no such service": N_("aucun service n'a ce code"),
    NOTHING_TO_PAY: N_(
        "un total de 0 € : une facture sans rien à régler n'irait qu'inquiéter l'habitant"
    ),
    NOT_THE_FIRST_ROW: N_(
        "ne correspond pas à la première ligne de cette facture : un numéro, une facture"
    ),
    "twice in this import": N_("ce numéro est deux fois dans l'envoi"),
    "no file with this reference in this service": N_("aucun dossier de ce numéro dans ce service"),
    "already imported with another content: use a new number or a credit note": N_(
        "déjà importée avec un autre contenu : donnez un nouveau numéro ou faites un avoir"
    ),
}
# The fields as the CSV's columns are called on the staff's page.
FRENCH_FIELDS = {
    "(invoice)": N_("facture"),
    "invoices": N_("fichier"),
    "number": N_("numéro"),
    "ledger": N_("régie"),
    "service": N_("service"),
    "reference": N_("dossier"),
    "label": N_("libellé de la facture"),
    "invoice_label": N_("libellé de la facture"),
    "issue_date": N_("date de la facture"),
    "due_date": N_("à régler avant le"),
    "recipient_address": N_("adresse"),
    "lines": N_("lignes"),
    "line_label": N_("libellé de la ligne"),
    "quantity": N_("quantité"),
    "unit_price": N_("prix unitaire"),
}
_LINE_FIELD = re.compile(r"lines\[(\d+)\]\.(\w+)")


def csv_position(rows: list[int], field_name: str) -> tuple[int | None, str]:
    """The CSV line and column of an error on an invoice made of the file's ``rows``: a line's
    field (``lines[2].quantity``) is on that line's own row, the invoice's on its first."""
    match = _LINE_FIELD.fullmatch(field_name)
    if match:
        position, name = int(match.group(1)), match.group(2)
        row = rows[position - 1] if 0 < position <= len(rows) else (rows[0] if rows else None)
        return row, "line_label" if name == "label" else name
    return (rows[0] if rows else None), field_name


def french_problem(field_name: str, message: str) -> str:
    """« quantité : un nombre entier de 1 à 10 000 », for a field named by ``csv_position``."""
    label = FRENCH_FIELDS.get(field_name)
    words = FRENCH_MESSAGES.get(message)
    return f"{_(label) if label else field_name} : {_(words) if words else message}"


CSV_COLUMNS = (
    "ledger",
    "number",
    "service",
    "reference",
    "label",
    "issue_date",
    "due_date",
    "line_label",
    "quantity",
    "unit_price",
)


# the columns each row of an invoice repeats, and must repeat alike
_INVOICE_COLUMNS = ("service", "reference", "label", "issue_date", "due_date", "recipient_address")
_ROW_FIELDS = {"label": "invoice_label"}  # a row's own « label » is its line's (line_label)


def parse_csv(
    data: bytes,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[list[int]]]:
    """Rows (``;`` or ``,`` separated; UTF-8, or a spreadsheet's Windows encoding) grouped into
    invoices by number, a line per row; with each invoice's lines of the file (from 1, the
    header's included), for the report. Empty lines are skipped. The problems are the file's
    (``index`` None: not a CSV, a missing column) or, with the invoice's ``index``, a row that
    does not repeat its invoice's file, label or dates."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # a spreadsheet's "CSV (Windows)"
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)

    def problem(field_name: str, message: str) -> dict[str, Any]:
        return {"index": None, "number": "", "field": field_name, "message": message}

    try:
        fieldnames = [name.strip().lower() for name in reader.fieldnames or []]
    except csv.Error as exc:
        return [], [problem("(file)", f"not a CSV file: {exc}")], []
    reader.fieldnames = fieldnames
    missing = [c for c in CSV_COLUMNS if c not in fieldnames]
    if missing:
        return [], [problem("(header)", "missing columns: " + ", ".join(missing))], []
    invoices: dict[tuple[str, str], dict[str, Any]] = {}
    rows_of: dict[tuple[str, str], list[int]] = {}
    disagreements: list[dict[str, Any]] = []
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:  # an unclosed quote, a line too long
        return [], [problem("(file)", f"not a CSV file: {exc}")], []
    for line, raw in rows:
        row = {name: (value or "") for name, value in raw.items() if isinstance(name, str)}
        if not any(value.strip() for value in row.values()):
            continue
        key = (row["ledger"].strip(), row["number"].strip())
        rows_of.setdefault(key, []).append(line)
        shared = {name: row.get(name) or "" for name in _INVOICE_COLUMNS}
        if key not in invoices:
            invoices[key] = {"ledger": key[0], "number": key[1], **shared, "lines": []}
        invoice = invoices[key]
        # The rows of one number are one invoice: the same file, label and dates on each. Two
        # households' rows under one number were merged into the first one's invoice.
        for name in _INVOICE_COLUMNS:
            if shared[name].strip() != str(invoice[name]).strip():
                disagreements.append(
                    {
                        "index": list(invoices).index(key),  # disagreements are rare
                        "number": key[1],
                        "field": f"lines[{len(invoice['lines']) + 1}]."
                        + _ROW_FIELDS.get(name, name),
                        "message": NOT_THE_FIRST_ROW,
                    }
                )
        invoice["lines"].append(
            {
                "label": row["line_label"],
                "quantity": row["quantity"],
                "unit_price": row["unit_price"],
            }
        )
    return list(invoices.values()), disagreements, [rows_of[key] for key in invoices]
