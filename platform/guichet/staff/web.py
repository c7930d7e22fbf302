"""Staff sign-in for the agents' pages (``/{tenant}/agents/``), on the same server-side session
as citizens': signing in as staff ends a citizen's session in that browser, and the reverse."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Response, get, post
from litestar.di import Provide

from guichet.accounts.web import LIMITS, AccountsContext, provide_ctx
from guichet.i18n import gettext as _
from guichet.staff.models import StaffUser
from guichet.staff.services import StaffService
from guichet.web.pages import render_page

__all__ = ["StaffAuthController", "require_staff", "staff_page"]


async def current_staff(ctx: AccountsContext) -> StaffUser | None:
    raw = ctx.session.get("staff_id")
    if not raw:
        return None
    try:
        staff_id = uuid.UUID(raw)
    except ValueError:
        return None
    user = await StaffService(ctx.db, ctx.tenant.id).get(staff_id)
    if user is None or not user.active or user.session_epoch != ctx.session.get("staff_epoch"):
        ctx.manager.clear(ctx.session)
        return None
    return user


async def require_staff(ctx: AccountsContext) -> StaffUser | Response[Any]:
    user = await current_staff(ctx)
    if user is None:
        ctx.flash(_("Identifiez-vous pour accéder à l'espace agents."), "warning")
        return await ctx.redirect("/agents/connexion")
    return user


async def staff_page(
    ctx: AccountsContext,
    template: str,
    staff: StaffUser | None,
    status_code: int = 200,
    **context: Any,
) -> Response[Any]:
    response = render_page(
        ctx.request,
        template,
        status_code=status_code,
        staff=staff,
        flash=ctx.take_flash(),
        headers={"Cache-Control": "no-store"},
        **context,
    )
    return await ctx.finish(response)


class StaffAuthController(Controller):
    path = "/agents"
    dependencies = {"ctx": Provide(provide_ctx)}

    @get("/connexion", name="staff:login")
    async def login(self, ctx: AccountsContext) -> Response[Any]:
        if await current_staff(ctx) is not None:
            return await ctx.redirect("/agents/demandes/")
        return await staff_page(
            ctx, "agents/login.html", None, values={}, error="", page_title=_("Espace agents")
        )

    @post("/connexion", name="staff:login_post")
    async def login_post(self, ctx: AccountsContext) -> Response[Any]:
        form = await ctx.request.form()
        email = form.get("email", "")
        password = form.get("password", "")
        email = email.strip()[:254] if isinstance(email, str) else ""
        password = password[:200] if isinstance(password, str) else ""
        tid = str(ctx.tenant.id)
        wait = max(
            await ctx.limiter.attempt(LIMITS["login_pair"], tid, f"staff:{email.lower()}:{ctx.ip}"),
            await ctx.limiter.attempt(LIMITS["login_ip"], tid, f"staff:{ctx.ip}"),
        )
        error = ""
        if wait:
            error = _("Trop d'essais : réessayez dans %(seconds)s secondes.", seconds=wait)
        else:
            user = await StaffService(ctx.db, ctx.tenant.id).authenticate(email, password)
            if user is None:
                error = _("Adresse de courriel ou mot de passe incorrect.")
            else:
                await ctx.limiter.reset(
                    LIMITS["login_pair"], tid, f"staff:{email.lower()}:{ctx.ip}"
                )
                ctx.manager.rotate(ctx.session)
                ctx.session.data = {"staff_id": str(user.id), "staff_epoch": user.session_epoch}
                ctx.session.changed = True
                await ctx.commit()
                return await ctx.redirect("/agents/demandes/")
        return await staff_page(
            ctx,
            "agents/login.html",
            None,
            status_code=429 if wait else 400,
            values={"email": email},
            error=error,
            page_title=_("Espace agents"),
        )

    @post("/deconnexion", name="staff:logout")
    async def logout(self, ctx: AccountsContext) -> Response[Any]:
        ctx.session.data = {}
        ctx.manager.rotate(ctx.session)
        ctx.flash(_("Vous êtes déconnecté de l'espace agents."), "info")
        return await ctx.redirect("/agents/connexion")
