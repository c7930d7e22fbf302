"""Settings and content of a tenant, for its administrators (``/{tenant}/admin/``):

* ``parametres``: the contact block, the citizens' password policy, the languages, and the
  maintenance mode with its message (suspension is for operators);
* ``contenus``: the welcome text, the news, and the CGU — publishing a new version makes every
  citizen accept it at the next sign-in (published versions are never rewritten).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from litestar import Controller, Response, get, post
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from guichet.accounts.forms import PHONE_PROBLEM, parse_date, valid_email, valid_phone
from guichet.accounts.web import AccountsContext, provide_ctx
from guichet.admin.controllers import _text, tenant_row
from guichet.i18n import KNOWN_LOCALES, N_, locale_name
from guichet.i18n import gettext as _
from guichet.portal.services import default_content
from guichet.procedures.controllers import _text as _long_text
from guichet.staff.models import StaffUser
from guichet.staff.web import require_staff, staff_audit, staff_page
from guichet.tenancy.models import ContentPage, NewsItem, TenantStatus, TermsVersion

__all__ = ["ContentController"]

POLICY_FIELDS = {
    "password_min_length": (8, 64),
    "password_min_lowercase": (0, 5),
    "password_min_uppercase": (0, 5),
    "password_min_digits": (0, 5),
    "password_min_special": (0, 5),
}
CONTACT_FIELDS = {
    "contact_phone": 40,
    "contact_email": 200,
    "contact_hours": 200,
    "main_site_url": 300,
}


def long_text(form: Any, name: str, limit: int, errors: dict[str, str]) -> str:
    """A long text (Markdown, a message): over ``limit`` characters it is refused with its
    length, never cut and saved, and kept as typed so that it can be shortened."""
    text = _long_text(form, name, limit * 4)
    if len(text) > limit:
        errors[name] = _(
            "Ce texte a %(count)s caractères, %(limit)s au plus : raccourcissez-le (rien n'est "
            "enregistré).",
            count=len(text),
            limit=limit,
        )
    return text


def editable_pages() -> list[tuple[str, str]]:
    """(key, title) of the pages a tenant may rewrite: the AIDE sections and the legal pages."""
    from guichet.portal.services import HELP_SECTIONS

    legal = [
        ("page.mentions-legales", N_("Mentions légales")),
        ("page.donnees-personnelles", N_("Données personnelles")),
        ("page.accessibilite", N_("Déclaration d'accessibilité")),
        ("page.contacts", N_("Contacts")),
        ("page.depliant", N_("Dépliant explicatif")),
    ]
    return [(key, title) for key, _anchor, title in HELP_SECTIONS] + legal


class ContentController(Controller):
    path = "/admin"
    dependencies = {"ctx": Provide(provide_ctx)}

    # -- settings ------------------------------------------------------------------------------
    async def _settings_page(
        self,
        ctx: AccountsContext,
        staff: StaffUser,
        values: dict[str, Any],
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Response[Any]:
        return await staff_page(
            ctx,
            "admin/settings.html",
            staff,
            status_code=status_code,
            values=values,
            errors=errors,
            known_locales=[(code, locale_name(code)) for code in KNOWN_LOCALES],
            page_title=_("Paramètres"),
        )

    @get("/parametres", name="admin:settings")
    async def settings(self, ctx: AccountsContext) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        tenant = await tenant_row(ctx)
        values: dict[str, Any] = {
            name: getattr(tenant, name)
            for name in (
                *CONTACT_FIELDS,
                "contact_address",
                "default_locale",
                "maintenance_message",
            )
        }
        values.update({name: str(getattr(tenant, name)) for name in POLICY_FIELDS})
        values["locales"] = list(tenant.locales or [])
        values["maintenance"] = tenant.status == TenantStatus.MAINTENANCE
        values["captcha"] = bool((tenant.features or {}).get("captcha", True))
        return await self._settings_page(ctx, staff, values, {})

    @post("/parametres", name="admin:settings_post")
    async def settings_post(self, ctx: AccountsContext) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        tenant = await tenant_row(ctx)
        form = await ctx.request.form()
        errors: dict[str, str] = {}
        values: dict[str, Any] = {
            name: _text(form, name, limit) for name, limit in CONTACT_FIELDS.items()
        }
        values["contact_address"] = long_text(form, "contact_address", 500, errors)
        values["default_locale"] = _text(form, "default_locale", 10)
        values["maintenance_message"] = long_text(form, "maintenance_message", 2000, errors)
        values["maintenance"] = form.get("maintenance") == "oui"
        values["captcha"] = form.get("captcha") == "oui"
        chosen = form.getall("locales", []) if hasattr(form, "getall") else []
        values["locales"] = [c for c in KNOWN_LOCALES if c in chosen]
        if values["contact_phone"] and not valid_phone(values["contact_phone"]):
            errors["contact_phone"] = _(PHONE_PROBLEM)
        if values["contact_email"] and not valid_email(values["contact_email"]):
            errors["contact_email"] = _(
                "Adresse de courriel invalide, par exemple : prenom.nom@exemple.fr"
            )
        if values["main_site_url"] and not values["main_site_url"].startswith(
            ("https://", "http://")
        ):
            errors["main_site_url"] = _("Une adresse qui commence par https://")
        if not values["locales"]:
            errors["locales"] = _("Cochez au moins une langue.")
        elif values["default_locale"] not in values["locales"]:
            errors["default_locale"] = _("La langue par défaut doit être une des langues cochées.")
        for name, (low, high) in POLICY_FIELDS.items():
            raw = _text(form, name, 3)
            values[name] = raw
            if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
                errors[name] = _("Un nombre de %(low)s à %(high)s.", low=low, high=high)
        if not errors:
            needed = sum(int(values[n]) for n in POLICY_FIELDS if n != "password_min_length")
            if needed > int(values["password_min_length"]):
                errors["password_min_length"] = _(
                    "La longueur doit permettre les caractères demandés (%(needed)s au moins).",
                    needed=needed,
                )
        if values["maintenance"] and not values["maintenance_message"]:
            errors["maintenance_message"] = _(
                "Dites aux habitants pourquoi et jusqu'à quand, par exemple « Retour à 14 h »."
            )
        if errors:
            return await self._settings_page(ctx, staff, values, errors, status_code=400)
        changed = []
        for name in (*CONTACT_FIELDS, "contact_address", "default_locale", "maintenance_message"):
            if getattr(tenant, name) != values[name]:
                setattr(tenant, name, values[name])
                changed.append(name)
        for name in POLICY_FIELDS:
            if getattr(tenant, name) != int(values[name]):
                setattr(tenant, name, int(values[name]))
                changed.append(name)
        if bool((tenant.features or {}).get("captcha", True)) != values["captcha"]:
            tenant.features = {**(tenant.features or {}), "captcha": values["captcha"]}
            changed.append("captcha")
        if list(tenant.locales or []) != values["locales"]:
            tenant.locales = values["locales"]
            changed.append("locales")
        if tenant.status != TenantStatus.SUSPENDED:
            wanted = TenantStatus.MAINTENANCE if values["maintenance"] else TenantStatus.ACTIVE
            if tenant.status != wanted:
                tenant.status = wanted
                changed.append("status")
        staff_audit(ctx, staff, "tenant.settings_changed", tenant.slug, {"fields": changed})
        await ctx.db.commit()
        await ctx.request.app.state.services.resolver.invalidate()
        ctx.flash(_("Les paramètres sont enregistrés."), "success")
        return await ctx.redirect("/admin/parametres")

    # -- content -------------------------------------------------------------------------------
    async def _content_page(
        self,
        ctx: AccountsContext,
        staff: StaffUser,
        values: dict[str, Any],
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Response[Any]:
        news = list(
            (
                await ctx.db.execute(
                    select(NewsItem)
                    .where(NewsItem.tenant_id == ctx.tenant.id)
                    .order_by(NewsItem.published_on.desc())
                    .limit(50)
                )
            ).scalars()
        )
        terms = await ctx.accounts.current_terms()
        return await staff_page(
            ctx,
            "admin/content.html",
            staff,
            status_code=status_code,
            values=values,
            errors=errors,
            news=news,
            terms=terms,
            page_title=_("Contenus"),
        )

    async def _content_values(self, ctx: AccountsContext) -> dict[str, Any]:
        tenant = await tenant_row(ctx)
        terms = await ctx.accounts.current_terms()
        return {
            "welcome_title": tenant.welcome_title,
            "welcome_text": tenant.welcome_text,
            "news_date": date.today().strftime("%d/%m/%Y"),
            "terms_title": terms.title if terms else _("Conditions générales d'utilisation"),
            "terms_body": terms.body if terms else "",
        }

    @get("/contenus", name="admin:content")
    async def content(self, ctx: AccountsContext) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        return await self._content_page(ctx, staff, await self._content_values(ctx), {})

    @post("/contenus", name="admin:content_post")
    async def content_post(self, ctx: AccountsContext) -> Response[Any]:
        """One form per part, told apart by ``action``: accueil, actualite, cgu."""
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        form = await ctx.request.form()
        action = form.get("action")
        values = await self._content_values(ctx)
        errors: dict[str, str] = {}
        tenant = await tenant_row(ctx)
        if action == "accueil":
            values["welcome_title"] = _text(form, "welcome_title", 200)
            values["welcome_text"] = long_text(form, "welcome_text", 10_000, errors)
            if errors:
                return await self._content_page(ctx, staff, values, errors, status_code=400)
            tenant.welcome_title = values["welcome_title"]
            tenant.welcome_text = values["welcome_text"]
            staff_audit(ctx, staff, "content.welcome_changed", tenant.slug)
            message = _("Le texte d'accueil est enregistré.")
        elif action == "actualite":
            values["news_date"] = _text(form, "news_date", 20)
            values["news_title"] = _text(form, "news_title", 200)
            values["news_body"] = long_text(form, "news_body", 5000, errors)
            published = parse_date(values["news_date"])
            if published is None or not 2000 <= published.year <= 2100:
                errors["news_date"] = _("Date invalide : écrivez-la comme 21/03/2026.")
            if not values["news_body"] and "news_body" not in errors:
                errors["news_body"] = _("Ce champ est obligatoire.")
            if errors or published is None:
                return await self._content_page(ctx, staff, values, errors, status_code=400)
            key = f"{published.isoformat()}-{uuid.uuid4().hex[:8]}"
            ctx.db.add(
                NewsItem(
                    tenant_id=ctx.tenant.id,
                    key=key,
                    published_on=published,
                    title=values["news_title"],
                    body=values["news_body"],
                )
            )
            staff_audit(ctx, staff, "content.news_added", key)
            message = _("L'actualité est publiée.")
        elif action == "cgu":
            values["terms_title"] = _text(form, "terms_title", 200)
            values["terms_body"] = long_text(form, "terms_body", 50_000, errors)
            current = await ctx.accounts.current_terms()
            if not values["terms_title"]:
                errors["terms_title"] = _("Ce champ est obligatoire.")
            if not values["terms_body"]:
                errors["terms_body"] = _("Ce champ est obligatoire.")
            elif "terms_body" not in errors and current and current.body == values["terms_body"]:
                errors["terms_body"] = _(
                    "Le texte est celui de la version en vigueur : modifiez-le."
                )
            if form.get("confirm") != "oui":
                errors["confirm"] = _(
                    "Cochez la case : chaque habitant devra accepter la nouvelle version."
                )
            if errors:
                return await self._content_page(ctx, staff, values, errors, status_code=400)
            latest = await ctx.db.scalar(
                select(func.max(TermsVersion.version)).where(
                    TermsVersion.tenant_id == ctx.tenant.id
                )
            )
            version = int(latest or 0) + 1
            ctx.db.add(
                TermsVersion(
                    tenant_id=ctx.tenant.id,
                    version=version,
                    title=values["terms_title"],
                    body=values["terms_body"],
                    published_at=datetime.now(UTC),
                )
            )
            staff_audit(ctx, staff, "content.terms_published", f"version {version}")
            message = _(
                "La version %(version)s des CGU est publiée : chaque habitant l'acceptera à sa "
                "prochaine connexion.",
                version=version,
            )
        else:
            raise NotFoundException()
        try:
            await ctx.db.commit()
        except IntegrityError:  # another version published at the same moment
            await ctx.db.rollback()
            ctx.flash(
                _("Une autre publication a eu lieu au même moment : vérifiez et recommencez."),
                "warning",
            )
            return await ctx.redirect("/admin/contenus")
        await ctx.request.app.state.services.resolver.invalidate()
        ctx.flash(message, "success")
        return await ctx.redirect("/admin/contenus")

    # -- help and legal pages ------------------------------------------------------------------
    @get("/pages", name="admin:pages")
    async def pages(self, ctx: AccountsContext) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        overridden = {
            (p.key, p.locale)
            for p in (
                await ctx.db.execute(
                    select(ContentPage).where(ContentPage.tenant_id == ctx.tenant.id)
                )
            ).scalars()
        }
        return await staff_page(
            ctx,
            "admin/pages.html",
            staff,
            pages=editable_pages(),
            locales=list(ctx.tenant.locales),
            overridden=overridden,
            page_title=_("Pages d'aide et pages légales"),
        )

    async def _page_row(self, ctx: AccountsContext, key: str, locale: str) -> ContentPage | None:
        if key not in dict(editable_pages()) or locale not in ctx.tenant.locales:
            raise NotFoundException()
        return await ctx.db.scalar(
            select(ContentPage).where(
                ContentPage.tenant_id == ctx.tenant.id,
                ContentPage.key == key,
                ContentPage.locale == locale,
            )
        )

    @get("/pages/{key:str}/{locale:str}", name="admin:page")
    async def page(
        self, ctx: AccountsContext, key: FromPath[str], locale: FromPath[str]
    ) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        row = await self._page_row(ctx, key, locale)
        body = row.body if row else default_content(key, locale)
        return await staff_page(
            ctx,
            "admin/page.html",
            staff,
            key=key,
            title=dict(editable_pages())[key],
            page_locale=locale,
            body=body,
            custom=row is not None,
            errors={},
            page_title=_(dict(editable_pages())[key]),
        )

    @post("/pages/{key:str}/{locale:str}", name="admin:page_post")
    async def page_post(
        self, ctx: AccountsContext, key: FromPath[str], locale: FromPath[str]
    ) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        row = await self._page_row(ctx, key, locale)
        form = await ctx.request.form()
        if form.get("action") == "defaut":
            if row is not None:
                await ctx.db.delete(row)
            staff_audit(ctx, staff, "content.page_reset", f"{key}/{locale}")
            message = _("La page reprend le texte par défaut de la plateforme.")
        else:
            problems: dict[str, str] = {}
            body = long_text(form, "body", 50_000, problems)
            if not body or problems:
                return await staff_page(
                    ctx,
                    "admin/page.html",
                    staff,
                    status_code=400,
                    key=key,
                    title=dict(editable_pages())[key],
                    page_locale=locale,
                    body=body,
                    custom=row is not None,
                    errors=problems or {"body": _("Ce champ est obligatoire.")},
                    page_title=_(dict(editable_pages())[key]),
                )
            if row is None:
                ctx.db.add(ContentPage(tenant_id=ctx.tenant.id, key=key, locale=locale, body=body))
            else:
                row.body = body
            staff_audit(ctx, staff, "content.page_changed", f"{key}/{locale}")
            message = _("La page est enregistrée.")
        await ctx.db.commit()
        ctx.flash(message, "success")
        return await ctx.redirect(f"/admin/pages/{key}/{locale}")

    @post("/contenus/actualites/{news_id:uuid}/supprimer", name="admin:news_delete")
    async def news_delete(
        self, ctx: AccountsContext, news_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        staff = await require_staff(ctx, "settings")
        if not isinstance(staff, StaffUser):
            return staff
        item = await ctx.db.scalar(
            select(NewsItem).where(NewsItem.tenant_id == ctx.tenant.id, NewsItem.id == news_id)
        )
        if item is None:
            raise NotFoundException()
        await ctx.db.delete(item)
        staff_audit(ctx, staff, "content.news_removed", item.key)
        await ctx.db.commit()
        ctx.flash(_("L'actualité est retirée."), "success")
        return await ctx.redirect("/admin/contenus")
