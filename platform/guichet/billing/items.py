"""Billable items (« prestations ») sent by the services' own software — a meal delivered on
3 February 2020 to file AS-2020-0413 — waiting for their month's billing run: JSON (``POST
/api/v1/{tenant}/billable-items``) or CSV (uploaded in Facturation, or ``guichet billing
import-items``), checked line by line with a report.

An item is known by its ledger, file, date and label. Sent again, it is unchanged; sent again
with another quantity or price before its month is invoiced, it is updated (the software's last
word counts); once invoiced it no longer changes (an invoice is corrected by a credit note).
Nothing is taken from an import that has an error: the report says which lines to correct, and
the same file is sent again.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.accounts.models import ServiceAccount
from guichet.billing.imports import _cents, _date, _whole
from guichet.billing.models import BillableItem, Ledger
from guichet.i18n import N_
from guichet.i18n import gettext as _
from guichet.tenancy.models import Service

__all__ = [
    "ITEM_CSV_COLUMNS",
    "MAX_ITEMS",
    "PROBLEMS",
    "ItemsReport",
    "Problem",
    "import_items",
    "parse_items_csv",
]

MAX_ITEMS = 20_000
ITEM_CSV_COLUMNS = ("ledger", "service", "reference", "date", "label", "quantity", "unit_price")
_TEXT_LIMITS = {"ledger": 50, "service": 50, "reference": 50, "label": 300}


# Each problem's words: in English for the API, in French (translated) for the staff's page.
PROBLEMS = {
    "object": ("an object is expected", N_("la ligne n'est pas lisible")),
    "required": ("required", N_("à remplir")),
    "too_long": ("at most {limit} characters", N_("%(limit)s caractères au plus")),
    "date": ("a date written YYYY-MM-DD or DD/MM/YYYY", N_("une date comme 03/02/2020")),
    "year": ("a year from 2000 to 2099", N_("une année de 2000 à 2099")),
    "quantity": ("a whole number from 1 to 10000", N_("un nombre entier de 1 à 10 000")),
    "price": ("an amount such as 8,53 (two decimals)", N_("un montant comme 8,53")),
    "ledger": ("no such ledger", N_("aucune régie n'a ce code")),
    "file": (
        "no file with this reference in this service",
        N_("aucun dossier de ce numéro dans ce service"),
    ),
    "twice": (
        "the same file, date and label as item {other}: give the quantity on one line",
        N_("même dossier, date et libellé que la ligne %(other)s : une ligne avec la quantité"),
    ),
    "invoiced": (
        "already invoiced with another quantity or price: correct the invoice with a credit note",
        N_("déjà facturée avec une autre quantité ou un autre prix : corrigez par un avoir"),
    ),
    "too_many": (f"at most {MAX_ITEMS} items per import", N_("20 000 lignes au plus par fichier")),
}


@dataclass(frozen=True)
class Problem:
    index: int | None  # the item's position in the import, from 0
    field: str
    code: str  # a key of PROBLEMS
    params: tuple[tuple[str, Any], ...] = ()

    def words(self, french: bool = False, line_of: Callable[[int], int] | None = None) -> str:
        """What is wrong, for the API (English) or the staff's page (French, translated);
        another item is named by its line of the file with ``line_of``."""
        params = dict(self.params)
        if line_of is not None and "other" in params:
            params["other"] = line_of(params["other"])
        english, french_msgid = PROBLEMS[self.code]
        if french:
            return _(french_msgid, **params)
        return english.replace(
            "item {other}", "line {other}" if line_of else "item {other}"
        ).format(**params)


@dataclass
class ItemsReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [{"index": p.index, "field": p.field, "message": p.words()} for p in self.problems]

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": self.errors,
        }


@dataclass(frozen=True)
class _Item:
    index: int
    ledger: str
    service: str
    reference: str
    service_date: date
    label: str
    quantity: int
    unit_cents: int


def _validate(index: int, raw: Any, report: ItemsReport) -> _Item | None:
    def fail(name: str, code: str, **params: Any) -> None:
        report.problems.append(Problem(index, name, code, tuple(params.items())))

    if not isinstance(raw, dict):
        fail("(item)", "object")
        return None
    before = len(report.problems)
    texts: dict[str, str] = {}
    for name, limit in _TEXT_LIMITS.items():
        value = raw.get(name, "")
        text = value.strip() if isinstance(value, str) else ""
        if not text:
            fail(name, "required")
        elif len(text) > limit:
            fail(name, "too_long", limit=limit)
        texts[name] = text
    service_date = _date(raw.get("date"))
    if service_date is None:
        fail("date", "date")
    elif not 2000 <= service_date.year <= 2099:
        fail("date", "year")
    quantity: Any = raw.get("quantity", 1)
    if isinstance(quantity, str) and quantity.strip().isascii() and quantity.strip().isdigit():
        quantity = int(quantity.strip())
    quantity = _whole(quantity)
    if quantity is None or not 0 < quantity <= 10_000:
        fail("quantity", "quantity")
    unit = (
        _cents(raw.get("unit_cents"), in_cents=True)
        if "unit_cents" in raw
        else _cents(raw.get("unit_price"))
    )
    if unit is None or not 0 <= unit <= 10_000_000:
        fail("unit_price", "price")
    if len(report.problems) > before or service_date is None or quantity is None or unit is None:
        return None
    return _Item(
        index,
        texts["ledger"],
        texts["service"],
        texts["reference"],
        service_date,
        texts["label"],
        quantity,
        unit,
    )


async def import_items(
    session: AsyncSession, tenant_id: uuid.UUID, payloads: list[Any]
) -> ItemsReport:
    """Check every item, then, when none has an error, create or update them (one
    transaction: the caller commits)."""
    report = ItemsReport()
    if len(payloads) > MAX_ITEMS:
        report.problems.append(Problem(None, "items", "too_many"))
        return report
    items = [item for i, raw in enumerate(payloads) if (item := _validate(i, raw, report))]
    ledgers = {
        ledger.code: ledger.id
        for ledger in (
            await session.execute(select(Ledger).where(Ledger.tenant_id == tenant_id))
        ).scalars()
    }
    services = {item.service for item in items}
    files: dict[tuple[str, str], uuid.UUID] = {}
    if services:
        rows = await session.execute(
            select(Service.code, ServiceAccount.reference, ServiceAccount.id)
            .join(Service, Service.id == ServiceAccount.service_id)
            .where(ServiceAccount.tenant_id == tenant_id, Service.code.in_(services))
        )
        files = {(code, reference): account_id for code, reference, account_id in rows}
    keyed: dict[tuple[uuid.UUID, uuid.UUID, date, str], _Item] = {}
    for item in items:
        ledger_id = ledgers.get(item.ledger)
        account_id = files.get((item.service, item.reference))
        if ledger_id is None:
            report.problems.append(Problem(item.index, "ledger", "ledger"))
            continue
        if account_id is None:
            report.problems.append(Problem(item.index, "reference", "file"))
            continue
        key = (ledger_id, account_id, item.service_date, item.label)
        if key in keyed:
            other = (("other", keyed[key].index),)
            report.problems.append(Problem(item.index, "label", "twice", other))
            continue
        keyed[key] = item
    existing: dict[tuple[uuid.UUID, uuid.UUID, date, str], BillableItem] = {}
    for ledger_id, period in {(k[0], k[2].strftime("%Y-%m")) for k in keyed}:
        for stored in (
            await session.execute(
                select(BillableItem).where(
                    BillableItem.tenant_id == tenant_id,
                    BillableItem.ledger_id == ledger_id,
                    BillableItem.period == period,
                )
            )
        ).scalars():
            key = (stored.ledger_id, stored.service_account_id, stored.service_date, stored.label)
            existing[key] = stored
    changes: list[tuple[BillableItem | None, tuple[Any, ...], _Item]] = []
    for key, item in keyed.items():
        row = existing.get(key)
        if row is not None and (row.quantity, row.unit_cents) == (item.quantity, item.unit_cents):
            report.unchanged += 1
        elif row is not None and row.invoice_id is not None:
            report.problems.append(Problem(item.index, "quantity", "invoiced"))
        else:
            changes.append((row, key, item))
    if report.problems:  # nothing taken: the same file is sent again once corrected
        report.unchanged = 0
        # in the file's order (a line's form is checked before its ledger and file are)
        report.problems.sort(key=lambda p: (p.index is not None, p.index or 0))
        return report
    for row, (ledger_id, account_id, service_date, label), item in changes:
        if row is None:
            session.add(
                BillableItem(
                    tenant_id=tenant_id,
                    ledger_id=ledger_id,
                    service_account_id=account_id,
                    period=service_date.strftime("%Y-%m"),
                    service_date=service_date,
                    label=label,
                    quantity=item.quantity,
                    unit_cents=item.unit_cents,
                )
            )
            report.created += 1
        else:
            row.quantity, row.unit_cents = item.quantity, item.unit_cents
            report.updated += 1
    await session.flush()
    return report


def parse_items_csv(
    data: bytes,
) -> tuple[list[dict[str, Any]], list[int], list[tuple[str, str]]]:
    """Rows (``;`` or ``,`` separated, UTF-8, a header line) as items, the file's line of each
    (empty lines skipped), and what is wrong with the file itself: (``"encoding"`` or
    ``"header"``, in English)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [], [("encoding", "the file is not UTF-8 text (save it as « CSV UTF-8 »)")]
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [c for c in ITEM_CSV_COLUMNS if c not in header]
    if missing:
        return [], [], [("header", "missing columns: " + ", ".join(missing))]
    reader.fieldnames = header
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    for row in reader:
        values = {name: (row.get(name) or "") for name in ITEM_CSV_COLUMNS}
        if any(value.strip() for value in values.values()):
            rows.append(values)
            lines.append(reader.line_num)
    return rows, lines, []
