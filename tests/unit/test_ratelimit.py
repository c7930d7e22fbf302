import asyncio

import pytest
from litestar.stores.memory import MemoryStore

from guichet.web import ratelimit
from guichet.web.ratelimit import Limit, RateLimiter

pytestmark = pytest.mark.asyncio(loop_scope="session")

LIMIT = Limit("t", free=3, window=3600, base=2, cap=60)


async def test_waits_grow_then_cap():
    limiter = RateLimiter(MemoryStore())
    proceeded, imposed = [], []
    for _ in range(9):
        proceeded.append(await limiter.attempt(LIMIT, "tenant", "x") == 0)
        imposed.append(await limiter.retry_after(LIMIT, "tenant", "x"))
        await limiter.store.delete("t:tenant:x:until")  # as if each wait had passed
    # every attempt made once the wait has passed goes ahead (what "réessayez dans N
    # secondes" promises); from the free-th on, each imposes a doubled wait on the next
    assert proceeded == [True] * 9
    assert imposed == [0, 0, 2, 4, 8, 16, 32, 60, 60]  # capped
    await limiter.attempt(LIMIT, "tenant", "x")
    assert 55 <= await limiter.retry_after(LIMIT, "tenant", "x") <= 60
    # while waiting, attempts are refused and not counted
    assert await limiter.attempt(LIMIT, "tenant", "x") > 0
    await limiter.store.delete("t:tenant:x:until")
    assert await limiter.attempt(LIMIT, "tenant", "x") == 0


async def test_the_attempt_after_the_announced_wait_is_tried(monkeypatch):
    """The staff's second factor: five wrong codes, « réessayez dans 30 secondes »; 31 seconds
    later the next code is really checked (it was refused, and the wait doubled, for ever)."""
    limiter = RateLimiter(MemoryStore())
    code = Limit("code", free=5, window=900, base=30, cap=900)
    assert [await limiter.attempt(code, "t", "u") for _ in range(5)] == [0] * 5
    assert 29 <= await limiter.attempt(code, "t", "u") <= 30  # refused, not counted
    real = ratelimit.time.time
    monkeypatch.setattr(ratelimit.time, "time", lambda: real() + 31)
    assert await limiter.attempt(code, "t", "u") == 0  # tried
    assert 59 <= await limiter.retry_after(code, "t", "u") <= 60  # the next one waits longer


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


async def test_the_attempt_after_the_wait_is_tried_on_redis(redis_srv):
    import uuid

    from litestar.stores.redis import RedisStore

    namespace = f"rltest{uuid.uuid4().hex[:8]}"
    store = RedisStore.with_client(url=redis_srv.url, namespace=namespace)
    try:
        limiter = RateLimiter(store)
        assert [await limiter.attempt(LIMIT, "t", "x") for _ in range(3)] == [0, 0, 0]
        assert 1 <= await limiter.attempt(LIMIT, "t", "x") <= 2  # waiting: refused
        await store.delete("t:t:x:until")  # as if the wait had passed
        assert await limiter.attempt(LIMIT, "t", "x") == 0  # tried
        assert 3 <= await limiter.retry_after(LIMIT, "t", "x") <= 4  # the next waits longer
    finally:
        await store.__aexit__(None, None, None)
