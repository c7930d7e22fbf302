"""Tenant administration (``/{tenant}/admin/``): the dashboard, branding, services and the
citizens' files with their access keys (key letters as PDF, keys by email), staff and their
invitations, and the audit log. Every change is written to the audit log with the change.

A page is reached only by a signed-in staff member of this tenant whose role allows it
(:data:`guichet.staff.web.PERMISSIONS`); an object of another tenant is not found (404).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Controller, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from guichet.accounts.forms import valid_email
from guichet.accounts.models import (
    Citizen,
    CitizenStatus,
    ServiceAccount,
    clean_postal_address,
    postal_address_problem,
    postal_lines,
)
from guichet.accounts.secrets import generate_access_key, key_digest
from guichet.accounts.web import AccountsContext, provide_ctx
from guichet.audit.services import audit_lines
from guichet.billing.models import Invoice, InvoiceStatus, Ledger
from guichet.db.repository import TenantRepository
from guichet.files import data_uri
from guichet.i18n import N_, ngettext
from guichet.i18n import gettext as _
from guichet.notifications.services import enqueue_delivery, queue_email
from guichet.operators.onboarding import invitation_email
from guichet.procedures.controllers import _text as form_text
from guichet.procedures.models import OPEN_STATUSES, ProcedureRequest
from guichet.staff.models import ROLE_LABELS, StaffRole, StaffUser
from guichet.staff.services import INVITATION_DAYS, StaffService
from guichet.staff.web import (
    confirm_first,
    confirmed,
    require_staff,
    staff_audit,
    staff_link_email,
    staff_page,
)
from guichet.tenancy.catalog import (
    LOGO_TYPES,
    MAX_LOGO_BYTES,
    MAX_LOGO_SIDE,
    PAGE_BACKGROUND,
    _svg_is_active,
    raster_logo_check,
)
from guichet.tenancy.contrast import AA_NORMAL_TEXT, InvalidColour, contrast_ratio
from guichet.tenancy.models import Service, Tenant
from guichet.web.pages import download_response

__all__ = ["AdminController", "branding_problems"]


COLOUR_FIELDS = ("primary_color", "on_primary_color", "accent_color", "on_accent_color")
_HEX = re.compile(r"#[0-9a-fA-F]{6}")
_SERVICE_CODE = re.compile(r"[a-z0-9][a-z0-9-]{0,49}")
_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,49}")
MAX_FRESH_KEYS = 1000
LETTERS_PER_PDF = 200  # one PDF of letters is rendered in the request: about 10 s at most
MAX_IMPORT_LINES = 1000


def parse_files_csv(
    data: bytes,
) -> tuple[list[tuple[int, dict[str, str]]], list[tuple[int, str]]]:
    """(line, values) of each file of a CSV ``reference;holder_name;email`` (a header line
    first; ``,`` also accepted; an optional column ``postal_address``, its lines separated by
    line breaks or « | »), and (line, problem) for each wrong line."""
    import csv
    import io

    problems: list[tuple[int, str]] = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # a spreadsheet's "CSV (Windows)"
    sample = text[:2000]
    delimiter = ";" if sample.count(";") >= sample.count(",") else ","
    csv.field_size_limit(10_000)
    try:
        lines = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as exc:  # an unclosed quote, a line too long
        return [], [(0, _("Le fichier CSV est mal formé : %(error)s", error=str(exc)[:100]))]
    if not lines:
        return [], []
    header = [h.strip().lower() for h in lines[0]]
    if header[:2] != ["reference", "holder_name"]:
        return [], [(1, _("La première ligne doit être : reference;holder_name;email"))]
    if len(lines) - 1 > MAX_IMPORT_LINES:
        return [], [(0, _("%(count)s lignes au plus par fichier.", count=MAX_IMPORT_LINES))]
    rows: list[tuple[int, dict[str, str]]] = []
    for number, raw in enumerate(lines[1:], start=2):
        if not any(c.strip() for c in raw):
            continue
        cells = [" ".join(c.replace("\x00", "").split()) for c in raw] + [""] * len(header)
        email_at = header.index("email") if "email" in header else None
        reference, holder = cells[0][:50], cells[1][:200]
        email = cells[email_at][:254] if email_at is not None else ""
        address = ""
        if "postal_address" in header and header.index("postal_address") < len(raw):
            address = clean_postal_address(raw[header.index("postal_address")].replace("\x00", ""))
        if not reference:
            problems.append((number, _("le numéro de dossier manque")))
        elif not _REFERENCE.fullmatch(reference):
            problems.append(
                (number, _("numéro de dossier invalide : %(value)s", value=reference[:50]))
            )
        elif not holder:
            problems.append((number, _("le titulaire manque")))
        elif email and not valid_email(email):
            problems.append((number, _("adresse de courriel invalide : %(value)s", value=email)))
        elif postal_address_problem(address):
            problems.append((number, _(ADDRESS_PROBLEM)))
        else:
            rows.append(
                (
                    number,
                    {
                        "reference": reference,
                        "holder_name": holder,
                        "email": email,
                        "postal_address": address,
                    },
                )
            )
    return rows, problems


ADDRESS_PROBLEM = N_("adresse postale trop longue : 5 lignes et 300 caractères au plus sous le nom")


def branding_problems(values: dict[str, str]) -> dict[str, str]:
    """French messages, next to the field, for colours that are not #rrggbb or whose text
    would not reach WCAG AA (4.5:1) on its background."""
    errors: dict[str, str] = {}
    for name in COLOUR_FIELDS:
        if not _HEX.fullmatch(values.get(name, "")):
            errors[name] = _(
                "Écrivez la couleur sous la forme #1f4e79 (six chiffres hexadécimaux)."
            )
    if errors:
        return errors
    pairs = (
        ("primary_color", "on_primary_color", _("le texte sur la couleur principale")),
        ("accent_color", "on_accent_color", _("le texte sur la couleur d'accent")),
    )
    for background, text, what in pairs:
        try:
            ratio = contrast_ratio(values[background], values[text])
        except InvalidColour:
            continue
        if ratio < AA_NORMAL_TEXT:
            errors[text] = _(
                "Contraste de %(ratio)s:1 pour %(what)s : il faut au moins 4,5:1 (RGAA, WCAG AA). "
                "Choisissez une couleur plus claire ou plus foncée.",
                ratio=str(ratio).replace(".", ","),
                what=what,
            )
    ratio = contrast_ratio(values["primary_color"], PAGE_BACKGROUND)
    if ratio < AA_NORMAL_TEXT and "primary_color" not in errors:
        errors["primary_color"] = _(
            "Contraste de %(ratio)s:1 sur la page blanche (liens et titres) : il faut au moins "
            "4,5:1. Choisissez une couleur plus foncée.",
            ratio=str(ratio).replace(".", ","),
        )
    return errors


_PENDING_LOGO = re.compile(r"logo-[0-9a-f]{16}\.(svg|png|jpe?g)")


def _logo_key(slug: str, data: bytes, media_type: str) -> str:
    """Where a tenant's logo is stored: named by its content, so that the same file chosen
    again (a preview, then « Enregistrer ») is the same key."""
    suffix = {v: k for k, v in LOGO_TYPES.items()}[media_type]
    return f"tenants/{slug}/logo-{hashlib.sha256(data).hexdigest()[:16]}{suffix}"


def _logo_type(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    head = data[:512].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:2048].lower()):
        return "image/svg+xml"
    return None


def _text(form: Any, name: str, limit: int) -> str:
    """A one-line field: control characters and line breaks left out (a name with a line
    break would break every email header it goes into)."""
    return " ".join(form_text(form, name, limit).split())[:limit]


def _file_values(form: Any) -> tuple[dict[str, str], dict[str, str]]:
    """A file's holder, email and postal address as typed, and what is wrong with them."""
    values = {
        "holder_name": _text(form, "holder_name", 200),
        "email": _text(form, "email", 254),
        "postal_address": _address(form),
    }
    errors: dict[str, str] = {}
    if not values["holder_name"]:
        errors["holder_name"] = _("Ce champ est obligatoire.")
    if values["email"] and not valid_email(values["email"]):
        errors["email"] = _("Adresse de courriel invalide, par exemple : prenom.nom@exemple.fr")
    if postal_address_problem(values["postal_address"]):
        errors["postal_address"] = _(ADDRESS_PROBLEM).capitalize() + "."
    return values, errors


def _address(form: Any) -> str:
    """A postal address typed in a text area, its lines cleaned (see clean_postal_address);
    much more than the limit is read, so that a too long one is said, not cut."""
    raw = form.get("postal_address", "")
    return clean_postal_address(raw[:4000].replace("\x00", "") if isinstance(raw, str) else "")


def _raster_problem(data: bytes) -> str:
    """Why a PNG or JPEG logo is refused, or an empty string."""
    check = raster_logo_check(data)
    if check == "unreadable":
        return _("Cette image est illisible ou abîmée.")
    if check == "too_large":
        return _(
            "Ce logo a trop de pixels : %(side)s pixels de côté au plus. Une image de 600 "
            "pixels de large suffit.",
            side=MAX_LOGO_SIDE,
        )
    return ""


def _param(ctx: AccountsContext, name: str, limit: int) -> str:
    value = ctx.request.query_params.get(name, "")
    return " ".join(str(value).split())[:limit].replace("\x00", "")


async def tenant_row(ctx: AccountsContext) -> Tenant:
    """The tenant's own row, to change it (the request carries a read-only snapshot)."""
    tenant = await ctx.db.get(Tenant, ctx.tenant.id)
    if tenant is None:  # pragma: no cover - the middleware resolved it
        raise NotFoundException()
    return tenant


class _Services(TenantRepository[Service]):
    model_type = Service


class _Accounts(TenantRepository[ServiceAccount]):
    model_type = ServiceAccount


class AdminController(Controller):
    path = "/admin"
    dependencies = {"ctx": Provide(provide_ctx)}

    async def _commit(self, ctx: AccountsContext, queued: list[uuid.UUID] | None = None) -> None:
        await ctx.db.commit()
        if queued:
            enqueue_delivery(ctx.accounts.settings, queued)

    # -- dashboard -----------------------------------------------------------------------------
    @get("/", name="admin:dashboard")
    async def dashboard(self, ctx: AccountsContext) -> Response[Any]:
        staff = await require_staff(ctx, "dashboard")
        if not isinstance(staff, StaffUser):
            return staff
        tid = ctx.tenant.id

        async def count(statement: Any) -> int:
            return int(await ctx.db.scalar(statement) or 0)

        figures = {
            "accounts": await count(
                select(func.count(Citizen.id)).where(
                    Citizen.tenant_id == tid, Citizen.status == CitizenStatus.ACTIVE
                )
            ),
            "pending": await count(
                select(func.count(Citizen.id)).where(
                    Citizen.tenant_id == tid, Citizen.status == CitizenStatus.PENDING
                )
            ),
            "unpaid_cents": await count(
                select(func.coalesce(func.sum(Invoice.total_cents - Invoice.paid_cents), 0)).where(
                    Invoice.tenant_id == tid,
                    Invoice.status.in_((InvoiceStatus.UNPAID, InvoiceStatus.PARTIAL)),
                )
            ),
            "open_requests": await count(
                select(func.count(ProcedureRequest.id)).where(
                    ProcedureRequest.tenant_id == tid, ProcedureRequest.status.in_(OPEN_STATUSES)
                )
            ),
        }
        return await staff_page(
            ctx,
            "admin/dashboard.html",
            staff,
            figures=figures,
            role_labels=ROLE_LABELS,
            to_do=await self._to_do(ctx) if staff.role == StaffRole.ADMIN else [],
            page_title=_("Administration"),
        )

    async def _to_do(self, ctx: AccountsContext) -> list[tuple[str, str]]:
        """What a new portal still lacks, for its administrators: (what to do, where)."""
        tenant, tid = ctx.tenant, ctx.tenant.id
        to_do: list[tuple[str, str]] = []
        if await ctx.accounts.current_terms() is None:
            to_do.append(
                (
                    _(
                        "Publier les conditions générales d'utilisation : sans elles, personne "
                        "ne peut créer son espace."
                    ),
                    "/admin/contenus",
                )
            )
        admins = set(
            (
                await ctx.db.execute(
                    select(StaffUser.email).where(
                        StaffUser.tenant_id == tid, StaffUser.role == StaffRole.ADMIN
                    )
                )
            ).scalars()
        )
        admins_address = tenant.contact_email.lower() in admins
        if admins_address:
            what = _(
                "Donner le téléphone, le courriel et les horaires du bloc « Besoin d'aide ? » : "
                "le courriel affiché est encore celui d'un administrateur."
            )
            to_do.append((what, "/admin/parametres"))
        elif not tenant.contact_phone:
            what = _("Donner le téléphone et les horaires du bloc « Besoin d'aide ? ».")
            to_do.append((what, "/admin/parametres"))
        if not tenant.welcome_text:
            to_do.append((_("Écrire le texte d'accueil du portail."), "/admin/contenus"))
        if not await ctx.db.scalar(select(Service.id).where(Service.tenant_id == tid).limit(1)):
            to_do.append(
                (_("Créer les services et les dossiers des habitants."), "/admin/services")
            )
        elif not await ctx.db.scalar(select(Ledger.id).where(Ledger.tenant_id == tid).limit(1)):
            to_do.append(
                (_("Créer une régie pour facturer."), "/admin/facturation/#nouvelle-regie")
            )
        return to_do

    # -- branding ------------------------------------------------------------------------------
    def _themes(self, ctx: AccountsContext) -> list[tuple[str, str]]:
        themes_dir = ctx.accounts.settings.themes_dir
        names = sorted(
            p.name
            for p in themes_dir.iterdir()
            if (p / "templates").is_dir() or p.name == "default"
        )
        # a theme is its folder's name; the shipped default one says so
        return [
            (n, _("Par défaut") if n == "default" else n.replace("-", " ").title()) for n in names
        ]

    async def _branding_page(
        self,
        ctx: AccountsContext,
        staff: StaffUser,
        values: dict[str, str],
        errors: dict[str, str],
        preview: bool = False,
        status_code: int = 200,
        pending_logo: tuple[str, str] = ("", ""),
    ) -> Response[Any]:
        contrasts = {}
        if not errors:
            contrasts = {
                "on_primary": contrast_ratio(values["primary_color"], values["on_primary_color"]),
                "on_accent": contrast_ratio(values["accent_color"], values["on_accent_color"]),
                "page": contrast_ratio(values["primary_color"], PAGE_BACKGROUND),
            }
        return await staff_page(
            ctx,
            "admin/branding.html",
            staff,
            status_code=status_code,
            values=values,
            errors=errors,
            preview=preview,
            contrasts=contrasts,
            themes=self._themes(ctx),
            # a logo chosen but not saved yet (preview, or a mistake elsewhere in the form): its
            # name in the store, and the picture to show
            pending_logo=pending_logo[0],
            pending_logo_uri=pending_logo[1],
            page_title=_("Apparence"),
        )

    @get("/apparence/apercu.css", name="admin:branding_preview_css", media_type="text/css")
    async def branding_preview_css(self, ctx: AccountsContext) -> Response[Any]:
        """The preview's colours as a stylesheet of this site (the CSP allows no inline
        style): only #rrggbb values get in."""
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        params = ctx.request.query_params
        colours = {
            name: str(params.get(name, ""))
            for name in COLOUR_FIELDS
            if _HEX.fullmatch(str(params.get(name, "")))
        }
        rules = [f".swatch-{name} {{ background: {value}; }}" for name, value in colours.items()]
        # a combination under 4.5:1 is never shown (the page says why beside the field)
        if len(colours) == len(COLOUR_FIELDS) and not branding_problems(colours):
            rules += [
                f".preview-primary {{ background: {colours['primary_color']}; "
                f"color: {colours['on_primary_color']}; }}",
                f".preview-accent {{ background: {colours['accent_color']}; "
                f"color: {colours['on_accent_color']}; }}",
                f".preview-link {{ color: {colours['primary_color']}; }}",
            ]
        return await ctx.finish(
            Response(
                "\n".join(rules) + "\n",
                media_type="text/css",
                headers={"Cache-Control": "no-store"},
            )
        )

    @get("/apparence", name="admin:branding")
    async def branding(self, ctx: AccountsContext) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        tenant = await tenant_row(ctx)
        values = {
            name: getattr(tenant, name)
            for name in ("name", "short_name", "tagline", "theme", "logo_alt", *COLOUR_FIELDS)
        }
        return await self._branding_page(ctx, staff, values, {})

    @post("/apparence", name="admin:branding_post")
    async def branding_post(self, ctx: AccountsContext) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        tenant = await tenant_row(ctx)
        form = await ctx.request.form()
        values = {
            "name": _text(form, "name", 200),
            "short_name": _text(form, "short_name", 100),
            "tagline": _text(form, "tagline", 200),
            "theme": _text(form, "theme", 50),
            "logo_alt": _text(form, "logo_alt", 200),
            **{name: _text(form, name, 7).lower() for name in COLOUR_FIELDS},
        }
        errors = branding_problems(values)
        if not values["name"]:
            errors["name"] = _("Ce champ est obligatoire.")
        if values["theme"] not in dict(self._themes(ctx)):
            errors["theme"] = _("Choisissez un thème dans la liste.")
        files = ctx.request.app.state.services.files
        logo = form.get("logo")
        logo_data = await logo.read() if isinstance(logo, UploadFile) and logo.filename else None
        pending = _text(form, "pending_logo", 40)
        if logo_data is None and _PENDING_LOGO.fullmatch(pending):
            # chosen before « Prévisualiser » or a mistake: a file input comes back empty
            try:
                logo_data = await asyncio.to_thread(files.get, f"tenants/{tenant.slug}/{pending}")
            except FileNotFoundError:
                errors["logo"] = _("Le logo choisi n'a pas été gardé : choisissez-le de nouveau.")
        logo_type = None
        if logo_data is not None:
            logo_type = _logo_type(logo_data)
            if len(logo_data) > MAX_LOGO_BYTES:
                errors["logo"] = _("Le logo dépasse 512 Ko.")
            elif logo_type is None:
                errors["logo"] = _("Le logo doit être une image SVG, PNG ou JPEG.")
            elif logo_type != "image/svg+xml" and (problem := _raster_problem(logo_data)):
                errors["logo"] = problem
            elif logo_type == "image/svg+xml" and _svg_is_active(logo_data):
                errors["logo"] = _(
                    "Ce SVG contient des scripts ou des références externes : enregistrez-le "
                    "en SVG simple ou en PNG."
                )
        has_logo = bool(logo_data) or bool(tenant.logo_file)
        if has_logo and not values["logo_alt"] and "logo" not in errors:
            errors["logo_alt"] = _(
                "Décrivez le logo pour les personnes qui ne le voient pas, par exemple "
                "« CCAS de Castres »."
            )
        if errors or form.get("action") == "apercu":
            kept = ("", "")
            if logo_data is not None and logo_type is not None and "logo" not in errors:
                key = _logo_key(tenant.slug, logo_data, logo_type)
                await asyncio.to_thread(files.put, key, logo_data)
                kept = (key.rsplit("/", 1)[1], data_uri(logo_type, logo_data))
            return await self._branding_page(
                ctx,
                staff,
                values,
                errors,
                preview=not errors,
                status_code=400 if errors else 200,
                pending_logo=kept,
            )
        changed = [k for k, v in values.items() if getattr(tenant, k) != v]
        for name, value in values.items():
            setattr(tenant, name, value)
        old_logo = None
        if logo_data is not None and logo_type is not None:
            digest = hashlib.sha256(logo_data).hexdigest()
            key = _logo_key(tenant.slug, logo_data, logo_type)
            await asyncio.to_thread(files.put, key, logo_data)
            old_logo = tenant.logo_file if tenant.logo_file != key else None
            tenant.logo_file, tenant.logo_hash, tenant.logo_media_type = key, digest, logo_type
            changed.append("logo")
        staff_audit(ctx, staff, "tenant.branding_changed", tenant.slug, {"fields": changed})
        await self._commit(ctx)
        await ctx.request.app.state.services.resolver.invalidate()
        if old_logo:
            await asyncio.to_thread(files.delete, old_logo)
        ctx.flash(_("L'apparence du portail est enregistrée."), "success")
        return await ctx.redirect("/admin/apparence")

    # -- services and access keys --------------------------------------------------------------
    @get("/services", name="admin:services")
    async def services(self, ctx: AccountsContext) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        return await self._services_page(ctx, staff, {}, {})

    async def _services_page(
        self,
        ctx: AccountsContext,
        staff: StaffUser,
        values: dict[str, str],
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Response[Any]:
        counts: dict[uuid.UUID, int] = {
            service_id: int(number)
            for service_id, number in (
                await ctx.db.execute(
                    select(ServiceAccount.service_id, func.count(ServiceAccount.id))
                    .where(ServiceAccount.tenant_id == ctx.tenant.id)
                    .group_by(ServiceAccount.service_id)
                )
            ).all()
        }
        services = await _Services(session=ctx.db, tenant_id=ctx.tenant.id).get_many(
            order_by=[(Service.name, False)]
        )
        return await staff_page(
            ctx,
            "admin/services.html",
            staff,
            status_code=status_code,
            services=services,
            counts=counts,
            values=values,
            errors=errors,
            page_title=_("Services et clés d'accès"),
        )

    @post("/services", name="admin:services_post")
    async def services_post(self, ctx: AccountsContext) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        form = await ctx.request.form()
        values = {
            "code": _text(form, "code", 50).lower(),
            "name": _text(form, "name", 200),
            "description": _text(form, "description", 2000),
        }
        errors: dict[str, str] = {}
        repository = _Services(session=ctx.db, tenant_id=ctx.tenant.id)
        if not _SERVICE_CODE.fullmatch(values["code"]):
            errors["code"] = _(
                "Lettres minuscules, chiffres et tirets, par exemple « action-sociale »."
            )
        elif await repository.exists(code=values["code"]):
            errors["code"] = _("Ce code est déjà celui d'un service.")
        if not values["name"]:
            errors["name"] = _("Ce champ est obligatoire.")
        if errors:
            return await self._services_page(ctx, staff, values, errors, status_code=400)
        await repository.add(Service(**values))
        staff_audit(ctx, staff, "service.created", values["code"])
        try:
            await self._commit(ctx)
        except IntegrityError:  # the same code created meanwhile (a double click)
            await ctx.db.rollback()
            errors["code"] = _("Ce code est déjà celui d'un service.")
            return await self._services_page(ctx, staff, values, errors, status_code=400)
        ctx.flash(_("Le service « %(name)s » est créé.", name=values["name"]), "success")
        return await ctx.redirect(f"/admin/services/{values['code']}")

    async def _service(self, ctx: AccountsContext, code: str) -> Service:
        if not _SERVICE_CODE.fullmatch(code):
            raise NotFoundException()
        service = await _Services(session=ctx.db, tenant_id=ctx.tenant.id).get_one_or_none(
            code=code
        )
        if service is None:
            raise NotFoundException()
        return service

    async def _service_page(
        self,
        ctx: AccountsContext,
        staff: StaffUser,
        service: Service,
        values: dict[str, str],
        errors: dict[str, str],
        status_code: int = 200,
        report: list[tuple[int, str]] | None = None,
        service_values: dict[str, str] | None = None,
        service_errors: dict[str, str] | None = None,
    ) -> Response[Any]:
        accounts = await _Accounts(session=ctx.db, tenant_id=ctx.tenant.id).get_many(
            ServiceAccount.service_id == service.id, order_by=[(ServiceAccount.reference, False)]
        )
        return await staff_page(
            ctx,
            "admin/service.html",
            staff,
            status_code=status_code,
            service=service,
            accounts=accounts,
            fresh_keys=ctx.session.get("fresh_keys") or {},
            letters_per_pdf=LETTERS_PER_PDF,
            values=values,
            errors=errors,
            report=report or [],
            service_values=service_values
            or {"name": service.name, "description": service.description},
            service_errors=service_errors or {},
            page_title=service.name,
        )

    @post("/services/{code:str}/nom", name="admin:service_rename")
    async def service_rename(self, ctx: AccountsContext, code: FromPath[str]) -> Response[Any]:
        """A service's name and description as citizens read them (its code, in addresses and
        keys, stays)."""
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        service = await self._service(ctx, code)
        form = await ctx.request.form()
        values = {
            "name": _text(form, "name", 200),
            "description": _text(form, "description", 2000),
        }
        if not values["name"]:
            return await self._service_page(
                ctx,
                staff,
                service,
                {},
                {},
                status_code=400,
                service_values=values,
                service_errors={"name": _("Ce champ est obligatoire.")},
            )
        changed = [name for name, value in values.items() if getattr(service, name) != value]
        service.name, service.description = values["name"], values["description"]
        staff_audit(ctx, staff, "service.changed", service.code, {"fields": changed})
        await self._commit(ctx)
        await ctx.request.app.state.services.resolver.invalidate()
        ctx.flash(_("Le service est enregistré."), "success")
        return await ctx.redirect(f"/admin/services/{service.code}")

    @get("/services/{code:str}", name="admin:service")
    async def service(self, ctx: AccountsContext, code: FromPath[str]) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        return await self._service_page(ctx, staff, await self._service(ctx, code), {}, {})

    def _remember_key(self, ctx: AccountsContext, account: ServiceAccount, key: str) -> None:
        """The key in clear, for this staff session only (letters, emails), until sign-out;
        the newest 1,000 (an import)."""
        keys = dict(ctx.session.get("fresh_keys") or {})
        keys[str(account.id)] = key
        ctx.session.set("fresh_keys", dict(list(keys.items())[-MAX_FRESH_KEYS:]))

    @post("/services/{code:str}/import", name="admin:service_import")
    async def service_import(self, ctx: AccountsContext, code: FromPath[str]) -> Response[Any]:
        """Citizens' files from a CSV (reference;holder_name;email, a header line first), each
        with a new key: checked line by line, all or nothing, with a report."""
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        service = await self._service(ctx, code)
        form = await ctx.request.form()
        upload = form.get("file")
        chosen = isinstance(upload, UploadFile) and bool(upload.filename)
        data = await upload.read() if isinstance(upload, UploadFile) and chosen else b""
        rows, problems = parse_files_csv(data)
        repository = _Accounts(session=ctx.db, tenant_id=ctx.tenant.id)
        taken = {
            a.reference for a in await repository.get_many(ServiceAccount.service_id == service.id)
        }
        for line, row in rows:
            if row["reference"] in taken:
                problems.append(
                    (line, _("le dossier %(reference)s existe déjà", reference=row["reference"]))
                )
            taken.add(row["reference"])
        if problems or not rows:
            if not chosen:
                problems = [(0, _("Choisissez le fichier CSV à importer."))]
            elif not rows and not problems:
                problems.append((0, _("Le fichier ne contient aucune ligne de dossier.")))
            return await self._service_page(
                ctx, staff, service, {}, {}, status_code=400, report=problems
            )
        secret = ctx.accounts.settings.web.secret_key
        created = []
        for _line, row in rows:
            key = generate_access_key()
            account = await repository.add(
                ServiceAccount(
                    service_id=service.id,
                    key_digest=key_digest(secret, str(ctx.tenant.id), key),
                    **row,
                )
            )
            created.append((account, key))
        staff_audit(ctx, staff, "service_account.imported", service.code, {"count": len(created)})
        await self._commit(ctx)
        for account, key in created:
            self._remember_key(ctx, account, key)
        ctx.flash(
            ngettext(
                "%(num)s dossier importé avec sa clé : imprimez les lettres ou envoyez les "
                "courriels ci-dessous.",
                "%(num)s dossiers importés avec leur clé : imprimez les lettres ou envoyez les "
                "courriels ci-dessous.",
                len(created),
            ),
            "success",
        )
        return await ctx.redirect(f"/admin/services/{service.code}")

    def _fresh(
        self, ctx: AccountsContext, accounts: list[ServiceAccount]
    ) -> list[tuple[ServiceAccount, str]]:
        keys = ctx.session.get("fresh_keys") or {}
        return [(a, str(keys[str(a.id)])) for a in accounts if str(a.id) in keys]

    @get("/services/{code:str}/lettres", name="admin:key_letters")
    async def key_letters(self, ctx: AccountsContext, code: FromPath[str]) -> Response[Any]:
        """One PDF with a letter per file whose key is known in this session (to post)."""
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        service = await self._service(ctx, code)
        accounts = await _Accounts(session=ctx.db, tenant_id=ctx.tenant.id).get_many(
            ServiceAccount.service_id == service.id, order_by=[(ServiceAccount.reference, False)]
        )
        page = str(ctx.request.query_params.get("lot", "1"))
        number = int(page) if page.isascii() and page.isdigit() and 0 < int(page) < 100 else 1
        letters = self._fresh(ctx, list(accounts))[
            (number - 1) * LETTERS_PER_PDF : number * LETTERS_PER_PDF
        ]
        if not letters:
            raise NotFoundException()
        data = await self._letters_pdf(ctx, service, letters)
        staff_audit(
            ctx, staff, "service_account.letters_printed", service.code, {"count": len(letters)}
        )
        await self._commit(ctx)
        return await ctx.finish(
            download_response(data, "application/pdf", f"cles-acces-{service.code}.pdf")
        )

    @post("/services/{code:str}/courriels", name="admin:key_emails")
    async def key_emails(self, ctx: AccountsContext, code: FromPath[str]) -> Response[Any]:
        """The key by email to each file with an address whose key is known in this session."""
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        service = await self._service(ctx, code)
        accounts = await _Accounts(session=ctx.db, tenant_id=ctx.tenant.id).get_many(
            ServiceAccount.service_id == service.id
        )
        fresh = [
            (account, key) for account, key in self._fresh(ctx, list(accounts)) if account.email
        ]
        if fresh and not confirmed(await ctx.request.form()):
            return await confirm_first(
                ctx,
                staff,
                title=_("Envoyer les clés par courriel ?"),
                explanation=[
                    ngettext(
                        "La clé d'accès va être envoyée à %(num)s dossier qui a une adresse "
                        "de courriel.",
                        "Les clés d'accès vont être envoyées aux %(num)s dossiers qui ont une "
                        "adresse de courriel.",
                        len(fresh),
                    ),
                    _("Un courriel envoyé ne se reprend pas ; chaque envoi part de nouveau."),
                ],
                action=f"/admin/services/{service.code}/courriels",
                button=_("Envoyer les courriels"),
                back=f"/admin/services/{service.code}",
            )
        services = ctx.request.app.state.services
        queued = [
            queue_email(
                ctx.db,
                services.renderer,
                ctx.accounts.settings,
                ctx.tenant,
                kind="access_key",
                recipient=account.email,
                locale=ctx.tenant.default_locale,
                context={"service": service, "account": account, "key": key},
            ).id
            for account, key in fresh
        ]
        staff_audit(
            ctx, staff, "service_account.keys_emailed", service.code, {"count": len(queued)}
        )
        await self._commit(ctx, queued)
        ctx.flash(
            ngettext("%(num)s courriel envoyé.", "%(num)s courriels envoyés.", len(queued)),
            "success",
        )
        return await ctx.redirect(f"/admin/services/{service.code}")

    async def _letters_pdf(
        self, ctx: AccountsContext, service: Service, letters: list[tuple[ServiceAccount, str]]
    ) -> bytes:
        services = ctx.request.app.state.services
        from guichet.billing.pdf import invoice_pdf, tenant_logo

        html = services.renderer.render(
            ctx.tenant.theme,
            "pdf/key_letter.html",
            {
                "tenant": ctx.tenant,
                "service": service,
                "letters": letters,
                "logo": tenant_logo(services.files, ctx.tenant),
                "portal_url": f"{ctx.accounts.settings.web.public_url}/{ctx.tenant.slug}/",
                "locale": "fr",
                "today": datetime.now(UTC).date(),
            },
        )
        return bytes(await asyncio.to_thread(invoice_pdf, html))

    @post("/services/{code:str}", name="admin:service_post")
    async def service_post(self, ctx: AccountsContext, code: FromPath[str]) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        service = await self._service(ctx, code)
        form = await ctx.request.form()
        values, file_errors = _file_values(form)
        values = {"reference": _text(form, "reference", 50), **values}
        errors: dict[str, str] = {}
        repository = _Accounts(session=ctx.db, tenant_id=ctx.tenant.id)
        if not _REFERENCE.fullmatch(values["reference"]):
            errors["reference"] = _(
                "Le numéro du dossier dans le service : lettres, chiffres, points, tirets, "
                "par exemple AS-2020-0001."
            )
        elif await repository.exists(service_id=service.id, reference=values["reference"]):
            errors["reference"] = _("Ce service a déjà un dossier de ce numéro.")
        errors.update(file_errors)  # in the order of the form's fields
        if errors:
            return await self._service_page(ctx, staff, service, values, errors, status_code=400)
        key = generate_access_key()
        account = await repository.add(
            ServiceAccount(
                service_id=service.id,
                key_digest=key_digest(
                    ctx.accounts.settings.web.secret_key, str(ctx.tenant.id), key
                ),
                **values,
            )
        )
        staff_audit(ctx, staff, "service_account.created", f"{service.code}/{account.reference}")
        try:
            await self._commit(ctx)
        except IntegrityError:  # the same file created meanwhile (a double click)
            await ctx.db.rollback()
            service = await self._service(ctx, code)
            errors["reference"] = _("Ce service a déjà un dossier de ce numéro.")
            return await self._service_page(ctx, staff, service, values, errors, status_code=400)
        self._remember_key(ctx, account, key)
        ctx.flash(
            _(
                "Le dossier %(reference)s est créé. Sa clé d'accès est %(key)s : remettez-la "
                "par courrier ou par courriel, elle ne sera plus affichée après votre déconnexion.",
                reference=account.reference,
                key=key,
            ),
            "success",
        )
        return await ctx.redirect(f"/admin/services/{service.code}")

    async def _account(
        self, ctx: AccountsContext, service: Service, account_id: uuid.UUID
    ) -> ServiceAccount:
        account = await _Accounts(session=ctx.db, tenant_id=ctx.tenant.id).get_one_or_none(
            id=account_id, service_id=service.id
        )
        if account is None:
            raise NotFoundException()
        return account

    @post("/services/{code:str}/{account_id:uuid}/nouvelle-cle", name="admin:new_key")
    async def new_key(
        self, ctx: AccountsContext, code: FromPath[str], account_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        service = await self._service(ctx, code)
        account = await self._account(ctx, service, account_id)
        if not confirmed(await ctx.request.form()):
            return await confirm_first(
                ctx,
                staff,
                title=_(
                    "Nouvelle clé pour le dossier %(reference)s ?", reference=account.reference
                ),
                explanation=[
                    _(
                        "La clé d'accès actuelle du dossier %(reference)s (%(holder)s) ne "
                        "fonctionnera plus : une personne qui ne l'a pas encore saisie devra "
                        "attendre la nouvelle, que vous lui remettrez par courrier ou par "
                        "courriel.",
                        reference=account.reference,
                        holder=account.holder_name,
                    )
                ],
                action=f"/admin/services/{service.code}/{account.id}/nouvelle-cle",
                button=_("Créer une nouvelle clé"),
                back=f"/admin/services/{service.code}",
            )
        key = generate_access_key()
        account.key_digest = key_digest(
            ctx.accounts.settings.web.secret_key, str(ctx.tenant.id), key
        )
        self._remember_key(ctx, account, key)
        staff_audit(
            ctx, staff, "service_account.key_regenerated", f"{service.code}/{account.reference}"
        )
        await self._commit(ctx)
        ctx.flash(
            _(
                "Nouvelle clé pour le dossier %(reference)s : %(key)s. L'ancienne ne "
                "fonctionne plus.",
                reference=account.reference,
                key=key,
            ),
            "success",
        )
        return await ctx.redirect(f"/admin/services/{service.code}")

    def _fresh_key(self, ctx: AccountsContext, account: ServiceAccount) -> str:
        key = (ctx.session.get("fresh_keys") or {}).get(str(account.id))
        if not key:
            raise NotFoundException()
        return str(key)

    @get("/services/{code:str}/{account_id:uuid}/lettre", name="admin:key_letter")
    async def key_letter(
        self, ctx: AccountsContext, code: FromPath[str], account_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        """The letter that brings the key by post (PDF), while the key is known."""
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        service = await self._service(ctx, code)
        account = await self._account(ctx, service, account_id)
        key = self._fresh_key(ctx, account)
        data = await self._letters_pdf(ctx, service, [(account, key)])
        staff_audit(
            ctx, staff, "service_account.letter_printed", f"{service.code}/{account.reference}"
        )
        await self._commit(ctx)
        return await ctx.finish(
            download_response(data, "application/pdf", f"cle-acces-{account.reference}.pdf")
        )

    @post("/services/{code:str}/{account_id:uuid}/courriel", name="admin:key_email")
    async def key_email(
        self, ctx: AccountsContext, code: FromPath[str], account_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        service = await self._service(ctx, code)
        account = await self._account(ctx, service, account_id)
        key = self._fresh_key(ctx, account)
        if not account.email:
            ctx.flash(
                _("Ce dossier n'a pas d'adresse de courriel : imprimez la lettre."), "warning"
            )
            return await ctx.redirect(f"/admin/services/{service.code}")
        services = ctx.request.app.state.services
        message = queue_email(
            ctx.db,
            services.renderer,
            ctx.accounts.settings,
            ctx.tenant,
            kind="access_key",
            recipient=account.email,
            locale=ctx.tenant.default_locale,
            context={"service": service, "account": account, "key": key},
        )
        staff_audit(
            ctx, staff, "service_account.key_emailed", f"{service.code}/{account.reference}"
        )
        await self._commit(ctx, [message.id])
        ctx.flash(_("La clé est envoyée à %(email)s.", email=account.email), "success")
        return await ctx.redirect(f"/admin/services/{service.code}")

    async def _file_page(
        self,
        ctx: AccountsContext,
        staff: StaffUser,
        service: Service,
        account: ServiceAccount,
        values: dict[str, str],
        errors: dict[str, str],
    ) -> Response[Any]:
        citizen = await ctx.db.get(Citizen, account.citizen_id) if account.citizen_id else None
        return await staff_page(
            ctx,
            "admin/service_account.html",
            staff,
            status_code=400 if errors else 200,
            service=service,
            account=account,
            linked_address=postal_lines(citizen) if citizen is not None else "",
            values=values,
            errors=errors,
            page_title=_("Dossier %(reference)s", reference=account.reference),
        )

    @get("/services/{code:str}/{account_id:uuid}/modifier", name="admin:file")
    async def file_page(
        self, ctx: AccountsContext, code: FromPath[str], account_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        service = await self._service(ctx, code)
        account = await self._account(ctx, service, account_id)
        values = {
            "holder_name": account.holder_name,
            "email": account.email,
            "postal_address": account.postal_address,
        }
        return await self._file_page(ctx, staff, service, account, values, {})

    @post("/services/{code:str}/{account_id:uuid}/modifier", name="admin:file_post")
    async def file_post(
        self, ctx: AccountsContext, code: FromPath[str], account_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        """A file's holder, email and postal address (its number and key stay)."""
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        service = await self._service(ctx, code)
        account = await self._account(ctx, service, account_id)
        values, errors = _file_values(await ctx.request.form())
        if errors:
            return await self._file_page(ctx, staff, service, account, values, errors)
        changed = [name for name, value in values.items() if getattr(account, name) != value]
        for name, value in values.items():
            setattr(account, name, value)
        staff_audit(
            ctx,
            staff,
            "service_account.changed",
            f"{service.code}/{account.reference}",
            {"fields": changed},
        )
        await self._commit(ctx)
        ctx.flash(
            _("Le dossier %(reference)s est enregistré.", reference=account.reference), "success"
        )
        return await ctx.redirect(f"/admin/services/{service.code}")

    # -- staff ---------------------------------------------------------------------------------
    async def _staff_page(
        self,
        ctx: AccountsContext,
        staff: StaffUser,
        values: dict[str, str],
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Response[Any]:
        members = await StaffService(ctx.db, ctx.tenant.id).repository.get_many(
            order_by=[(StaffUser.name, False)]
        )
        return await staff_page(
            ctx,
            "admin/staff.html",
            staff,
            status_code=status_code,
            members=members,
            roles=[(r.value, _(label)) for r, label in ROLE_LABELS.items()],
            role_labels=ROLE_LABELS,
            values=values,
            errors=errors,
            now=datetime.now(UTC),
            page_title=_("Agents et administrateurs"),
        )

    @get("/agents", name="admin:staff")
    async def staff_list(self, ctx: AccountsContext) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        return await self._staff_page(ctx, staff, {"role": "agent"}, {})

    @post("/agents", name="admin:staff_invite")
    async def staff_invite(self, ctx: AccountsContext) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        form = await ctx.request.form()
        values = {
            "email": _text(form, "email", 254).lower(),
            "name": _text(form, "name", 200),
            "role": _text(form, "role", 20),
        }
        errors: dict[str, str] = {}
        service = StaffService(ctx.db, ctx.tenant.id)
        if not valid_email(values["email"]):
            errors["email"] = _("Adresse de courriel invalide, par exemple : prenom.nom@exemple.fr")
        else:
            existing = await service.by_email(values["email"])
            if existing is not None and existing.password_hash:
                errors["email"] = _("Cette personne fait déjà partie des agents.")
        if not values["name"]:
            errors["name"] = _("Ce champ est obligatoire.")
        if values["role"] not in {r.value for r in StaffRole}:
            errors["role"] = _("Choisissez un rôle dans la liste.")
        if errors:
            return await self._staff_page(ctx, staff, values, errors, status_code=400)
        queued = invite_staff(
            ctx, await service.invite(values["email"], values["name"], StaffRole(values["role"]))
        )
        staff_audit(ctx, staff, "staff.invited", values["email"], {"role": values["role"]})
        await self._commit(ctx, queued)
        ctx.flash(_("Invitation envoyée à %(email)s.", email=values["email"]), "success")
        return await ctx.redirect("/admin/agents")

    @post("/agents/{staff_id:uuid}", name="admin:staff_change")
    async def staff_change(
        self, ctx: AccountsContext, staff_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        member = await StaffService(ctx.db, ctx.tenant.id).get(staff_id)
        if member is None:
            raise NotFoundException()
        form = await ctx.request.form()
        action = _text(form, "action", 20)
        if member.id == staff.id:
            ctx.flash(
                _("Vous ne pouvez pas changer votre propre rôle ni vous désactiver."), "warning"
            )
            return await ctx.redirect("/admin/agents")
        if action == "role" and _text(form, "role", 20) in {r.value for r in StaffRole}:
            member.role = StaffRole(_text(form, "role", 20))
            member.session_epoch += 1
            staff_audit(ctx, staff, "staff.role_changed", member.email, {"role": member.role.value})
        elif action == "reinitialiser" and member.active:
            if not confirmed(form):
                return await confirm_first(
                    ctx,
                    staff,
                    title=_("Réinitialiser l'accès de %(name)s", name=member.name),
                    explanation=[
                        _(
                            "Pour une personne qui a perdu son mot de passe ou le téléphone qui "
                            "donne ses codes : son mot de passe et sa double authentification "
                            "sont effacés et ses sessions ouvertes se ferment."
                        ),
                        _(
                            "Elle reçoit à %(email)s un lien, valable %(days)s jours, pour "
                            "choisir un nouveau mot de passe puis activer la double "
                            "authentification sur son téléphone.",
                            email=member.email,
                            days=INVITATION_DAYS,
                        ),
                    ],
                    action=f"/admin/agents/{member.id}",
                    fields={"action": "reinitialiser"},
                    button=_("Réinitialiser l'accès"),
                    back="/admin/agents",
                )
            token = StaffService(ctx.db, ctx.tenant.id).reset_access(member)
            queued = [staff_link_email(ctx, "staff_access_reset", member, token)]
            staff_audit(ctx, staff, "staff.access_reset", member.email)
            await self._commit(ctx, queued)
            ctx.flash(
                _(
                    "L'accès de %(name)s est réinitialisé : un lien pour choisir un nouveau mot "
                    "de passe est envoyé à %(email)s.",
                    name=member.name,
                    email=member.email,
                ),
                "success",
            )
            return await ctx.redirect("/admin/agents")
        elif action == "renvoyer" and member.active and not member.password_hash:
            # a link lost or past its time: a new one (the one before stops working)
            service = StaffService(ctx.db, ctx.tenant.id)
            if member.last_login_at is not None:  # a member of old whose access was reset
                queued = [
                    staff_link_email(
                        ctx, "staff_access_reset", member, service.reset_access(member)
                    )
                ]
            else:
                queued = invite_staff(
                    ctx, await service.invite(member.email, member.name, member.role)
                )
            staff_audit(ctx, staff, "staff.invited", member.email, {"again": True})
            await self._commit(ctx, queued)
            ctx.flash(_("Un nouveau lien est envoyé à %(email)s.", email=member.email), "success")
            return await ctx.redirect("/admin/agents")
        elif action in ("desactiver", "reactiver"):
            member.active = action == "reactiver"
            member.session_epoch += 1
            member.invite_hash = member.invite_expires_at = None  # a pending link dies
            staff_audit(
                ctx, staff, f"staff.{'enabled' if member.active else 'disabled'}", member.email
            )
        else:
            raise NotFoundException()
        await self._commit(ctx)
        ctx.flash(_("%(name)s : modification enregistrée.", name=member.name), "success")
        return await ctx.redirect("/admin/agents")

    # -- audit log -----------------------------------------------------------------------------
    @get("/journal", name="admin:audit")
    async def journal(self, ctx: AccountsContext) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        action = _param(ctx, "action", 60)
        actor = _param(ctx, "qui", 100)
        days = _param(ctx, "jours", 3)
        days = days if days in ("1", "7", "30", "365") else "30"
        since = datetime.now(UTC) - timedelta(days=int(days))
        source = "habitants" if ctx.request.query_params.get("source") == "habitants" else "agents"
        if source == "habitants":
            lines = await citizen_lines(ctx, since, actor)
        else:
            lines = await audit_lines(
                ctx.db, ctx.tenant.id, action=action, actor=actor, since=since
            )
        return await staff_page(
            ctx,
            "admin/audit.html",
            staff,
            source=source,
            lines=lines,
            filters={"action": action, "qui": actor, "jours": days},
            page_title=_("Journal des actions"),
        )


SENSITIVE_CITIZEN_EVENTS = (
    "created",
    "activated",
    "login",
    "logout",
    "password_changed",
    "password_reset",
    "username_changed",
    "email_changed",
    "data_exported",
    "deleted",
    "terms_accepted",
)


async def citizen_lines(ctx: AccountsContext, since: datetime, actor: str) -> list[Any]:
    """Citizens' sensitive actions (sign-ins, identifiers, exports, deletions) and online
    payments, newest first, in the shape of audit lines."""
    from types import SimpleNamespace

    from guichet.accounts.models import CitizenEvent
    from guichet.billing.models import Payment

    statement = (
        select(CitizenEvent, Citizen.username)
        .outerjoin(Citizen, Citizen.id == CitizenEvent.citizen_id)
        .where(
            CitizenEvent.tenant_id == ctx.tenant.id,
            CitizenEvent.kind.in_(SENSITIVE_CITIZEN_EVENTS),
            CitizenEvent.created_at >= since,
        )
        .order_by(CitizenEvent.created_at.desc())
        .limit(200)
    )
    if actor:
        statement = statement.where(Citizen.username.icontains(actor))
    lines = [
        SimpleNamespace(
            created_at=event.created_at,
            actor_name=username or "—",
            action=f"citizen.{event.kind}",
            target="",
            detail={},
            ip=event.ip,
        )
        for event, username in (await ctx.db.execute(statement)).all()
    ]
    payments = await ctx.db.execute(
        select(Payment, Invoice.number, Invoice.recipient)
        .join(Invoice, Invoice.id == Payment.invoice_id)
        .where(
            Payment.tenant_id == ctx.tenant.id,
            Payment.method == "online",
            Payment.created_at >= since,
        )
        .order_by(Payment.created_at.desc())
        .limit(200)
    )
    lines += [
        SimpleNamespace(
            created_at=payment.created_at,
            actor_name=recipient,
            action="citizen.payment",
            target=number,
            detail={"amount_cents": payment.amount_cents},
            ip="",
        )
        for payment, number, recipient in payments.all()
        if not actor or actor.casefold() in recipient.casefold()
    ]
    return sorted(lines, key=lambda line: line.created_at, reverse=True)[:200]


def invite_staff(ctx: AccountsContext, invited: tuple[StaffUser, str]) -> list[uuid.UUID]:
    """Queue the invitation email; returns the outbox ids to hand to a worker."""
    services = ctx.request.app.state.services
    message_id = invitation_email(
        ctx.db, services.renderer, ctx.accounts.settings, ctx.tenant, *invited
    )
    return [message_id]
