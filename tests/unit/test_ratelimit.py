import asyncio

import pytest
from litestar.stores.memory import MemoryStore

from guichet.web import ratelimit
from guichet.web.ratelimit import Limit, RateLimiter

pytestmark = pytest.mark.asyncio(loop_scope="session")

LIMIT = Limit("t", free=3, window=3600, base=2, cap=60)


async def test_waits_grow_then_cap():
    limiter = RateLimiter(MemoryStore())
    waits = []
    for _ in range(8):
        waits.append(await limiter.attempt(LIMIT, "tenant", "x"))
        await limiter.store.delete("t:tenant:x:until")  # as if each wait had passed
    assert waits == [0, 0, 0, 2, 4, 8, 16, 32]
    await limiter.attempt(LIMIT, "tenant", "x")
    await limiter.store.delete("t:tenant:x:until")
    assert await limiter.attempt(LIMIT, "tenant", "x") == 60  # capped
    assert 55 <= await limiter.retry_after(LIMIT, "tenant", "x") <= 60
    # while waiting, attempts are refused and not counted
    assert await limiter.attempt(LIMIT, "tenant", "x") > 0


async def test_subjects_and_tenants_are_separate():
    limiter = RateLimiter(MemoryStore())
    for _ in range(5):
        await limiter.failure(LIMIT, "tenant-a", "x")
    assert await limiter.retry_after(LIMIT, "tenant-a", "x") > 0
    assert await limiter.retry_after(LIMIT, "tenant-b", "x") == 0
    assert await limiter.retry_after(LIMIT, "tenant-a", "y") == 0


async def test_reset_and_expiry(monkeypatch):
    limiter = RateLimiter(MemoryStore())
    for _ in range(5):
        await limiter.failure(LIMIT, "t", "x")
    await limiter.reset(LIMIT, "t", "x")
    assert await limiter.retry_after(LIMIT, "t", "x") == 0
    for _ in range(5):
        await limiter.failure(LIMIT, "t", "x")
    real = ratelimit.time.time
    monkeypatch.setattr(ratelimit.time, "time", lambda: real() + 61)
    assert await limiter.retry_after(LIMIT, "t", "x") == 0  # the wait is over, never longer


async def test_store_failure_is_not_a_pass():
    class Broken(MemoryStore):
        async def get(self, key, renew_for=None):
            raise ConnectionError("store down")

    with pytest.raises(ConnectionError):
        await RateLimiter(Broken()).retry_after(LIMIT, "t", "x")


async def test_parallel_attempts_cannot_slip_through():
    limiter = RateLimiter(MemoryStore())
    waits = await asyncio.gather(*[limiter.attempt(LIMIT, "t", "x") for _ in range(40)])
    assert sum(1 for w in waits if w == 0) == LIMIT.free


async def test_parallel_attempts_on_redis(redis_srv):
    import uuid

    from litestar.stores.redis import RedisStore

    from tests.support.services import cleanup_prefix

    namespace = f"rltest{uuid.uuid4().hex[:8]}"
    store = RedisStore.with_client(url=redis_srv.url, namespace=namespace)
    try:
        limiter = RateLimiter(store)
        waits = await asyncio.gather(*[limiter.attempt(LIMIT, "t", "x") for _ in range(40)])
        assert sum(1 for w in waits if w == 0) == LIMIT.free
    finally:
        await store.__aexit__(None, None, None)
        cleanup_prefix(redis_srv.url, namespace)
