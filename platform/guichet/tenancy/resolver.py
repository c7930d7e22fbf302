"""Tenant resolution from the first path segment, cached per process.

Every change to a tenant bumps a generation counter in the shared store (Redis in production, a
file store in the embedded default); each process compares its cached generation with it before
trusting its cache, so a change made by another process or by the CLI is seen at once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from litestar.stores.base import Store
from sqlalchemy import select

from guichet.db.session import Database
from guichet.tenancy.models import Tenant
from guichet.tenancy.slugs import slug_problem
from guichet.tenancy.snapshot import TenantSnapshot
from guichet.web.stores import get_together

__all__ = ["GENERATION_KEY", "TenantResolver", "bump_generation"]

GENERATION_KEY = "tenancy:generation"


async def bump_generation(store: Store) -> None:
    """Tell every process that tenant settings changed."""
    await store.set(GENERATION_KEY, uuid.uuid4().hex)


class TenantResolver:
    def __init__(self, db: Database, store: Store, max_age: float = 300.0) -> None:
        self.db = db
        self.store = store
        self.max_age = max_age
        self._cache: dict[str, tuple[TenantSnapshot | None, float]] = {}
        self._generation: bytes | None = None

    def _check_generation(self, generation: bytes | None) -> None:
        if generation != self._generation:
            self._cache.clear()
            self._generation = generation

    async def resolve(self, slug: str) -> TenantSnapshot | None:
        """The tenant of ``slug``, or None when there is none (unknown slugs are cached too)."""
        return (await self.resolve_reading(slug, None))[0]

    async def resolve_reading(
        self, slug: str, also: Callable[[TenantSnapshot], tuple[Store, str] | None] | None
    ) -> tuple[TenantSnapshot | None, dict[tuple[int, str], bytes | None]]:
        """The tenant of ``slug``, and what was read beside it: the key that ``also`` names for
        the tenant (the request's session), read in the same round trip as the generation
        check when the tenant is already known to this process, keyed by (id of its store,
        key). One round trip to Redis fewer on every page (bench/README.md)."""
        if slug_problem(slug) is not None:
            return None, {}
        known = self._cache.get(slug)
        extra = also(known[0]) if also is not None and known and known[0] is not None else None
        read: dict[tuple[int, str], bytes | None] = {}
        if extra is None:
            self._check_generation(await self.store.get(GENERATION_KEY))
        else:
            generation, read[(id(extra[0]), extra[1])] = await get_together(
                (self.store, GENERATION_KEY), extra
            )
            self._check_generation(generation)
        return await self._tenant(slug), read

    async def _tenant(self, slug: str) -> TenantSnapshot | None:
        cached = self._cache.get(slug)
        now = time.monotonic()
        if cached is not None and now - cached[1] < self.max_age:
            return cached[0]
        async with self.db.session(all_tenants=True) as session:
            tenant = (
                await session.execute(select(Tenant).where(Tenant.slug == slug))
            ).scalar_one_or_none()
            snapshot = TenantSnapshot.from_model(tenant) if tenant is not None else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[slug] = (snapshot, now)
        return snapshot

    def peek(self, slug: str) -> TenantSnapshot | None:
        """The cached tenant of ``slug`` without any I/O (error pages)."""
        cached = self._cache.get(slug)
        return cached[0] if cached else None

    async def invalidate(self) -> None:
        self._cache.clear()
        await bump_generation(self.store)
