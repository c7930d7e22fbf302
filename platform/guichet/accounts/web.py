"""Request-side helpers of the accounts domain: the session, rate limits, the signed-in citizen."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.accounts.captcha import CaptchaService
from guichet.accounts.models import Citizen, CitizenStatus
from guichet.accounts.services import AccountService
from guichet.notifications.services import enqueue_delivery
from guichet.tenancy.snapshot import TenantSnapshot
from guichet.web.ratelimit import Limit, RateLimiter
from guichet.web.sessions import Session, SessionManager

__all__ = [
    "LIMITS",
    "AccountsContext",
    "NotSignedIn",
    "client_ip",
    "login_ip_limit",
    "same_time_whatever_happened",
    "signup_limit",
]

ANSWER_SECONDS = 0.6


async def same_time_whatever_happened(started: float) -> None:
    """Answer after the same delay whether an account matched (token, email rendered, outbox
    row) or not, so that timing does not reveal who has an account."""
    await asyncio.sleep(max(0.0, ANSWER_SECONDS - (time.monotonic() - started)))


LIMITS = {
    # a username from one address: 5 free attempts, then 2 s, 4 s, … capped at 15 minutes
    "login_pair": Limit("login-pair", free=5, window=3600, base=2, cap=900),
    # a username from anywhere: more room and a short cap, so that someone trying from many
    # addresses slows down without keeping the citizen out for long
    "login_account": Limit("login-account", free=20, window=3600, base=2, cap=300),
    "captcha": Limit("captcha", free=20, window=3600, base=30, cap=3600),
    "access_key": Limit("access-key", free=5, window=3600, base=30, cap=3600),
    "reset": Limit("reset", free=5, window=3600, base=60, cap=3600),
}


def login_ip_limit(per_hour: int) -> Limit:
    """An address (``GUICHET_LOGINS_PER_IP_PER_HOUR``, room for a CCAS office's shared
    computer), then 2 s, 4 s, … capped at 15 minutes."""
    return Limit("login-ip", free=per_hour, window=3600, base=2, cap=900)


def signup_limit(per_hour: int) -> Limit:
    return Limit("signup", free=per_hour, window=3600, base=60, cap=3600)


class NotSignedIn(HTTPException):
    status_code = 303


def client_ip(request: Request[Any, Any, Any]) -> str:
    return (request.client.host if request.client else "") or "unknown"


@dataclass
class AccountsContext:
    request: Request[Any, Any, Any]
    tenant: TenantSnapshot
    db: AsyncSession
    session: Session
    manager: SessionManager
    accounts: AccountService
    limiter: RateLimiter
    captcha: CaptchaService
    # the version of the CGU in force, read with the citizen by citizen() (see terms_gate)
    terms_in_force: int | None = None
    terms_read: bool = False

    @property
    def base(self) -> str:
        return f"/{self.tenant.slug}"

    @property
    def ip(self) -> str:
        return client_ip(self.request)

    async def commit(self) -> None:
        """Commit, then hand the queued emails to a worker (after the commit, never before)."""
        await self.db.commit()
        enqueue_delivery(self.accounts.settings, self.accounts.queued)
        self.accounts.queued = []

    async def finish(self, response: Response[Any]) -> Response[Any]:
        await self.manager.save(self.session, response, self.base)
        return response

    async def redirect(self, path: str) -> Response[Any]:
        return await self.finish(Redirect(f"{self.base}{path}", status_code=303))

    async def citizen(self) -> Citizen | None:
        """The signed-in citizen, checked on every request: same tenant, still active, session
        not ended by a password change."""
        citizen_id = self.session.citizen_id
        if citizen_id is None:
            return None
        citizen, self.terms_in_force = await self.accounts.signed_in(citizen_id)
        self.terms_read = True
        if (
            citizen is None
            or citizen.status != CitizenStatus.ACTIVE
            or citizen.session_epoch != self.session.get("epoch")
        ):
            self.manager.clear(self.session)
            return None
        return citizen

    def sign_in(self, citizen: Citizen) -> None:
        self.manager.rotate(self.session)
        self.session.data = {"citizen_id": str(citizen.id), "epoch": citizen.session_epoch}
        self.session.changed = True

    def flash(self, message: str, kind: str = "info") -> None:
        self.session.set("flash", {"message": message, "kind": kind})

    def take_flash(self) -> dict[str, str] | None:
        if "flash" in self.session.data:
            return self.session.pop("flash")
        return None


def services_store(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.services.store


async def build_context(
    request: Request[Any, Any, Any], tenant: TenantSnapshot, db: AsyncSession
) -> AccountsContext:
    services = request.app.state.services
    settings = services.settings
    manager = SessionManager(services.namespace("sessions"), secure=settings.is_production)
    session = await manager.load(request, tenant.id)
    return AccountsContext(
        request=request,
        tenant=tenant,
        db=db,
        session=session,
        manager=manager,
        accounts=AccountService(db, tenant, settings, services.renderer),
        limiter=RateLimiter(services.namespace("ratelimit")),
        captcha=CaptchaService(
            services.namespace("captcha"), test_mode=settings.web.captcha_test_mode
        ),
    )


AFTER_LOGIN = "after_login"
AFTER_LOGIN_FOR = 30 * 60  # seconds: the next person at a shared computer starts at MON ACCUEIL
# A download asked for while signed out leads, once signed in, to the page it is on: a redirect
# to a file would leave the citizen on the sign-in page, thinking it failed.
_DOWNLOAD = re.compile(r"(/(pdf|telecharger|export|photo)|/recu/[^/]+)$")


def page_of(path: str) -> str:
    """The page of ``path``: itself, or for a download the page that offers it
    (``/mon-espace/factures/<id>/pdf`` → ``/mon-espace/factures/<id>``)."""
    return _DOWNLOAD.sub("", path) or "/mon-espace"


def after_login(stored: Any) -> str:
    """Where sign-in leads: the page kept by ``require_citizen`` if it is recent and safe."""
    if not isinstance(stored, dict) or not isinstance(stored.get("at"), int | float):
        return "/mon-espace"
    path = stored.get("path")
    fresh = 0 <= time.time() - stored["at"] <= AFTER_LOGIN_FOR
    return path if fresh and isinstance(path, str) and return_path(path) else "/mon-espace"


def return_path(target: Any) -> bool:
    """Whether ``target`` may be where sign-in leads: a path of the tenant's own (the tenant's
    base is put before it), printable, of reasonable length."""
    return (
        isinstance(target, str)
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and len(target) <= 512
        and all(" " < c <= "~" for c in target)
    )


def remember_page(ctx: AccountsContext, key: str) -> None:
    """Keep, under ``key`` of the session, the page a signed-out person asked for (a GET), so
    that sign-in leads there (see ``after_login``)."""
    if ctx.request.method != "GET":
        return
    path = ctx.request.url.path.removeprefix(ctx.base)
    query = ctx.request.url.query
    target = page_of(path)
    target += f"?{query}" if query and target == path else ""
    if return_path(target):
        ctx.session.set(key, {"path": target, "at": time.time()})


async def require_citizen(ctx: AccountsContext) -> Citizen | Response[Any]:
    """The signed-in citizen, or the response that sends them where they must go first."""
    from guichet.i18n import gettext as _

    citizen = await ctx.citizen()
    if citizen is None:
        remember_page(ctx, AFTER_LOGIN)  # back to this page once signed in (a link in an email)
        ctx.flash(
            _(
                "Votre session a expiré ou vous n'êtes pas connecté : identifiez-vous "
                "pour accéder à votre espace."
            ),
            "warning",
        )
        return await ctx.redirect("/")
    return await terms_gate(ctx, citizen)


async def terms_gate(ctx: AccountsContext, citizen: Citizen) -> Citizen | Response[Any]:
    """The citizen, or the page of the CGU version they have not accepted yet."""
    if ctx.terms_read:  # read with the citizen, in the same statement
        in_force = ctx.terms_in_force
    else:
        terms = await ctx.accounts.current_terms()
        in_force = terms.version if terms is not None else None
    if in_force is not None and citizen.terms_version < in_force:
        return await ctx.redirect("/cgu-a-accepter")
    return citizen


async def private_page(
    ctx: AccountsContext, template: str, citizen: Citizen, status_code: int = 200, **context: Any
) -> Response[Any]:
    """A page behind login: never cached, with the account bar."""
    from guichet.web.pages import render_page

    response = render_page(
        ctx.request,
        template,
        status_code=status_code,
        citizen=citizen,
        flash=ctx.take_flash(),
        signed_in=True,
        headers={"Cache-Control": "no-store"},
        **context,
    )
    return await ctx.finish(response)


async def provide_ctx(
    request: Request[Any, Any, Any], tenant: TenantSnapshot, db_session: AsyncSession
) -> AccountsContext:
    return await build_context(request, tenant, db_session)
