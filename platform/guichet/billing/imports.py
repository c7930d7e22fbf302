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
    ServiceAccount,
    clean_postal_address,
    file_mailing_address,
    postal_address_problem,
)
from guichet.billing.models import ApiToken, Invoice, InvoiceLine, InvoiceStatus, Ledger
from guichet.tenancy.models import Service

__all__ = ["ImportReport", "create_token", "import_invoices", "parse_csv", "verify_token"]

MAX_INVOICES = 5000
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
            if quantity is None or not 0 < quantity <= 10_000:
                fail(f"lines[{position}].quantity", "a whole number from 1 to 10000")
                continue
            unit = (
                _cents(line.get("unit_cents"), in_cents=True)
                if "unit_cents" in line
                else _cents(line.get("unit_price"))
            )
            if unit is None or not 0 <= unit <= 10_000_000:
                fail(f"lines[{position}].unit_price", "an amount such as 8,53 (two decimals)")
                continue
            clean_lines.append((str(line["label"]).strip()[:300], quantity, unit))
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


def parse_csv(data: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows (``;`` or ``,`` separated, UTF-8) grouped into invoices by number; a line per row."""
    text = data.decode("utf-8-sig")
    dialect = csv.Sniffer().sniff(text.splitlines()[0] if text else "a;b", delimiters=";,")
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    problems: list[dict[str, Any]] = []
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        return [], [
            {
                "index": None,
                "number": "",
                "field": "(header)",
                "message": "missing columns: " + ", ".join(missing),
            }
        ]
    invoices: dict[tuple[str, str], dict[str, Any]] = {}
    for row in reader:
        key = (row["ledger"].strip(), row["number"].strip())
        invoice = invoices.setdefault(
            key,
            {
                "ledger": key[0],
                "number": key[1],
                "service": row["service"],
                "reference": row["reference"],
                "label": row["label"],
                "issue_date": row["issue_date"],
                "due_date": row["due_date"],
                "recipient_address": row.get("recipient_address") or "",
                "lines": [],
            },
        )
        invoice["lines"].append(
            {
                "label": row["line_label"],
                "quantity": row["quantity"],
                "unit_price": row["unit_price"],
            }
        )
    return list(invoices.values()), problems
