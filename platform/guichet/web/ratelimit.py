"""Counting attempts in the shared store, with growing delays; never failing open.

A counter key is ``<scope>:<tenant>:<subject>``. After ``free`` failures within the window, each
further failure doubles the wait (``base`` seconds, capped at ``cap``): a guesser slows down fast,
and a citizen whose account is targeted waits at most ``cap`` after the attacker stops.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from litestar.stores.base import Store

__all__ = ["Limit", "RateLimiter"]


@dataclass(frozen=True)
class Limit:
    name: str
    free: int  # failures allowed without waiting
    window: int  # seconds after which failures are forgotten
    base: int = 2  # first wait, seconds
    cap: int = 900  # longest wait, seconds


class RateLimiter:
    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def _key(limit: Limit, tenant: str, subject: str) -> str:
        return f"{limit.name}:{tenant}:{subject}"[:200]

    async def _load(self, key: str) -> dict[str, float]:
        raw = await self.store.get(key)
        return json.loads(raw) if raw else {"failures": 0, "until": 0.0}

    async def retry_after(self, limit: Limit, tenant: str, subject: str) -> int:
        """Seconds to wait before another attempt is allowed (0: go ahead)."""
        state = await self._load(self._key(limit, tenant, subject))
        return max(0, int(state["until"] - time.time() + 0.999))

    async def failure(self, limit: Limit, tenant: str, subject: str) -> int:
        """Record a failure; returns the wait now imposed."""
        key = self._key(limit, tenant, subject)
        state = await self._load(key)
        failures = int(state["failures"]) + 1
        wait = 0
        if failures > limit.free:
            wait = min(limit.cap, limit.base * 2 ** (failures - limit.free - 1))
        state = {"failures": failures, "until": time.time() + wait}
        await self.store.set(key, json.dumps(state), expires_in=max(limit.window, wait + 1))
        return wait

    async def reset(self, limit: Limit, tenant: str, subject: str) -> None:
        await self.store.delete(self._key(limit, tenant, subject))

    async def hit(self, limit: Limit, tenant: str, subject: str) -> int:
        """Count an attempt that is limited whatever its outcome (e.g. sending a reset email)."""
        return await self.failure(limit, tenant, subject)
