"""Platform operators (``/operator/``): sign-in with a password and the second factor, the
tenants with their figures, onboarding a new tenant (its first administrator is invited by
email), and putting a tenant in maintenance, suspending or resuming it. Every action is in the
audit log (the platform's own lines, and the tenant's for what concerns it).

Operators have their own session (cookie path ``/operator``, store key of the platform), never
a tenant's: a tenant's staff session opens nothing here, and an operator's opens no tenant page.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
import tomllib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.accounts.forms import valid_email
from guichet.accounts.passwords import hash_password, needs_rehash, verify_password
from guichet.accounts.web import LIMITS, client_ip, login_ip_limit
from guichet.audit.services import audit, audit_lines
from guichet.i18n import N_, format_bytes, ngettext
from guichet.i18n import gettext as _
from guichet.notifications.services import enqueue_delivery
from guichet.operators.archive import (
    delete_tenant,
    delete_tenant_files,
    export_tenant,
    recent_export,
)
from guichet.operators.health import system_checks
from guichet.operators.onboarding import (
    invitation_email,
    onboard_tenant,
    reinvite_admins,
    tenant_figures,
)
from guichet.staff import twofactor
from guichet.staff.models import Operator, StaffRole
from guichet.staff.services import StaffService
from guichet.staff.web import (
    CODE_LIMIT,
    PENDING_SECONDS,
    check_sign_in_code,
    code_error,
    missing_credentials,
)
from guichet.tenancy.catalog import CatalogError, apply_catalog, load_catalog
from guichet.tenancy.models import Tenant, TenantKind, TenantStatus
from guichet.tenancy.slugs import slug_problem
from guichet.tenancy.snapshot import TenantSnapshot
from guichet.web.pages import download_response, render_page, services_of
from guichet.web.ratelimit import RateLimiter
from guichet.web.sessions import Session, SessionManager

__all__ = ["PLATFORM", "OperatorController"]

PLATFORM = uuid.UUID(int=0)  # the session "tenant" of operators
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
BASE = "/operator"


STATUS_LABELS = {
    TenantStatus.ACTIVE: N_("en service"),
    TenantStatus.MAINTENANCE: N_("en maintenance"),
    TenantStatus.SUSPENDED: N_("suspendu"),
}


@dataclass
class OperatorContext:
    request: Request[Any, Any, Any]
    db: AsyncSession
    session: Session
    manager: SessionManager
    limiter: RateLimiter

    @property
    def settings(self) -> Any:
        return services_of(self.request).settings

    @property
    def ip(self) -> str:
        return client_ip(self.request)

    def flash(self, message: str, kind: str = "info") -> None:
        self.session.set("flash", {"message": message, "kind": kind})

    async def finish(self, response: Response[Any]) -> Response[Any]:
        await self.manager.save(self.session, response, BASE)
        return response

    async def redirect(self, path: str) -> Response[Any]:
        return await self.finish(Redirect(f"{BASE}{path}", status_code=303))

    async def page(
        self, template: str, operator: Operator | None, status_code: int = 200, **context: Any
    ) -> Response[Any]:
        flash = self.session.pop("flash") if "flash" in self.session.data else None
        response = render_page(
            self.request,
            template,
            status_code=status_code,
            operator=operator,
            flash=flash,
            headers={"Cache-Control": "no-store"},
            **context,
        )
        return await self.finish(response)

    async def current(self) -> Operator | None:
        raw = self.session.get("operator_id")
        if not raw:
            return None
        try:
            operator = await self.db.get(Operator, uuid.UUID(raw))
        except ValueError:
            return None
        if (
            operator is None
            or not operator.active
            or not operator.totp_secret
            or operator.session_epoch != self.session.get("operator_epoch")
        ):
            self.manager.clear(self.session)
            return None
        return operator

    def audit(self, operator: Operator, action: str, tenant_id: Any = None, **detail: Any) -> None:
        audit(
            self.db,
            tenant_id=tenant_id,
            actor_kind="operator",
            actor_id=operator.id,
            actor_name=f"{operator.name} <{operator.email}>",
            action=action,
            target=str(detail.pop("target", "")),
            detail=detail,
            ip=self.ip,
        )


async def provide_operator_ctx(request: Request[Any, Any, Any]) -> Any:
    services = services_of(request)
    manager = SessionManager(services.namespace("sessions"), secure=services.settings.is_production)
    session = await manager.load(request, PLATFORM)
    async with services.db.session(all_tenants=True) as db:
        yield OperatorContext(
            request=request,
            db=db,
            session=session,
            manager=manager,
            limiter=RateLimiter(services.namespace("ratelimit")),
        )


class OperatorController(Controller):
    include_in_schema = False  # pages, not the JSON API
    path = BASE
    dependencies = {"octx": Provide(provide_operator_ctx)}

    # -- sign-in -------------------------------------------------------------------------------
    async def _pending(self, octx: OperatorContext, key: str) -> Operator | None:
        raw = octx.session.get(key)
        started = octx.session.get(f"{key}_at", 0)
        if not raw or time.time() - float(started) > PENDING_SECONDS:
            return None
        try:
            operator = await octx.db.get(Operator, uuid.UUID(raw))
        except ValueError:
            return None
        return operator if operator is not None and operator.active else None

    def _start(self, octx: OperatorContext, key: str, operator: Operator) -> None:
        octx.manager.rotate(octx.session)
        octx.session.data = {key: str(operator.id), f"{key}_at": time.time()}
        octx.session.changed = True

    async def _sign_in(self, octx: OperatorContext, operator: Operator) -> Response[Any]:
        octx.manager.rotate(octx.session)
        octx.session.data = {
            "operator_id": str(operator.id),
            "operator_epoch": operator.session_epoch,
        }
        octx.session.changed = True
        operator.last_login_at = datetime.now(UTC)
        octx.audit(operator, "operator.login")
        await octx.db.commit()
        return await octx.redirect("/")

    async def _require(self, octx: OperatorContext) -> Operator | Response[Any]:
        operator = await octx.current()
        if operator is None:
            octx.flash(_("Identifiez-vous pour accéder à l'espace des opérateurs."), "info")
            return await octx.redirect("/connexion")
        return operator

    @get("/connexion", name="operator:login")
    async def login(self, octx: OperatorContext) -> Response[Any]:
        return await octx.page(
            "agents/login.html",
            None,
            values={},
            error="",
            action=f"{BASE}/connexion",
            heading=_("Espace des opérateurs"),
            page_title=_("Opérateurs"),
        )

    @post("/connexion", name="operator:login_post")
    async def login_post(self, octx: OperatorContext) -> Response[Any]:
        form = await octx.request.form()
        email = form.get("email", "")
        password = form.get("password", "")
        email = email.strip().lower()[:254] if isinstance(email, str) else ""
        password = password[:200] if isinstance(password, str) else ""
        empty = not email or not password  # said as such, and not counted as an attempt
        wait = 0
        if not empty:
            wait = max(
                await octx.limiter.attempt(LIMITS["login_pair"], "platform", f"{email}:{octx.ip}"),
                await octx.limiter.attempt(
                    login_ip_limit(octx.settings.web.logins_per_ip_per_hour), "platform", octx.ip
                ),
            )
        error = ""
        if empty:
            error = missing_credentials(email, password)
        elif wait:
            error = _("Trop d'essais : réessayez dans %(seconds)s secondes.", seconds=wait)
        else:
            operator = await octx.db.scalar(select(Operator).where(Operator.email == email))
            valid = await asyncio.to_thread(
                verify_password, operator.password_hash if operator else None, password
            )
            if operator is None or not operator.active or not valid:
                error = _("Adresse de courriel ou mot de passe incorrect.")
            else:
                await octx.limiter.reset(LIMITS["login_pair"], "platform", f"{email}:{octx.ip}")
                if needs_rehash(operator.password_hash):
                    operator.password_hash = await asyncio.to_thread(hash_password, password)
                key = "operator_pending" if operator.totp_secret else "operator_enrol"
                self._start(octx, key, operator)
                await octx.db.commit()
                return await octx.redirect(
                    "/connexion/code" if operator.totp_secret else "/double-authentification"
                )
        return await octx.page(
            "agents/login.html",
            None,
            status_code=429 if wait else 400,
            values={"email": email},
            error=error,
            action=f"{BASE}/connexion",
            heading=_("Espace des opérateurs"),
            page_title=_("Opérateurs"),
        )

    @get("/connexion/code", name="operator:code")
    async def code(self, octx: OperatorContext) -> Response[Any]:
        if await self._pending(octx, "operator_pending") is None:
            return await octx.redirect("/connexion")
        return await octx.page(
            "agents/code.html",
            None,
            error="",
            action=f"{BASE}/connexion/code",
            page_title=_("Code de vérification"),
        )

    @post("/connexion/code", name="operator:code_post")
    async def code_post(self, octx: OperatorContext) -> Response[Any]:
        operator = await self._pending(octx, "operator_pending")
        if operator is None:
            octx.flash(_("Le délai est passé : identifiez-vous de nouveau."), "warning")
            return await octx.redirect("/connexion")
        form = await octx.request.form()
        accepted, wait = await check_sign_in_code(
            octx.db,
            octx.limiter,
            "platform",
            Operator,
            operator,
            form.get("code"),
            octx.settings.web.secret_keys,
        )
        if not accepted:
            return await octx.page(
                "agents/code.html",
                None,
                action=f"{BASE}/connexion/code",
                status_code=429 if wait else 400,
                error=code_error(wait, form.get("code")),
                page_title=_("Code de vérification"),
            )
        return await self._sign_in(octx, operator)

    async def _enrol_page(
        self, octx: OperatorContext, operator: Operator, error: str = "", status_code: int = 200
    ) -> Response[Any]:
        secret = octx.session.get("operator_enrol_secret")
        if not secret:
            secret = twofactor.new_secret()
            octx.session.set("operator_enrol_secret", secret)
        uri = twofactor.provisioning_uri(secret, operator.email, "Guichet (opérateurs)")
        return await octx.page(
            "agents/enrol.html",
            None,
            action=f"{BASE}/double-authentification",
            status_code=status_code,
            secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            qr=twofactor.qr_svg(uri, _("Code QR à scanner avec votre application")),
            error=error,
            page_title=_("Double authentification"),
            operator_space=True,
        )

    @get("/double-authentification", name="operator:enrol")
    async def enrol(self, octx: OperatorContext) -> Response[Any]:
        operator = await self._pending(octx, "operator_enrol")
        if operator is None or operator.totp_secret:
            return await octx.redirect("/connexion")
        return await self._enrol_page(octx, operator)

    @post("/double-authentification", name="operator:enrol_post")
    async def enrol_post(self, octx: OperatorContext) -> Response[Any]:
        operator = await self._pending(octx, "operator_enrol")
        secret = octx.session.get("operator_enrol_secret")
        if operator is None or not secret or operator.totp_secret:
            octx.flash(_("Le délai est passé : identifiez-vous de nouveau."), "warning")
            return await octx.redirect("/connexion")
        form = await octx.request.form()
        code = form.get("code", "")
        wait = await octx.limiter.attempt(CODE_LIMIT, "platform", str(operator.id))
        step = (
            None if wait else twofactor.check_code(secret, code if isinstance(code, str) else "", 0)
        )
        if step is None:
            return await self._enrol_page(
                octx,
                operator,
                _("Code incorrect : saisissez le code à six chiffres que montre l'application."),
                status_code=400,
            )
        operator.totp_secret = twofactor.encrypt_secret(octx.settings.web.secret_keys, secret)
        operator.totp_step = step
        octx.audit(operator, "operator.second_factor_enrolled")
        return await self._sign_in(octx, operator)

    @post("/deconnexion", name="operator:logout")
    async def logout(self, octx: OperatorContext) -> Response[Any]:
        octx.session.data = {}
        octx.manager.rotate(octx.session)
        octx.flash(_("Vous êtes déconnecté de l'espace des opérateurs."), "info")
        return await octx.redirect("/connexion")

    # -- tenants -------------------------------------------------------------------------------
    @get("/", name="operator:tenants")
    async def tenants(self, octx: OperatorContext) -> Response[Any]:
        operator = await self._require(octx)
        if not isinstance(operator, Operator):
            return operator
        tenants = list((await octx.db.execute(select(Tenant).order_by(Tenant.name))).scalars())
        return await octx.page(
            "operator/tenants.html",
            operator,
            tenants=tenants,
            figures=await tenant_figures(octx.db),
            status_labels=STATUS_LABELS,
            lines=await audit_lines(octx.db, None, limit=20),
            page_title=_("Collectivités"),
        )

    def _onboard_values(self, form: Any, prefix: str = "") -> dict[str, str]:
        """The onboarding form's values; the tenant.toml form names its administrator's
        fields ``file_admin_…`` (two forms on one page: ids of their own)."""

        def get(name: str, limit: int) -> str:
            """One line: control characters and line breaks left out (names go into email
            headers)."""
            value = form.get(name, "")
            if not isinstance(value, str):
                return ""
            return " ".join(_CONTROL.sub(" ", value).split())[:limit]

        return {
            "slug": get("slug", 63).lower(),
            "name": get("name", 200),
            "kind": get("kind", 20),
            "admin_email": get(f"{prefix}admin_email", 200).lower(),
            "admin_name": get(f"{prefix}admin_name", 200),
        }

    async def _onboard_page(
        self,
        octx: OperatorContext,
        operator: Operator,
        values: dict[str, str],
        errors: dict[str, str],
        status_code: int = 200,
        problems: list[str] | None = None,
    ) -> Response[Any]:
        return await octx.page(
            "operator/onboard.html",
            operator,
            status_code=status_code,
            values=values,
            errors=errors,
            problems=problems or [],
            kinds=[("ccas", _("CCAS")), ("commune", _("Commune"))],
            page_title=_("Nouvelle collectivité"),
        )

    @get("/collectivites/nouvelle", name="operator:onboard")
    async def onboard(self, octx: OperatorContext) -> Response[Any]:
        operator = await self._require(octx)
        if not isinstance(operator, Operator):
            return operator
        return await self._onboard_page(octx, operator, {"kind": "ccas"}, {})

    @post("/collectivites/nouvelle", name="operator:onboard_post")
    async def onboard_post(self, octx: OperatorContext) -> Response[Any]:
        operator = await self._require(octx)
        if not isinstance(operator, Operator):
            return operator
        values = self._onboard_values(await octx.request.form())
        errors: dict[str, str] = {}
        if slug_problem(values["slug"]) is not None:
            errors["slug"] = _(
                "De 1 à 63 lettres minuscules, chiffres et tirets, par exemple « ccas-albi »."
            )
        elif await octx.db.scalar(select(Tenant.id).where(Tenant.slug == values["slug"])):
            errors["slug"] = _("Cette adresse est déjà prise par une autre collectivité.")
        if not values["name"]:
            errors["name"] = _("Ce champ est obligatoire.")
        if values["kind"] not in {k.value for k in TenantKind}:
            errors["kind"] = _("Choisissez dans la liste.")
        if not valid_email(values["admin_email"]):
            errors["admin_email"] = _(
                "Adresse de courriel invalide, par exemple : prenom.nom@exemple.fr"
            )
        if not values["admin_name"]:
            errors["admin_name"] = _("Ce champ est obligatoire.")
        if errors:
            return await self._onboard_page(octx, operator, values, errors, status_code=400)
        services = services_of(octx.request)
        try:
            tenant, message_id = await onboard_tenant(
                octx.db,
                services,
                slug=values["slug"],
                name=values["name"],
                kind=TenantKind(values["kind"]),
                admin_email=values["admin_email"],
                admin_name=values["admin_name"],
            )
            octx.audit(
                operator,
                "tenant.onboarded",
                tenant.id,
                target=tenant.slug,
                administrator=values["admin_email"],
            )
            await octx.db.commit()
        except IntegrityError:  # the same address taken meanwhile (a double click)
            await octx.db.rollback()
            errors["slug"] = _("Cette adresse est déjà prise par une autre collectivité.")
            return await self._onboard_page(octx, operator, values, errors, status_code=400)
        return await self._onboarded(octx, tenant, message_id)

    async def _onboarded(
        self, octx: OperatorContext, tenant: Tenant, message_id: uuid.UUID
    ) -> Response[Any]:
        """After the commit: the invitation to a worker, the tenant known to every process."""
        services = services_of(octx.request)
        enqueue_delivery(services.settings, [message_id])
        await services.resolver.invalidate()
        octx.flash(
            _(
                "La collectivité « %(name)s » est créée à l'adresse /%(slug)s/ ; son "
                "administrateur a reçu une invitation par courriel.",
                name=tenant.name,
                slug=tenant.slug,
            ),
            "success",
        )
        return await octx.redirect(f"/collectivites/{tenant.slug}")

    @post("/collectivites/fichier", name="operator:onboard_file")
    async def onboard_file(self, octx: OperatorContext) -> Response[Any]:
        """Onboard from an uploaded ``tenant.toml`` (and its logo): checked like ``guichet
        tenants apply`` does, problems listed by field; the first administrator invited."""
        operator = await self._require(octx)
        if not isinstance(operator, Operator):
            return operator
        form = await octx.request.form()
        values = self._onboard_values(form, prefix="file_")
        errors: dict[str, str] = {}
        toml_upload, logo_upload = form.get("tenant_toml"), form.get("logo")
        raw = (
            await toml_upload.read()
            if isinstance(toml_upload, UploadFile) and toml_upload.filename
            else b""
        )
        logo = (
            await logo_upload.read()
            if isinstance(logo_upload, UploadFile) and logo_upload.filename
            else None
        )
        if not valid_email(values["admin_email"]):
            errors["file_admin_email"] = _(
                "Adresse de courriel invalide, par exemple : prenom.nom@exemple.fr"
            )
        if not values["admin_name"]:
            errors["file_admin_name"] = _("Ce champ est obligatoire.")
        problems: list[str] = []
        try:
            data = tomllib.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            data, problems = {}, [f"(syntax): {exc}"]
        slug: str = data["slug"] if isinstance(data.get("slug"), str) else ""
        if not raw:
            errors["tenant_toml"] = _("Choisissez le fichier tenant.toml.")
        elif not problems and (not slug or slug_problem(slug) is not None):
            problems.append("slug: " + (slug_problem(slug or "") or "required"))
        elif not problems and await octx.db.scalar(select(Tenant.id).where(Tenant.slug == slug)):
            errors["tenant_toml"] = _("Cette adresse est déjà prise par une autre collectivité.")
        shown = {"kind": "ccas", **{f"file_{k}": v for k, v in values.items()}}
        if errors or problems:
            return await self._onboard_page(
                octx, operator, shown, errors, status_code=400, problems=problems
            )
        services = services_of(octx.request)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / slug
            folder.mkdir()
            (folder / "tenant.toml").write_bytes(raw)
            branding = data.get("branding")
            logo_name = branding.get("logo") if isinstance(branding, dict) else None
            if (
                logo is not None
                and isinstance(logo_name, str)
                and re.fullmatch(r"[\w-][\w.-]{0,60}", logo_name)
                and logo_name not in ("tenant.toml",)
                and ".." not in logo_name
            ):
                (folder / logo_name).write_bytes(logo)
            problems = []
            try:
                catalog = load_catalog(folder, services.settings.themes_dir)
                await apply_catalog(
                    octx.db, catalog, services.files, services.settings.web.secret_key
                )
            except CatalogError as exc:
                problems = [f"{field}: {reason}" for field, reason in exc.problems]
        if problems:
            await octx.db.rollback()
            again = await self._require(octx)  # the rollback expired the loaded rows
            if not isinstance(again, Operator):
                return again
            return await self._onboard_page(
                octx, again, shown, {}, status_code=400, problems=problems
            )
        tenant = await octx.db.scalar(select(Tenant).where(Tenant.slug == slug))
        assert tenant is not None  # applied just above
        invited = await StaffService(octx.db, tenant.id).invite(
            values["admin_email"], values["admin_name"], StaffRole.ADMIN
        )
        message_id = invitation_email(
            octx.db,
            services.renderer,
            services.settings,
            TenantSnapshot.from_model(tenant),
            *invited,
        )
        octx.audit(
            operator,
            "tenant.onboarded",
            tenant.id,
            target=slug,
            administrator=values["admin_email"],
            source="tenant.toml",
        )
        await octx.db.commit()
        return await self._onboarded(octx, tenant, message_id)

    async def _tenant(self, octx: OperatorContext, slug: str) -> Tenant:
        if slug_problem(slug) is not None:
            raise NotFoundException()
        tenant = await octx.db.scalar(select(Tenant).where(Tenant.slug == slug))
        if tenant is None:
            raise NotFoundException()
        return tenant

    @get("/collectivites/{slug:str}", name="operator:tenant")
    async def tenant(self, octx: OperatorContext, slug: FromPath[str]) -> Response[Any]:
        operator = await self._require(octx)
        if not isinstance(operator, Operator):
            return operator
        tenant = await self._tenant(octx, slug)
        exports = [
            line
            for line in await audit_lines(octx.db, tenant.id, action="tenant.exported", limit=10)
            if line.detail.get("key")
        ]
        return await octx.page(
            "operator/tenant.html",
            operator,
            row=tenant,
            exports=exports,
            figures=(await tenant_figures(octx.db)).get(tenant.id, {}),
            status_labels=STATUS_LABELS,
            lines=await audit_lines(octx.db, tenant.id, limit=30),
            page_title=tenant.name,
        )

    @post("/collectivites/{slug:str}/export", name="operator:export")
    async def export(self, octx: OperatorContext, slug: FromPath[str]) -> Response[Any]:
        """The tenant's data as one archive in the file store (made here, in the request:
        large tenants are exported with ``guichet tenants export``)."""
        operator = await self._require(octx)
        if not isinstance(operator, Operator):
            return operator
        tenant = await self._tenant(octx, slug)
        services = services_of(octx.request)
        key, size, counts = await export_tenant(octx.db, services.files, tenant)
        octx.audit(
            operator,
            "tenant.exported",
            tenant.id,
            target=tenant.slug,
            key=key,
            size=size,
            rows=sum(counts.values()),
        )
        await octx.db.commit()
        octx.flash(
            _(
                "L'archive de %(name)s est prête (%(size)s).",
                name=tenant.name,
                size=format_bytes(size),
            ),
            "success",
        )
        return await octx.redirect(f"/collectivites/{tenant.slug}")

    @get("/collectivites/{slug:str}/exports/{name:str}", name="operator:export_file")
    async def export_file(
        self, octx: OperatorContext, slug: FromPath[str], name: FromPath[str]
    ) -> Response[Any]:
        operator = await self._require(octx)
        if not isinstance(operator, Operator):
            return operator
        if slug_problem(slug) is not None or not re.fullmatch(
            rf"{re.escape(slug)}-\d{{8}}-\d{{6}}\.zip", name
        ):
            raise NotFoundException()
        key = f"exports/{slug}/{name}"
        files = services_of(octx.request).files
        if not files.exists(key):
            raise NotFoundException()
        data = await asyncio.to_thread(files.get, key)
        octx.audit(operator, "tenant.export_downloaded", None, target=key)
        await octx.db.commit()
        return await octx.finish(download_response(data, "application/zip", name))

    @get("/collectivites/{slug:str}/suppression", name="operator:delete")
    async def delete_page(self, octx: OperatorContext, slug: FromPath[str]) -> Response[Any]:
        operator = await self._require(octx)
        if not isinstance(operator, Operator):
            return operator
        tenant = await self._tenant(octx, slug)
        return await octx.page(
            "operator/delete.html",
            operator,
            row=tenant,
            export=await recent_export(octx.db, tenant.id),
            error="",
            page_title=_("Supprimer %(name)s", name=tenant.name),
        )

    @post("/collectivites/{slug:str}/suppression", name="operator:delete_post")
    async def delete_post(self, octx: OperatorContext, slug: FromPath[str]) -> Response[Any]:
        """The second step: the slug typed again, and an archive of the last seven days."""
        operator = await self._require(octx)
        if not isinstance(operator, Operator):
            return operator
        tenant = await self._tenant(octx, slug)
        form = await octx.request.form()
        typed = form.get("confirm_slug", "")
        export = await recent_export(octx.db, tenant.id)
        error = ""
        if export is None:
            error = _(
                "Exportez d'abord les données : la suppression demande une archive de moins "
                "de 7 jours."
            )
        elif typed != tenant.slug:
            error = _("Recopiez exactement l'adresse de la collectivité pour confirmer.")
        if error:
            return await octx.page(
                "operator/delete.html",
                operator,
                status_code=400,
                row=tenant,
                export=export,
                error=error,
                page_title=_("Supprimer %(name)s", name=tenant.name),
            )
        name, tenant_id = tenant.name, tenant.id
        keys, rows = await delete_tenant(octx.db, tenant)
        octx.audit(operator, "tenant.deleted", tenant_id, target=slug, rows=rows, name=name)
        await octx.db.commit()
        services = services_of(octx.request)
        await services.resolver.invalidate()
        await asyncio.to_thread(delete_tenant_files, services.files, tenant_id, slug, keys)
        octx.flash(
            _("%(name)s est supprimée ; son archive reste disponible.", name=name), "success"
        )
        return await octx.redirect("/")

    @get("/sante", name="operator:health")
    async def health(self, octx: OperatorContext) -> Response[Any]:
        operator = await self._require(octx)
        if not isinstance(operator, Operator):
            return operator
        return await octx.page(
            "operator/health.html",
            operator,
            checks=await system_checks(octx.db, services_of(octx.request)),
            page_title=_("État du système"),
        )

    @post("/collectivites/{slug:str}/invitation", name="operator:reinvite")
    async def reinvite(self, octx: OperatorContext, slug: FromPath[str]) -> Response[Any]:
        """A new invitation for each administrator who has not yet accepted (a lost or
        expired email); the former link stops working."""
        operator = await self._require(octx)
        if not isinstance(operator, Operator):
            return operator
        tenant = await self._tenant(octx, slug)
        services = services_of(octx.request)
        invited = await reinvite_admins(octx.db, services, tenant)
        queued = [message_id for _user, message_id in invited]
        for user, _message_id in invited:
            octx.audit(operator, "staff.invited", tenant.id, target=user.email, again=True)
        await octx.db.commit()
        enqueue_delivery(services.settings, queued)
        octx.flash(
            ngettext(
                "%(num)s invitation envoyée de nouveau.",
                "%(num)s invitations envoyées de nouveau.",
                len(queued),
            )
            if queued
            else _("Tous les administrateurs ont déjà accepté leur invitation."),
            "success" if queued else "info",
        )
        return await octx.redirect(f"/collectivites/{tenant.slug}")

    @post("/collectivites/{slug:str}/etat", name="operator:tenant_status")
    async def tenant_status(self, octx: OperatorContext, slug: FromPath[str]) -> Response[Any]:
        operator = await self._require(octx)
        if not isinstance(operator, Operator):
            return operator
        tenant = await self._tenant(octx, slug)
        form = await octx.request.form()
        wanted = form.get("status", "")
        message = form.get("maintenance_message", "")
        if wanted not in {s.value for s in TenantStatus}:
            raise NotFoundException()
        tenant.status = TenantStatus(wanted)
        if isinstance(message, str) and tenant.status == TenantStatus.MAINTENANCE:
            tenant.maintenance_message = _CONTROL.sub(
                lambda m: m.group(0) if m.group(0) == "\n" else "", message.replace("\r\n", "\n")
            ).strip()[:2000]
        octx.audit(operator, f"tenant.{wanted}", tenant.id, target=tenant.slug)
        await octx.db.commit()
        await services_of(octx.request).resolver.invalidate()
        octx.flash(
            _(
                "%(name)s est maintenant %(status)s.",
                name=tenant.name,
                status=_(STATUS_LABELS[tenant.status]),
            ),
            "success",
        )
        return await octx.redirect(f"/collectivites/{tenant.slug}")
