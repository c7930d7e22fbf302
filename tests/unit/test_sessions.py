"""Session timeouts: idle 30 minutes signed in (3 hours while filling the wizard), 12 hours
at most; bound to the tenant."""

import pytest
from litestar.stores.memory import MemoryStore

from guichet.web import sessions
from guichet.web.sessions import SESSION_COOKIE, SessionManager

pytestmark = pytest.mark.asyncio(loop_scope="session")


class FakeRequest:
    def __init__(self, sid: str) -> None:
        self.cookies = {SESSION_COOKIE: sid}
        self.scope: dict[str, object] = {}


class FakeResponse:
    def set_cookie(self, cookie) -> None:
        self.cookie = cookie


async def stored_session(manager, tenant="t1", signed_in=True):
    session = await manager.load(FakeRequest(""), tenant)
    if signed_in:
        session.set("citizen_id", "00000000-0000-0000-0000-000000000001")
    else:
        session.set("wizard", {"values": {}})
    await manager.save(session, FakeResponse(), "/t1")
    return session.id


@pytest.fixture
def clock(monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(sessions.time, "time", lambda: now[0])
    return now


async def test_idle_timeout_signed_in(clock):
    manager = SessionManager(MemoryStore(), secure=False)
    sid = await stored_session(manager)
    clock[0] += 29 * 60
    assert (await manager.load(FakeRequest(sid), "t1")).citizen_id is not None
    clock[0] += 31 * 60  # 31 minutes after the last request (the load above refreshed it)
    assert (await manager.load(FakeRequest(sid), "t1")).is_new


async def test_a_visitor_filling_the_wizard_may_pause_three_hours(clock):
    manager = SessionManager(MemoryStore(), secure=False)
    sid = await stored_session(manager, signed_in=False)
    clock[0] += 2 * 3600
    assert not (await manager.load(FakeRequest(sid), "t1")).is_new
    clock[0] += 3 * 3600 + 60
    assert (await manager.load(FakeRequest(sid), "t1")).is_new


async def test_absolute_timeout(clock):
    manager = SessionManager(MemoryStore(), secure=False)
    sid = await stored_session(manager)
    for _ in range(25):  # active every 29 minutes, for more than 12 hours
        clock[0] += 29 * 60
        session = await manager.load(FakeRequest(sid), "t1")
        await manager.save(session, FakeResponse(), "/t1")
        if session.is_new:
            break
    assert session.is_new


async def test_bound_to_its_tenant():
    manager = SessionManager(MemoryStore(), secure=False)
    sid = await stored_session(manager, tenant="t1")
    assert (await manager.load(FakeRequest(sid), "t2")).is_new
