"""Periodic upkeep of accounts, run by the worker's beat (platform-level, every tenant)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.accounts.models import Citizen, CitizenStatus
from guichet.files import FileStore

__all__ = ["PURGE_TASK", "UNACTIVATED_AFTER", "purge_unactivated"]

PURGE_TASK = "guichet.accounts.purge_unactivated"
# The activation link lasts 48 hours; a week later the username is given back.
UNACTIVATED_AFTER = timedelta(days=7)


async def purge_unactivated(
    session: AsyncSession, files: FileStore, older_than: timedelta = UNACTIVATED_AFTER
) -> int:
    """Delete accounts never activated, so that nobody can reserve usernames for ever."""
    limit = datetime.now(UTC) - older_than
    stale = (
        (
            await session.execute(
                select(Citizen).where(
                    Citizen.status == CitizenStatus.PENDING, Citizen.created_at < limit
                )
            )
        )
        .scalars()
        .all()
    )
    photos = [c.photo_file for c in stale if c.photo_file]
    for citizen in stale:
        await session.delete(citizen)
    await session.commit()
    for key in photos:
        files.delete(key)
    return len(stale)
