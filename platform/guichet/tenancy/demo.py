"""Demo data of a tenant (``tenants/<slug>/demo.toml``): citizens with their contacts.

Applied by ``guichet tenants apply --demo`` for the embedded default (``make run``) and the
end-to-end tests; idempotent (an existing username is left as it is).
"""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.accounts.models import (
    Citizen,
    CitizenStatus,
    ServiceAccount,
    file_mailing_address,
)
from guichet.accounts.passwords import hash_password
from guichet.accounts.services import username_key
from guichet.contacts.models import Contact, ContactKind
from guichet.tenancy.catalog import CatalogError
from guichet.tenancy.models import Service, Tenant, TermsVersion

__all__ = ["apply_demo"]

_CITIZEN_FIELDS = {
    "civility",
    "last_name",
    "birth_name",
    "first_names",
    "birth_country",
    "birth_department",
    "birth_commune",
    "street_number",
    "street_number_suffix",
    "street_name",
    "building",
    "apartment",
    "address_complement",
    "postcode",
    "city",
    "country",
    "phone",
    "mobile",
    "fax",
    "email",
    "preferred_contact",
}
_CONTACT_FIELDS = {
    "kind",
    "civility",
    "last_name",
    "first_name",
    "relation",
    "phone",
    "mobile",
    "email",
    "address",
    "note",
}


async def apply_demo(session: AsyncSession, folder: Path, secret_key: str = "") -> list[str]:
    path = folder / "demo.toml"
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(path, [("(syntax)", str(exc))]) from None
    tenant = (
        await session.execute(select(Tenant).where(Tenant.slug == folder.name))
    ).scalar_one_or_none()
    if tenant is None:
        raise CatalogError(path, [("(tenant)", "apply the tenant before its demo data")])
    terms = (
        await session.execute(
            select(TermsVersion.version)
            .where(TermsVersion.tenant_id == tenant.id)
            .order_by(TermsVersion.version.desc())
        )
    ).first()
    changes: list[str] = []
    for i, entry in enumerate(data.get("citizens", [])):
        changes += await _citizen(session, tenant, entry, terms[0] if terms else 0, path, i)
    await session.flush()
    for i, entry in enumerate(data.get("invoices", [])):
        changes += await _invoice(session, tenant, entry, path, i)
    for entry in data.get("billable", []):
        changes += await _billable(session, tenant, entry, path)
    for i, entry in enumerate(data.get("staff", [])):
        changes += await _staff(session, tenant, entry, path, i, secret_key)
    await session.flush()
    return changes


async def _staff(
    session: AsyncSession,
    tenant: Tenant,
    entry: dict[str, Any],
    path: Path,
    i: int,
    secret_key: str,
) -> list[str]:
    """A demo staff member {"email", "name", "role", "password", "totp_secret"}; added once,
    never changed. The second-factor secret is given so that the demo can be tried without a
    phone (README); without one, the first sign-in asks to enrol an application."""
    from guichet.staff import twofactor
    from guichet.staff.models import StaffRole, StaffUser

    where = f"staff[{i}]"
    email = entry.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise CatalogError(path, [(f"{where}.email", "an email address")])
    try:
        role = StaffRole(entry.get("role", "agent"))
    except ValueError:
        raise CatalogError(
            path, [(f"{where}.role", "one of " + ", ".join(r.value for r in StaffRole))]
        ) from None
    existing = (
        await session.execute(
            select(StaffUser).where(
                StaffUser.tenant_id == tenant.id, StaffUser.email == email.lower()
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        return []
    session.add(
        StaffUser(
            tenant_id=tenant.id,
            email=email.lower(),
            name=str(entry.get("name", email)),
            role=role,
            password_hash=hash_password(str(entry["password"])),
            totp_secret=(
                twofactor.encrypt_secret(secret_key, str(entry["totp_secret"]))
                if entry.get("totp_secret")
                else ""
            ),
        )
    )
    return [f"staff {email}: added"]


async def _billable(
    session: AsyncSession, tenant: Tenant, entry: dict[str, Any], path: Path
) -> list[str]:
    from datetime import timedelta

    from guichet.billing.models import BillableItem, Ledger

    ledger = (
        await session.execute(
            select(Ledger).where(Ledger.tenant_id == tenant.id, Ledger.code == entry.get("ledger"))
        )
    ).scalar_one_or_none()
    if ledger is None:
        raise CatalogError(path, [("billable.ledger", "no such ledger in tenant.toml")])
    period = str(entry["period"])
    year, month = (int(x) for x in period.split("-"))
    changes = []
    for reference in entry.get("accounts", []):
        code, _, ref = reference.partition("/")
        account = (
            await session.execute(
                select(ServiceAccount)
                .join(Service, Service.id == ServiceAccount.service_id)
                .where(
                    ServiceAccount.tenant_id == tenant.id,
                    Service.code == code,
                    ServiceAccount.reference == ref,
                )
            )
        ).scalar_one_or_none()
        if account is None:
            raise CatalogError(path, [("billable.accounts", f"no access key {reference!r}")])
        already = (
            await session.execute(
                select(BillableItem.id)
                .where(
                    BillableItem.tenant_id == tenant.id,
                    BillableItem.service_account_id == account.id,
                    BillableItem.period == period,
                )
                .limit(1)
            )
        ).first()
        if already:
            continue
        day = date(year, month, 1)
        count = 0
        while day.month == month:
            if entry.get("days") != "weekdays" or day.weekday() < 5:
                session.add(
                    BillableItem(
                        tenant_id=tenant.id,
                        ledger_id=ledger.id,
                        service_account_id=account.id,
                        period=period,
                        service_date=day,
                        label=str(entry["label"]),
                        quantity=1,
                        unit_cents=int(entry["unit_cents"]),
                    )
                )
                count += 1
            day += timedelta(days=1)
        changes.append(f"demo billable items {reference} {period}: {count}")
    return changes


async def _invoice(
    session: AsyncSession, tenant: Tenant, entry: dict[str, Any], path: Path, index: int
) -> list[str]:
    from datetime import timedelta

    from guichet.billing.models import Invoice, InvoiceLine, InvoiceStatus, Ledger, Payment

    label = f"invoices[{index}]"
    ledger = (
        await session.execute(
            select(Ledger).where(Ledger.tenant_id == tenant.id, Ledger.code == entry.get("ledger"))
        )
    ).scalar_one_or_none()
    if ledger is None:
        raise CatalogError(path, [(f"{label}.ledger", "no such ledger in tenant.toml")])
    code, _, ref = str(entry.get("account", "")).partition("/")
    account = (
        await session.execute(
            select(ServiceAccount)
            .join(Service, Service.id == ServiceAccount.service_id)
            .where(
                ServiceAccount.tenant_id == tenant.id,
                Service.code == code,
                ServiceAccount.reference == ref,
            )
        )
    ).scalar_one_or_none()
    if account is None:
        raise CatalogError(path, [(f"{label}.account", "no such access key in tenant.toml")])
    number = str(entry["number"])
    exists = (
        await session.execute(
            select(Invoice.id).where(
                Invoice.tenant_id == tenant.id,
                Invoice.ledger_id == ledger.id,
                Invoice.number == number,
            )
        )
    ).first()
    if exists:
        return []
    now = datetime.now(UTC)
    lines = entry.get("lines", [])
    total = sum(int(line["quantity"]) * int(line["unit_cents"]) for line in lines)
    invoice = Invoice(
        tenant_id=tenant.id,
        ledger_id=ledger.id,
        service_account_id=account.id,
        number=number,
        label=str(entry["label"]),
        recipient=account.holder_name,
        recipient_address=await file_mailing_address(session, account),
        issue_date=entry["issue_date"],
        due_date=entry["due_date"],
        total_cents=total,
        pay_from=now - timedelta(days=1) if entry.get("window") == "open" else None,
        pay_until=now + timedelta(days=60) if entry.get("window") == "open" else None,
    )
    session.add(invoice)
    await session.flush()
    for position, line in enumerate(lines, start=1):
        session.add(
            InvoiceLine(
                tenant_id=tenant.id,
                invoice_id=invoice.id,
                position=position,
                label=str(line["label"]),
                quantity=int(line["quantity"]),
                unit_cents=int(line["unit_cents"]),
                amount_cents=int(line["quantity"]) * int(line["unit_cents"]),
            )
        )
    if entry.get("paid"):
        session.add(
            Payment(
                tenant_id=tenant.id,
                invoice_id=invoice.id,
                amount_cents=total,
                method="cheque",  # received at the counter, as OFFLINE_METHODS name it
                paid_at=datetime.combine(entry["due_date"], datetime.min.time(), UTC),
                reference="",
            )
        )
        invoice.paid_cents = total
        invoice.status = InvoiceStatus.PAID
    sequence = number[len(ledger.number_prefix) :]
    if number.startswith(ledger.number_prefix) and sequence.isdigit():
        ledger.next_number = max(ledger.next_number, int(sequence) + 1)
    return [f"demo invoice {number}: created"]


async def _citizen(
    session: AsyncSession, tenant: Tenant, entry: dict[str, Any], terms: int, path: Path, index: int
) -> list[str]:
    label = f"citizens[{index}]"
    unknown = (
        set(entry)
        - _CITIZEN_FIELDS
        - {"username", "password", "birth_date", "service_accounts", "contacts"}
    )
    if unknown:
        raise CatalogError(path, [(f"{label}.{name}", "unknown field") for name in sorted(unknown)])
    username = entry["username"]
    existing = (
        await session.execute(
            select(Citizen).where(
                Citizen.tenant_id == tenant.id, Citizen.username_key == username_key(username)
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        return []
    now = datetime.now(UTC)
    birth = entry.get("birth_date")
    citizen = Citizen(
        tenant_id=tenant.id,
        username=username,
        username_key=username_key(username),
        password_hash=hash_password(entry["password"]),
        status=CitizenStatus.ACTIVE,
        birth_date=birth if isinstance(birth, date) else None,
        terms_version=terms,
        terms_accepted_at=now,
        activated_at=now,
        locale=tenant.default_locale,
        **{name: str(entry.get(name, "")) for name in _CITIZEN_FIELDS},
    )
    if not citizen.country:
        citizen.country = "FR"
    session.add(citizen)
    await session.flush()
    changes = [f"demo citizen {username}: created"]
    for reference in entry.get("service_accounts", []):
        code, _, ref = reference.partition("/")
        account = (
            await session.execute(
                select(ServiceAccount)
                .join(Service, Service.id == ServiceAccount.service_id)
                .where(
                    ServiceAccount.tenant_id == tenant.id,
                    Service.code == code,
                    ServiceAccount.reference == ref,
                )
            )
        ).scalar_one_or_none()
        if account is None:
            raise CatalogError(
                path, [(f"{label}.service_accounts", f"no access key {reference!r} in tenant.toml")]
            )
        account.citizen_id, account.linked_at = citizen.id, now
        changes.append(f"demo citizen {username}: linked to {reference}")
    for contact in entry.get("contacts", []):
        unknown = set(contact) - _CONTACT_FIELDS
        if unknown:
            raise CatalogError(
                path, [(f"{label}.contacts.{n}", "unknown field") for n in sorted(unknown)]
            )
        session.add(
            Contact(
                tenant_id=tenant.id,
                citizen_id=citizen.id,
                kind=ContactKind(contact["kind"]),
                **{k: str(v) for k, v in contact.items() if k != "kind"},
            )
        )
        changes.append(f"demo citizen {username}: contact {contact.get('first_name', '')}")
    return changes
