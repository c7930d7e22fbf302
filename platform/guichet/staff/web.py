"""Staff sign-in (``/{tenant}/agents/``): password, then the second factor (TOTP); the first
time, enrolment of an authenticator application; invitations accepted by choosing a password.
Staff share the server-side session of the tenant with citizens: signing in as staff ends a
citizen's session in that browser, and the reverse.

Roles decide what a staff member may open (:data:`PERMISSIONS`); a page outside one's role is
a 403, a page of another tenant is simply not there (the session belongs to its tenant).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Response, get, post
from litestar.di import Provide
from litestar.exceptions import PermissionDeniedException
from litestar.params import FromPath

from guichet.accounts.forms import valid_email
from guichet.accounts.passwords import check_password, hash_password
from guichet.accounts.web import (
    LIMITS,
    AccountsContext,
    after_login,
    login_ip_limit,
    provide_ctx,
    remember_page,
    same_time_whatever_happened,
)
from guichet.audit.services import audit
from guichet.i18n import gettext as _
from guichet.operators.onboarding import invitation_email
from guichet.staff import twofactor
from guichet.staff.models import StaffRole, StaffUser
from guichet.staff.services import STAFF_POLICY, StaffService
from guichet.web.errors import ROLE_REFUSED
from guichet.web.pages import render_page
from guichet.web.ratelimit import Limit

__all__ = [
    "PERMISSIONS",
    "StaffAuthController",
    "confirm_first",
    "confirmed",
    "current_staff",
    "require_staff",
    "staff_audit",
    "staff_link_email",
    "staff_page",
]

# What each role may open. The administrator may open everything.
PERMISSIONS: dict[str, set[StaffRole]] = {
    "dashboard": {StaffRole.ADMIN, StaffRole.AGENT, StaffRole.CASHIER},
    "requests": {StaffRole.ADMIN, StaffRole.AGENT},
    "citizens": {StaffRole.ADMIN, StaffRole.AGENT},
    "billing": {StaffRole.ADMIN, StaffRole.CASHIER},
    "settings": {StaffRole.ADMIN},
}
CODE_LIMIT = Limit("staff-code", free=5, window=900, base=30, cap=900)
PENDING_SECONDS = 300  # between the password and the code


async def current_staff(ctx: AccountsContext) -> StaffUser | None:
    raw = ctx.session.get("staff_id")
    if not raw:
        return None
    try:
        staff_id = uuid.UUID(raw)
    except ValueError:
        return None
    user = await StaffService(ctx.db, ctx.tenant.id).get(staff_id)
    if (
        user is None
        or not user.active
        or not user.totp_secret
        or user.session_epoch != ctx.session.get("staff_epoch")
    ):
        ctx.manager.clear(ctx.session)
        return None
    return user


def missing_credentials(email: str, password: str) -> str:
    """What an agents' or operators' sign-in form left empty, in a sentence."""
    if not email and not password:
        return _("Saisissez votre adresse de courriel et votre mot de passe.")
    if not email:
        return _("Saisissez votre adresse de courriel.")
    return _("Saisissez votre mot de passe.")


async def require_staff(
    ctx: AccountsContext, permission: str = "dashboard"
) -> StaffUser | Response[Any]:
    """The signed-in staff member allowed ``permission``; the sign-in page when nobody is
    signed in; 403 when their role does not allow it."""
    user = await current_staff(ctx)
    if user is None:
        remember_page(ctx, STAFF_AFTER_LOGIN)  # back to this page once signed in
        ctx.flash(_("Identifiez-vous pour accéder à l'espace agents."), "info")
        return await ctx.redirect("/agents/connexion")
    if user.role not in PERMISSIONS[permission]:
        raise PermissionDeniedException(detail=ROLE_REFUSED)
    return user


def staff_audit(
    ctx: AccountsContext,
    user: StaffUser,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    audit(
        ctx.db,
        tenant_id=ctx.tenant.id,
        actor_kind="staff",
        actor_id=user.id,
        actor_name=f"{user.name} <{user.email}>",
        action=action,
        target=target,
        detail=detail,
        ip=ctx.ip,
    )


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
        permissions={
            name: staff is not None and staff.role in roles for name, roles in PERMISSIONS.items()
        },
        flash=ctx.take_flash(),
        headers={"Cache-Control": "no-store"},
        **context,
    )
    return await ctx.finish(response)


def confirmed(form: Any) -> bool:
    """Whether a form comes from the confirmation page (:func:`confirm_first`)."""
    return form.get("confirmation") == "oui"


async def confirm_first(
    ctx: AccountsContext,
    staff: StaffUser,
    *,
    title: str,
    explanation: list[str],
    action: str,
    button: str,
    back: str,
    fields: dict[str, str] | None = None,
) -> Response[Any]:
    """The page that asks a staff member to confirm an action that cannot be undone (cancel an
    invoice, revoke a token, send emails…): what will happen, the button that does it (the same
    form again, with ``confirmation=oui``) and a way back. It works without JavaScript; a
    refresh of the result is a GET, never the action again."""
    return await staff_page(
        ctx,
        "admin/confirm.html",
        staff,
        title=title,
        explanation=explanation,
        action=f"{ctx.base}{action}",
        fields=fields or {},
        button=button,
        back=f"{ctx.base}{back}",
        page_title=title,
    )


async def check_sign_in_code(
    db: Any,
    limiter: Any,
    scope: str,
    model: Any,
    user: Any,
    code: Any,
    secret_keys: tuple[str, ...],
) -> tuple[bool, int]:
    """(accepted, wait in seconds) for the code typed at sign-in by a staff member or an
    operator: every try is counted (5, then growing waits); a right code's step is claimed
    atomically, so that it serves once."""
    if not _typed(code):  # asked for (code_error), not counted as a try
        return False, 0
    wait = await limiter.attempt(CODE_LIMIT, scope, str(user.id))
    if wait:
        return False, wait
    secret = twofactor.decrypt_secret(secret_keys, user.totp_secret)
    step = twofactor.check_code(secret, code if isinstance(code, str) else "", user.totp_step)
    if step is None or not await twofactor.claim_step(db, model, user.id, step):
        return False, 0
    await limiter.reset(CODE_LIMIT, scope, str(user.id))
    user.totp_step = step
    return True, 0


def _typed(code: Any) -> str:
    return code.strip() if isinstance(code, str) else ""


def code_error(wait: int, code: Any = "") -> str:
    """Why a sign-in code was not taken (``code``: what was typed)."""
    if wait:
        return _("Trop d'essais : réessayez dans %(seconds)s secondes.", seconds=wait)
    if not _typed(code):
        return _("Saisissez le code à six chiffres que montre l'application.")
    return _("Code incorrect ou déjà utilisé : saisissez le code affiché maintenant.")


def _home(user: StaffUser) -> str:
    return "/agents/demandes/" if user.role == StaffRole.AGENT else "/admin/"


# The page a staff member asked for while signed out (a link in an email, an expired session):
# sign-in leads there, as it does for citizens; kept apart from theirs, so that a citizen who
# signs in next at a shared computer is not sent to the agents' pages, nor an agent to theirs.
STAFF_AFTER_LOGIN = "staff_after_login"


def _after_sign_in(stored: Any, user: StaffUser) -> str:
    path = after_login(stored)  # « /mon-espace » when nothing recent and safe was kept
    return path if path.startswith(("/agents/", "/admin")) else _home(user)


def staff_link_email(ctx: AccountsContext, kind: str, user: StaffUser, token: str) -> uuid.UUID:
    """Queue an email that carries a link to choose a password (``staff_password_reset``,
    ``staff_access_reset``); returns the outbox id to hand to a worker after the commit."""
    renderer = ctx.request.app.state.services.renderer
    return invitation_email(
        ctx.db, renderer, ctx.accounts.settings, ctx.tenant, user, token, kind=kind
    )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class StaffAuthController(Controller):
    path = "/agents"
    dependencies = {"ctx": Provide(provide_ctx)}

    def _secret_keys(self, ctx: AccountsContext) -> tuple[str, ...]:
        return tuple(ctx.accounts.settings.web.secret_keys)

    async def _pending(self, ctx: AccountsContext, key: str) -> StaffUser | None:
        """The staff member between two steps (password done, code or enrolment to do)."""
        raw = ctx.session.get(key)
        started = ctx.session.get(f"{key}_at", 0)
        if not raw or time.time() - float(started) > PENDING_SECONDS:
            return None
        try:
            user = await StaffService(ctx.db, ctx.tenant.id).get(uuid.UUID(raw))
        except ValueError:
            return None
        if user is None or not user.active:
            return None
        # an administrator's reset (or a new password) meanwhile ends a half-done sign-in too
        return user if user.session_epoch == ctx.session.get(f"{key}_epoch") else None

    async def _sign_in(self, ctx: AccountsContext, user: StaffUser) -> Response[Any]:
        target = _after_sign_in(ctx.session.get(STAFF_AFTER_LOGIN), user)
        ctx.manager.rotate(ctx.session)
        ctx.session.data = {"staff_id": str(user.id), "staff_epoch": user.session_epoch}
        ctx.session.changed = True
        user.last_login_at = datetime.now(UTC)
        staff_audit(ctx, user, "staff.login")
        await ctx.commit()
        return await ctx.redirect(target)

    def _start(self, ctx: AccountsContext, key: str, user: StaffUser) -> None:
        kept = ctx.session.get(STAFF_AFTER_LOGIN)  # through the code step to the sign-in
        ctx.manager.rotate(ctx.session)
        ctx.session.data = {
            key: str(user.id),
            f"{key}_at": time.time(),
            f"{key}_epoch": user.session_epoch,
        }
        if kept is not None:
            ctx.session.data[STAFF_AFTER_LOGIN] = kept
        ctx.session.changed = True

    @get("/connexion", name="staff:login")
    async def login(self, ctx: AccountsContext) -> Response[Any]:
        user = await current_staff(ctx)
        if user is not None:
            return await ctx.redirect(_home(user))
        return await staff_page(
            ctx,
            "agents/login.html",
            None,
            values={},
            error="",
            action=f"{ctx.base}/agents/connexion",
            forgot=f"{ctx.base}/agents/mot-de-passe-oublie",
            heading=_("Espace agents"),
            page_title=_("Espace agents"),
        )

    @post("/connexion", name="staff:login_post")
    async def login_post(self, ctx: AccountsContext) -> Response[Any]:
        form = await ctx.request.form()
        email = form.get("email", "")
        password = form.get("password", "")
        email = email.strip()[:254] if isinstance(email, str) else ""
        password = password[:200] if isinstance(password, str) else ""
        tid = str(ctx.tenant.id)
        pair = f"staff:{email.lower()}:{ctx.ip}"
        empty = not email or not password  # said as such, and not counted as an attempt
        wait = 0
        if not empty:
            wait = max(
                await ctx.limiter.attempt(LIMITS["login_pair"], tid, pair),
                await ctx.limiter.attempt(
                    login_ip_limit(ctx.accounts.settings.web.logins_per_ip_per_hour),
                    tid,
                    f"staff:{ctx.ip}",
                ),
            )
        error = ""
        if empty:
            error = missing_credentials(email, password)
        elif wait:
            error = _("Trop d'essais : réessayez dans %(seconds)s secondes.", seconds=wait)
        else:
            user = await StaffService(ctx.db, ctx.tenant.id).authenticate(email, password)
            if user is None:
                error = _("Adresse de courriel ou mot de passe incorrect.")
            else:
                await ctx.limiter.reset(LIMITS["login_pair"], tid, pair)
                if user.totp_secret:
                    self._start(ctx, "staff_pending", user)
                    await ctx.commit()
                    return await ctx.redirect("/agents/connexion/code")
                self._start(ctx, "staff_enrol", user)
                await ctx.commit()
                return await ctx.redirect("/agents/double-authentification")
        return await staff_page(
            ctx,
            "agents/login.html",
            None,
            status_code=429 if wait else 400,
            values={"email": email},
            error=error,
            action=f"{ctx.base}/agents/connexion",
            forgot=f"{ctx.base}/agents/mot-de-passe-oublie",
            heading=_("Espace agents"),
            page_title=_("Espace agents"),
        )

    @get("/connexion/code", name="staff:code")
    async def code(self, ctx: AccountsContext) -> Response[Any]:
        if await self._pending(ctx, "staff_pending") is None:
            return await ctx.redirect("/agents/connexion")
        return await staff_page(
            ctx,
            "agents/code.html",
            None,
            error="",
            action=f"{ctx.base}/agents/connexion/code",
            page_title=_("Code de vérification"),
        )

    @post("/connexion/code", name="staff:code_post")
    async def code_post(self, ctx: AccountsContext) -> Response[Any]:
        user = await self._pending(ctx, "staff_pending")
        if user is None:
            ctx.flash(_("Le délai est passé : identifiez-vous de nouveau."), "warning")
            return await ctx.redirect("/agents/connexion")
        form = await ctx.request.form()
        accepted, wait = await check_sign_in_code(
            ctx.db,
            ctx.limiter,
            str(ctx.tenant.id),
            StaffUser,
            user,
            form.get("code"),
            self._secret_keys(ctx),
        )
        if not accepted:
            return await staff_page(
                ctx,
                "agents/code.html",
                None,
                status_code=429 if wait else 400,
                error=code_error(wait, form.get("code")),
                action=f"{ctx.base}/agents/connexion/code",
                page_title=_("Code de vérification"),
            )
        return await self._sign_in(ctx, user)

    async def _enrol_page(
        self, ctx: AccountsContext, user: StaffUser, error: str = "", status_code: int = 200
    ) -> Response[Any]:
        secret = ctx.session.get("staff_enrol_secret")
        if not secret:
            secret = twofactor.new_secret()
            ctx.session.set("staff_enrol_secret", secret)
        uri = twofactor.provisioning_uri(secret, user.email, f"Guichet {ctx.tenant.short_name}")
        return await staff_page(
            ctx,
            "agents/enrol.html",
            None,
            status_code=status_code,
            secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            qr=twofactor.qr_svg(uri, _("Code QR à scanner avec votre application")),
            error=error,
            action=f"{ctx.base}/agents/double-authentification",
            page_title=_("Double authentification"),
        )

    @get("/double-authentification", name="staff:enrol")
    async def enrol(self, ctx: AccountsContext) -> Response[Any]:
        user = await self._pending(ctx, "staff_enrol")
        if user is None or user.totp_secret:  # enrolled meanwhile: the code is asked instead
            return await ctx.redirect("/agents/connexion")
        return await self._enrol_page(ctx, user)

    @post("/double-authentification", name="staff:enrol_post")
    async def enrol_post(self, ctx: AccountsContext) -> Response[Any]:
        user = await self._pending(ctx, "staff_enrol")
        secret = ctx.session.get("staff_enrol_secret")
        if user is None or not secret or user.totp_secret:
            ctx.flash(_("Le délai est passé : identifiez-vous de nouveau."), "warning")
            return await ctx.redirect("/agents/connexion")
        form = await ctx.request.form()
        code = form.get("code", "")
        wait = await ctx.limiter.attempt(CODE_LIMIT, str(ctx.tenant.id), str(user.id))
        step = (
            None if wait else twofactor.check_code(secret, code if isinstance(code, str) else "", 0)
        )
        if step is None:
            return await self._enrol_page(
                ctx,
                user,
                _("Code incorrect : saisissez le code à six chiffres que montre l'application."),
                status_code=400,
            )
        user.totp_secret = twofactor.encrypt_secret(self._secret_keys(ctx), secret)
        user.totp_step = step
        staff_audit(ctx, user, "staff.second_factor_enrolled")
        return await self._sign_in(ctx, user)

    async def _choose_page(
        self,
        ctx: AccountsContext,
        user: StaffUser,
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Response[Any]:
        """Choosing a password by an emailed link: an invitation, an administrator's reset (no
        password left) or a forgotten password (the password kept until then)."""
        return await staff_page(
            ctx,
            "agents/invitation.html",
            None,
            status_code=status_code,
            invited=user,
            errors=errors,
            policy=_("12 caractères au moins, dont une majuscule, une minuscule et un chiffre."),
            page_title=(
                _("Nouveau mot de passe")
                if user.password_hash or user.last_login_at
                else _("Bienvenue dans l'espace agents")
            ),
        )

    @get("/invitation/{token:str}", name="staff:invitation")
    async def invitation(self, ctx: AccountsContext, token: FromPath[str]) -> Response[Any]:
        user = await self._invited(ctx, token)
        if user is None:
            return await self._link_gone(ctx)
        return await self._choose_page(ctx, user, {})

    async def _link_gone(self, ctx: AccountsContext) -> Response[Any]:
        """A link already used, replaced by a newer one, or past its time: said so, with the
        ways on (a 404 all the same: whether a token ever existed is not told)."""
        return await staff_page(
            ctx,
            "agents/link_gone.html",
            None,
            status_code=404,
            page_title=_("Ce lien ne sert plus"),
        )

    async def _invited(self, ctx: AccountsContext, token: str) -> StaffUser | None:
        return await StaffService(ctx.db, ctx.tenant.id).by_invitation(token_hash(token[:100]))

    @post("/invitation/{token:str}", name="staff:invitation_post")
    async def invitation_post(self, ctx: AccountsContext, token: FromPath[str]) -> Response[Any]:
        user = await self._invited(ctx, token)
        if user is None:
            return await self._link_gone(ctx)
        form = await ctx.request.form()
        password = form.get("password", "")
        confirmation = form.get("password_confirmation", "")
        password = password if isinstance(password, str) else ""
        errors: dict[str, str] = {}
        problems = check_password(password, STAFF_POLICY, [user.email, user.name])
        if problems:
            errors["password"] = " ".join(problems)
        elif password != confirmation:
            errors["password_confirmation"] = _("Les deux mots de passe sont différents.")
        if errors:
            return await self._choose_page(ctx, user, errors, status_code=400)
        # a forgotten password (the old one kept until now) or an administrator's reset (a
        # member who signed in before) is a new password; otherwise an invitation accepted
        renewed = bool(user.password_hash) or user.last_login_at is not None
        user.password_hash = await asyncio.to_thread(hash_password, password)
        user.invite_hash = None
        user.invite_expires_at = None
        user.session_epoch += 1
        staff_audit(ctx, user, "staff.password_reset" if renewed else "staff.invitation_accepted")
        if user.totp_secret:  # a forgotten password: the second factor is still asked
            self._start(ctx, "staff_pending", user)
            await ctx.commit()
            ctx.flash(
                _(
                    "Votre mot de passe est changé. Saisissez le code de votre application pour "
                    "vous connecter."
                ),
                "success",
            )
            return await ctx.redirect("/agents/connexion/code")
        self._start(ctx, "staff_enrol", user)
        await ctx.commit()
        return await ctx.redirect("/agents/double-authentification")

    async def _forgot_page(
        self,
        ctx: AccountsContext,
        *,
        sent: bool = False,
        email: str = "",
        error: str = "",
    ) -> Response[Any]:
        return await staff_page(
            ctx,
            "agents/forgot.html",
            None,
            status_code=400 if error else 200,
            values={"email": email},
            errors={"email": error} if error else {},
            sent=sent,
            page_title=_("Mot de passe oublié"),
        )

    @get("/mot-de-passe-oublie", name="staff:forgot")
    async def forgot_page(self, ctx: AccountsContext) -> Response[Any]:
        return await self._forgot_page(ctx)

    @post("/mot-de-passe-oublie", name="staff:forgot_post")
    async def forgot(self, ctx: AccountsContext) -> Response[Any]:
        form = await ctx.request.form()
        email = form.get("email", "")
        email = email.strip()[:254] if isinstance(email, str) else ""
        if not valid_email(email.lower()):
            return await self._forgot_page(
                ctx,
                email=email,
                error=_("Indiquez l'adresse de courriel avec laquelle vous vous connectez.")
                if not email
                else _("Adresse de courriel invalide, par exemple : prenom.nom@exemple.fr"),
            )
        started = time.monotonic()
        tid = str(ctx.tenant.id)
        subject = f"staff:{email.lower()}"
        if not await ctx.limiter.retry_after(
            LIMITS["reset"], tid, f"staff:{ctx.ip}"
        ) and not await ctx.limiter.retry_after(LIMITS["reset"], tid, subject):
            await ctx.limiter.hit(LIMITS["reset"], tid, f"staff:{ctx.ip}")
            await ctx.limiter.hit(LIMITS["reset"], tid, subject)
            found = await StaffService(ctx.db, ctx.tenant.id).request_reset(email)
            if found is not None:
                user, token = found
                ctx.accounts.queued.append(
                    staff_link_email(ctx, "staff_password_reset", user, token)
                )
                staff_audit(ctx, user, "staff.password_reset_asked")
                await ctx.commit()
        await same_time_whatever_happened(started)
        return await self._forgot_page(ctx, sent=True)

    @post("/deconnexion", name="staff:logout")
    async def logout(self, ctx: AccountsContext) -> Response[Any]:
        user = await current_staff(ctx)
        if user is not None:
            staff_audit(ctx, user, "staff.logout")
            await ctx.commit()
        ctx.session.data = {}
        ctx.manager.rotate(ctx.session)
        ctx.flash(_("Vous êtes déconnecté de l'espace agents."), "info")
        return await ctx.redirect("/agents/connexion")
