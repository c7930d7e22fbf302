"""Counting attempts in the shared store, with growing waits; never failing open.

An attempt is counted *before* the work it guards (an atomic increment: Redis ``INCR``, or a lock
in a single-process file store), so a burst of parallel requests cannot slip through between a
check and a write. After ``free`` attempts within the window each further one is refused and
doubles the wait (``base`` seconds, capped at ``cap``). A success may ``reset`` the counter.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from litestar.stores.base import Store
from litestar.stores.redis import RedisStore

__all__ = ["Limit", "RateLimiter"]


@dataclass(frozen=True)
class Limit:
    name: str
    free: int  # attempts allowed without waiting
    window: int  # seconds after which attempts are forgotten
    base: int = 2  # first wait, seconds
    cap: int = 900  # longest wait, seconds


_locks: dict[int, asyncio.Lock] = {}


class RateLimiter:
    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def _key(limit: Limit, tenant: str, subject: str) -> str:
        return f"{limit.name}:{tenant}:{subject}"[:200]

    async def _increment(self, key: str, window: int) -> int:
        if isinstance(self.store, RedisStore):
            full = self.store._make_key(key)
            redis = self.store._redis
            async with redis.pipeline(transaction=True) as pipe:
                pipe.incr(full)
                pipe.expire(full, window, nx=True)
                count, _ = await pipe.execute()
            return int(count)
        lock = _locks.setdefault(id(self.store), asyncio.Lock())
        async with lock:
            raw = await self.store.get(key)
            count = int(raw) + 1 if raw else 1
            await self.store.set(key, str(count), expires_in=window)
            return count

    async def retry_after(self, limit: Limit, tenant: str, subject: str) -> int:
        """Seconds to wait before another attempt is allowed (0: go ahead); counts nothing."""
        raw = await self.store.get(self._key(limit, tenant, subject) + ":until")
        until = float(raw) if raw else 0.0
        return max(0, int(until - time.time() + 0.999))

    async def attempt(self, limit: Limit, tenant: str, subject: str) -> int:
        """Count an attempt; returns the wait now imposed (0: this attempt may proceed)."""
        wait = await self.retry_after(limit, tenant, subject)
        if wait:
            return wait
        key = self._key(limit, tenant, subject)
        count = await self._increment(key, limit.window)
        if count <= limit.free:
            return 0
        wait = min(limit.cap, limit.base * 2 ** (count - limit.free - 1))
        await self.store.set(key + ":until", json.dumps(time.time() + wait), expires_in=wait + 1)
        return wait

    # Kept for callers that record only failures (access keys): same counter.
    async def failure(self, limit: Limit, tenant: str, subject: str) -> int:
        return await self.attempt(limit, tenant, subject)

    async def hit(self, limit: Limit, tenant: str, subject: str) -> int:
        return await self.attempt(limit, tenant, subject)

    async def reset(self, limit: Limit, tenant: str, subject: str) -> None:
        key = self._key(limit, tenant, subject)
        await self.store.delete(key)
        await self.store.delete(key + ":until")
