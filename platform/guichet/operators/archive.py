"""A tenant's data as one archive, and the tenant's deletion (operators, ``/operator/`` and
the CLI).

The archive is a ZIP: ``tenant.json`` (the tenant's own row), ``tables/<table>.jsonl`` (every
row of every tenant-owned table, one JSON object a line, in the order the tables depend on each
other) and ``files/<key>`` (the stored files those rows name: documents, request attachments,
invoice PDFs, photos, the logo). Secrets stay out: password hashes, second-factor secrets,
digests of keys and tokens, the payment backends' encrypted options; so do the emails of the
outbox (transient, and they carry live links).

Deleting removes every row of the tenant, table by table in reverse dependency order (so no
foreign key is in the way), then the tenant, then its files: those its rows named, and whatever
else is left in the store under the tenant's folders (a file a stop left unnamed). Its audit
lines and its archives stay. It is refused unless an archive was made in the last seven days.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.audit.models import AuditEvent
from guichet.billing.models import BillingRun
from guichet.files import FileStore, delete_folder, delete_keys
from guichet.models import TENANT_OWNED_TABLES, Base  # every table: an archive holds them all
from guichet.tenancy.models import Tenant

__all__ = [
    "EXPORT_VALID_DAYS",
    "delete_tenant",
    "delete_tenant_files",
    "export_key",
    "export_tenant",
    "recent_export",
]

EXPORT_VALID_DAYS = 7
# A tenant's logo beside its slug (admin/controllers.py, tenancy/catalog.py), never deeper.
_LOGO = re.compile(r"logo-[0-9a-f]{16}\.[a-z]{3,4}")
FILE_COLUMNS = {"storage_key", "pdf_key", "photo_file", "logo_file", "print_pdf_key"}
SECRET_COLUMNS = {
    "password_hash",
    "totp_secret",
    "key_digest",
    "token_digest",
    "invite_hash",
    "tracking_hash",
    "backend_options",
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "value"):
        return value.value
    return value


# Left out of archives: emails in the outbox are transient and carry live links (invitations,
# password resets).
NOT_EXPORTED = {"outbox_message"}


def _tables(exporting: bool = False) -> list[Any]:
    """Tenant-owned tables, each after the tables it refers to."""
    return [
        t
        for t in Base.metadata.sorted_tables
        if t.name in TENANT_OWNED_TABLES and not (exporting and t.name in NOT_EXPORTED)
    ]


def export_key(slug: str, at: datetime) -> str:
    return f"exports/{slug}/{slug}-{at:%Y%m%d-%H%M%S}.zip"


async def _file_keys(session: AsyncSession, tenant: Tenant) -> list[str]:
    keys = [tenant.logo_file] if tenant.logo_file else []
    for table in _tables():
        for name in FILE_COLUMNS & set(table.c.keys()):
            column = table.c[name]
            keys += [
                k
                for k in (
                    await session.execute(select(column).where(table.c.tenant_id == tenant.id))
                ).scalars()
                if k
            ]
    runs = await session.execute(select(BillingRun).where(BillingRun.tenant_id == tenant.id))
    keys += [key for run in runs.scalars() for key in run.print_keys]  # every volume
    return sorted(set(keys))


async def export_tenant(
    session: AsyncSession, files: FileStore, tenant: Tenant
) -> tuple[str, int, dict[str, int]]:
    """Write the archive to the file store; (key, size in bytes, rows per table)."""
    counts: dict[str, int] = {}
    with tempfile.TemporaryFile() as spool:
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            own = {
                c.key: _jsonable(getattr(tenant, c.key))
                for c in Tenant.__table__.columns
                if c.key not in SECRET_COLUMNS
            }
            archive.writestr("tenant.json", json.dumps(own, ensure_ascii=False, indent=1))
            for table in _tables(exporting=True):
                columns = [c for c in table.columns if c.key not in SECRET_COLUMNS]
                result = await session.stream(
                    select(*columns).where(table.c.tenant_id == tenant.id)
                )
                count = 0
                with archive.open(f"tables/{table.name}.jsonl", "w") as out:
                    async for row in result:
                        record = {c.key: _jsonable(v) for c, v in zip(columns, row, strict=True)}
                        out.write(json.dumps(record, ensure_ascii=False).encode() + b"\n")
                        count += 1
                counts[table.name] = count
            missing = []
            for key in await _file_keys(session, tenant):
                try:
                    archive.writestr(f"files/{key}", await asyncio.to_thread(files.get, key))
                except FileNotFoundError:
                    missing.append(key)
            archive.writestr(
                "README.txt",
                "Guichet: data of one tenant. tenant.json is the tenant; tables/*.jsonl hold one "
                "JSON object per row; files/ holds the stored files named by the rows. Secrets "
                f"(password hashes, second factors, key digests) are left out. Missing files: "
                f"{len(missing)}\n",
            )
        size = spool.tell()
        spool.seek(0)
        key = export_key(tenant.slug, datetime.now(UTC))

        def chunks() -> Iterator[bytes]:
            while block := spool.read(1024 * 1024):
                yield block

        await asyncio.to_thread(files.put_stream, key, chunks())
    return key, size, counts


async def recent_export(session: AsyncSession, tenant_id: uuid.UUID) -> AuditEvent | None:
    """The latest archive of the tenant made in the last seven days, from the audit log."""
    since = datetime.now(UTC) - timedelta(days=EXPORT_VALID_DAYS)
    return await session.scalar(
        select(AuditEvent)
        .where(
            AuditEvent.tenant_id == tenant_id,
            AuditEvent.action == "tenant.exported",
            AuditEvent.created_at >= since,
        )
        .order_by(AuditEvent.created_at.desc())
        .limit(1)
    )


async def delete_tenant(session: AsyncSession, tenant: Tenant) -> tuple[list[str], int]:
    """Delete every row of the tenant (not committed); (file keys to delete after the commit,
    rows deleted)."""
    keys = await _file_keys(session, tenant)
    deleted = 0
    for table in reversed(_tables()):
        result = await session.execute(delete(table).where(table.c.tenant_id == tenant.id))
        deleted += int(getattr(result, "rowcount", 0) or 0)
    await session.delete(tenant)
    return keys, deleted


def delete_tenant_files(files: FileStore, tenant_id: uuid.UUID, slug: str, keys: list[str]) -> int:
    """Delete, once the tenant's rows are gone, the files they named (``keys``), then every file
    left under the tenant's folder (``tenants/<id>/``: a part or a PDF a stop left with no row
    naming it) and its logos (``tenants/<slug>/logo-<digest>.<ext>``); returns how many. Its
    archives (``exports/<slug>/``) stay. Failures are logged and skipped: the rows are gone."""
    return (
        delete_keys(files, keys)
        + delete_folder(files, f"tenants/{tenant_id}/")
        + delete_folder(files, f"tenants/{slug}/", only=_LOGO)
    )
