"""Counting attempts in the shared store, with growing waits; never failing open.

An attempt is counted *before* the work it guards, in one atomic step with the check of the wait
(a Lua script on Redis, a lock in a single-process store), so a burst of parallel requests cannot
slip through between a check and a write. The first ``free`` attempts within the window go
ahead; the last of them imposes a wait (``base`` seconds) before the next. Once a wait has
passed, one attempt goes ahead again and doubles the next wait (capped at ``cap``); attempts
made while waiting are refused and not counted. So "réessayez dans 30 secondes" is true: after
30 seconds the next try is really tried. A success may ``reset`` the counter.
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

# KEYS: the counter, the wait; ARGV: window, free, base, cap (seconds), now (ms).
# Returns the wait left in ms (0: this attempt goes ahead).
_ATTEMPT = """
local left = redis.call('PTTL', KEYS[2])
if left > 0 then return left end
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1])) end
local free = tonumber(ARGV[2])
if count >= free then
  local wait = math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * 2 ^ (count - free))
  local stamp = tostring(tonumber(ARGV[5]) / 1000 + wait)
  redis.call('SET', KEYS[2], stamp, 'PX', math.floor(wait * 1000))
end
return 0
"""


def _next_wait(limit: Limit, count: int) -> int:
    """The wait imposed by the ``count``-th attempt of the window (none before the free-th)."""
    if count < limit.free:
        return 0
    return int(min(limit.cap, limit.base * 2 ** (count - limit.free)))


class RateLimiter:
    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def _key(limit: Limit, tenant: str, subject: str) -> str:
        return f"{limit.name}:{tenant}:{subject}"[:200]

    async def retry_after(self, limit: Limit, tenant: str, subject: str) -> int:
        """Seconds to wait before another attempt is allowed (0: go ahead); counts nothing."""
        raw = await self.store.get(self._key(limit, tenant, subject) + ":until")
        until = float(raw) if raw else 0.0
        return max(0, int(until - time.time() + 0.999))

    async def attempt(self, limit: Limit, tenant: str, subject: str) -> int:
        """Count an attempt unless a wait is running; returns the wait left (0: this attempt
        goes ahead, and may have set the wait before the next)."""
        key = self._key(limit, tenant, subject)
        if isinstance(self.store, RedisStore):
            left_ms = await self.store._redis.eval(
                _ATTEMPT,
                2,
                self.store._make_key(key),
                self.store._make_key(key + ":until"),
                limit.window,
                limit.free,
                limit.base,
                limit.cap,
                int(time.time() * 1000),
            )
            return int(left_ms + 999) // 1000 if left_ms else 0
        lock = _locks.setdefault(id(self.store), asyncio.Lock())
        async with lock:
            wait = await self.retry_after(limit, tenant, subject)
            if wait:
                return wait
            raw = await self.store.get(key)
            count = int(raw) + 1 if raw else 1
            await self.store.set(key, str(count), expires_in=limit.window)
            if wait := _next_wait(limit, count):
                until = json.dumps(time.time() + wait)
                await self.store.set(key + ":until", until, expires_in=wait)
            return 0

    # Kept for callers that record only failures (access keys): same counter.
    async def failure(self, limit: Limit, tenant: str, subject: str) -> int:
        return await self.attempt(limit, tenant, subject)

    async def hit(self, limit: Limit, tenant: str, subject: str) -> int:
        return await self.attempt(limit, tenant, subject)

    async def reset(self, limit: Limit, tenant: str, subject: str) -> None:
        key = self._key(limit, tenant, subject)
        await self.store.delete(key)
        await self.store.delete(key + ":until")
