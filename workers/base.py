"""What every task shares: the settings, and a database opened for the duration of one task."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import cache
from typing import TypeVar

from guichet.db.session import Database
from guichet.settings import Settings

__all__ = ["run_with_database", "settings"]

T = TypeVar("T")


@cache
def settings() -> Settings:
    return Settings.from_env()


def run_with_database(work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work(db)`` in a fresh event loop with its own engine, disposed afterwards."""

    async def main() -> T:
        db = Database(settings())
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(main())
