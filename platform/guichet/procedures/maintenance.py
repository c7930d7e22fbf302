"""Requests upkeep: drafts started without an account and left behind are deleted (their
session, which alone could reach them, is long gone), with their files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.files import FileStore
from guichet.procedures.models import ProcedureRequest, RequestAttachment, RequestStatus

__all__ = ["ANONYMOUS_DRAFTS_AFTER", "PURGE_DRAFTS_TASK", "purge_anonymous_drafts"]

PURGE_DRAFTS_TASK = "guichet.procedures.purge_anonymous_drafts"
# Longer than any session (the idle and absolute limits are hours, not days).
ANONYMOUS_DRAFTS_AFTER = timedelta(days=2)


async def purge_anonymous_drafts(
    session: AsyncSession, files: FileStore, older_than: timedelta = ANONYMOUS_DRAFTS_AFTER
) -> int:
    limit = datetime.now(UTC) - older_than
    stale = (
        (
            await session.execute(
                select(ProcedureRequest).where(
                    ProcedureRequest.citizen_id.is_(None),
                    ProcedureRequest.status == RequestStatus.DRAFT,
                    ProcedureRequest.updated_at < limit,
                )
            )
        )
        .scalars()
        .all()
    )
    keys: list[str] = []
    for request in stale:
        keys += (
            await session.execute(
                select(RequestAttachment.storage_key).where(
                    RequestAttachment.tenant_id == request.tenant_id,
                    RequestAttachment.request_id == request.id,
                )
            )
        ).scalars()
        await session.delete(request)  # attachments go with it (ON DELETE CASCADE)
    await session.commit()
    for key in keys:
        files.delete(key)
    return len(stale)
