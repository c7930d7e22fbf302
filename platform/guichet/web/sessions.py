"""Server-side sessions in the key-value store (Redis in production).

The cookie holds only a random id. A session is bound to one tenant: its key carries the tenant
id, its cookie's path is the tenant's path, and its data records the tenant, so a tenant-A
session means nothing at tenant B. Idle (30 min) and absolute (12 h) timeouts; the id is rotated
at login; logout deletes it.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.stores.base import Store

__all__ = ["SESSION_COOKIE", "Session", "SessionManager"]

SESSION_COOKIE = "guichet_session"
IDLE_SECONDS = 30 * 60  # a signed-in session
ANONYMOUS_IDLE_SECONDS = 3 * 3600  # a visitor filling in the wizard, who may pause to find a letter
ABSOLUTE_SECONDS = 12 * 3600


def _idle_limit(data: dict[str, Any]) -> int:
    return IDLE_SECONDS if data.get("citizen_id") else ANONYMOUS_IDLE_SECONDS


@dataclass
class Session:
    id: str
    tenant_id: str
    created: float
    last_seen: float
    data: dict[str, Any] = field(default_factory=dict)
    is_new: bool = False
    changed: bool = False
    deleted: bool = False
    old_id: str | None = None

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.changed = True

    def pop(self, key: str, default: Any = None) -> Any:
        self.changed = True
        return self.data.pop(key, default)

    @property
    def citizen_id(self) -> uuid.UUID | None:
        value = self.data.get("citizen_id")
        return uuid.UUID(value) if value else None


class SessionManager:
    def __init__(self, store: Store, *, secure: bool) -> None:
        self.store = store
        self.secure = secure

    @staticmethod
    def _key(tenant_id: str, session_id: str) -> str:
        return f"{tenant_id}:{session_id}"

    @classmethod
    def key_of(cls, request: Request[Any, Any, Any], tenant_id: uuid.UUID) -> str | None:
        """The store key of the request's session at this tenant, if its cookie has one."""
        sid = request.cookies.get(SESSION_COOKIE, "")
        return cls._key(str(tenant_id), sid) if sid and len(sid) <= 64 else None

    async def load(self, request: Request[Any, Any, Any], tenant_id: uuid.UUID) -> Session:
        """The request's session for this tenant, or a new empty one (not yet stored).

        Already read when the tenant middleware read it with the tenant's generation
        (``state["prefetched"]``, keyed by the id of the store and the key): used once, so
        that a second load in the same request, after a save, reads the store."""
        tid = str(tenant_id)
        now = time.time()
        sid = request.cookies.get(SESSION_COOKIE, "")
        if sid and len(sid) <= 64:
            key = self._key(tid, sid)
            prefetched = request.scope.get("state", {}).get("prefetched", {})
            found = (id(self.store), key)
            raw = prefetched.pop(found) if found in prefetched else await self.store.get(key)
            if raw is not None:
                stored = json.loads(raw)
                fresh = (
                    stored.get("tenant_id") == tid
                    and now - stored["last_seen"] < _idle_limit(stored.get("data", {}))
                    and now - stored["created"] < ABSOLUTE_SECONDS
                )
                if fresh:
                    session = Session(
                        sid, tid, stored["created"], stored["last_seen"], stored.get("data", {})
                    )
                    # Refresh the idle clock at most once a minute (fewer writes).
                    if now - session.last_seen > 60:
                        session.last_seen = now
                        session.changed = True
                    return session
                await self.store.delete(self._key(tid, sid))
        return Session(secrets.token_urlsafe(32), tid, now, now, {}, is_new=True)

    def rotate(self, session: Session) -> None:
        """A new id for the same data (login: no session fixation)."""
        session.old_id = session.old_id or session.id
        session.id = secrets.token_urlsafe(32)
        session.created = time.time()
        session.changed = True

    def clear(self, session: Session) -> None:
        session.data = {}
        session.deleted = True
        session.changed = True

    async def save(self, session: Session, response: Response[Any], path: str) -> None:
        """Store the session if it changed and set or delete the cookie on ``response``."""
        if session.old_id:
            await self.store.delete(self._key(session.tenant_id, session.old_id))
        if session.deleted:
            await self.store.delete(self._key(session.tenant_id, session.id))
            response.set_cookie(self._cookie("", path, max_age=0))
            return
        if not session.changed:
            return
        payload = {
            "tenant_id": session.tenant_id,
            "created": session.created,
            "last_seen": session.last_seen,
            "data": session.data,
        }
        remaining = int(ABSOLUTE_SECONDS - (time.time() - session.created))
        await self.store.set(
            self._key(session.tenant_id, session.id),
            json.dumps(payload),
            expires_in=max(1, min(IDLE_SECONDS, remaining)),
        )
        if session.is_new or session.old_id:
            response.set_cookie(self._cookie(session.id, path))

    def _cookie(self, value: str, path: str, max_age: int | None = None) -> Cookie:
        return Cookie(
            key=SESSION_COOKIE,
            value=value,
            path=path,
            httponly=True,
            samesite="lax",
            secure=self.secure,
            max_age=max_age,
        )

    async def end_all_for(self, tenant_id: uuid.UUID, citizen_id: uuid.UUID) -> None:
        """Other sessions of a citizen end through ``session_epoch`` (checked at each request);
        nothing to scan in the store."""
        return None
