"""Public pages of a tenant (guide §1 and §7) and the platform's landing page."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any
from urllib.parse import urlsplit

from litestar import Controller, Request, Response, get
from litestar.datastructures import Cookie
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from guichet import i18n
from guichet.portal.services import PortalService
from guichet.tenancy.middleware import LOCALE_COOKIE
from guichet.tenancy.snapshot import TenantSnapshot
from guichet.web.pages import render_page, services_of, tenant_of

__all__ = ["PlatformController", "PortalController", "provide_db_session", "provide_tenant"]


async def provide_tenant(request: Request[Any, Any, Any]) -> TenantSnapshot:
    tenant = tenant_of(request)
    if tenant is None:  # the tenant middleware always sets it; this guards a misconfiguration
        raise NotFoundException()
    return tenant


async def provide_db_session(request: Request[Any, Any, Any], tenant: TenantSnapshot) -> Any:
    """A database session bound to the request's tenant (RLS on PostgreSQL)."""
    async with services_of(request).db.session(tenant.id) as session:
        yield session


_LEAFLET_LOCKS: dict[str, asyncio.Lock] = {}  # one per leaflet (tenant, language, text, look)


async def leaflet_pdf(services: Any, tenant: TenantSnapshot, locale: str, body: str) -> bytes:
    """The leaflet as an A4 PDF in the tenant's colours. An anonymous page: each text and look
    is rendered once and kept in the file store under its digest (a visitor cannot make the
    server render at will, whatever the number of tenants), one render at a time per digest."""
    from guichet.billing.pdf import invoice_pdf, tenant_logo

    look = (body, tenant.name, tenant.tagline, tenant.primary_color, tenant.logo_hash)
    digest = hashlib.sha256(repr((locale, tenant.theme, tenant.logo_alt, look)).encode())
    key = f"tenants/{tenant.id}/depliant-{locale}-{digest.hexdigest()[:20]}.pdf"
    files = services.files
    lock = _LEAFLET_LOCKS.setdefault(key, asyncio.Lock())
    async with lock:
        try:
            return bytes(await asyncio.to_thread(files.get, key))
        except FileNotFoundError:
            pass
        html = services.renderer.render(
            tenant.theme,
            "pdf/leaflet.html",
            {
                "tenant": tenant,
                "body": body,
                "logo": tenant_logo(files, tenant),
                "portal_url": f"{services.settings.web.public_url}/{tenant.slug}/",
                "locale": locale,
            },
        )
        data = bytes(await asyncio.to_thread(invoice_pdf, html))
        await asyncio.to_thread(files.put, key, data)
    return data


async def provide_portal(db_session: AsyncSession, tenant: TenantSnapshot) -> PortalService:
    return PortalService(db_session, tenant)


class PortalController(Controller):
    path = "/"
    dependencies = {"portal": Provide(provide_portal)}

    @get("/aide", name="portal:help")
    async def help(self, request: Request[Any, Any, Any], portal: PortalService) -> Response[str]:
        sections = await portal.help_sections(i18n_locale(request))
        return render_page(request, "portal/help.html", sections=sections)

    @get("/cgu", name="portal:terms")
    async def terms(self, request: Request[Any, Any, Any], portal: PortalService) -> Response[str]:
        terms = await portal.current_terms()
        return render_page(request, "portal/terms.html", terms=terms)

    @get("/mentions-legales", name="portal:legal")
    async def legal(self, request: Request[Any, Any, Any], portal: PortalService) -> Response[str]:
        body = await portal.legal_page("mentions-legales", i18n_locale(request))
        return render_page(request, "portal/page.html", body=body, page="mentions-legales")

    @get("/donnees-personnelles", name="portal:privacy")
    async def privacy(
        self, request: Request[Any, Any, Any], portal: PortalService
    ) -> Response[str]:
        body = await portal.legal_page("donnees-personnelles", i18n_locale(request))
        return render_page(request, "portal/page.html", body=body, page="donnees-personnelles")

    @get("/accessibilite", name="portal:accessibility")
    async def accessibility(
        self, request: Request[Any, Any, Any], portal: PortalService
    ) -> Response[str]:
        body = await portal.legal_page("accessibilite", i18n_locale(request))
        return render_page(request, "portal/page.html", body=body, page="accessibilite")

    @get("/contacts", name="portal:contacts")
    async def contacts(
        self, request: Request[Any, Any, Any], portal: PortalService
    ) -> Response[str]:
        body = await portal.legal_page("contacts", i18n_locale(request))
        return render_page(request, "portal/contacts.html", body=body)

    @get("/depliant", name="portal:leaflet")
    async def leaflet(
        self, request: Request[Any, Any, Any], portal: PortalService
    ) -> Response[str]:
        """The « dépliant explicatif » the guide's home page points to: what the space offers
        and how to create it, in the tenant's words when it rewrote it, printable as a PDF."""
        body = await portal.legal_page("depliant", i18n_locale(request))
        return render_page(request, "portal/leaflet.html", body=body)

    @get("/depliant.pdf", name="portal:leaflet_pdf")
    async def leaflet_pdf(
        self, request: Request[Any, Any, Any], portal: PortalService, tenant: TenantSnapshot
    ) -> Response[bytes]:
        locale = i18n_locale(request)
        body = await portal.legal_page("depliant", locale)
        services = services_of(request)
        data = await leaflet_pdf(services, tenant, locale, body)
        return Response(
            data,
            media_type="application/pdf",
            headers={
                "Content-Disposition": 'inline; filename="depliant.pdf"',
                "Cache-Control": "private, max-age=600",  # the visitor's language
            },
        )

    # -- language, branding ----------------------------------------------------------------
    @get("/langue/{code:str}", name="portal:language")
    async def language(
        self,
        request: Request[Any, Any, Any],
        tenant: TenantSnapshot,
        code: FromPath[str],
        next_url: FromQuery[str | None] = None,
    ) -> Redirect:
        if code not in tenant.locales:
            raise NotFoundException()
        target = _safe_next(next_url, tenant)
        return Redirect(
            target,
            status_code=303,
            cookies=[
                Cookie(
                    key=LOCALE_COOKIE,
                    value=code,
                    path=f"/{tenant.slug}",
                    max_age=365 * 24 * 3600,
                    httponly=True,
                    samesite="lax",
                    secure=services_of(request).settings.is_production,
                )
            ],
        )

    @get("/branding.css", name="portal:branding_css", media_type="text/css")
    async def branding_css(self, tenant: TenantSnapshot) -> Response[str]:
        css = (
            ":root{"
            f"--brand-primary:{tenant.primary_color};"
            f"--brand-on-primary:{tenant.on_primary_color};"
            f"--brand-accent:{tenant.accent_color};"
            f"--brand-on-accent:{tenant.on_accent_color};"
            "}\n"
        )
        return Response(
            css,
            media_type="text/css",
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    @get("/logo", name="portal:logo")
    async def logo(
        self, request: Request[Any, Any, Any], tenant: TenantSnapshot
    ) -> Response[bytes]:
        if not tenant.logo_file:
            raise NotFoundException()
        try:
            data = services_of(request).files.get(tenant.logo_file)
        except FileNotFoundError:
            raise NotFoundException() from None
        return Response(
            data,
            media_type=tenant.logo_media_type,
            headers={
                "Cache-Control": "public, max-age=31536000, immutable",
                # An SVG opened on its own must not run anything in the shared origin.
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
            },
        )

    @get("/{rest:path}", name="portal:not_found")
    async def not_found(self, rest: FromPath[str]) -> None:
        raise NotFoundException()


def i18n_locale(request: Request[Any, Any, Any]) -> str:
    return request.scope.get("state", {}).get("locale") or i18n.current_locale()


def _safe_next(next_url: str | None, tenant: TenantSnapshot) -> str:
    """Only a path inside the same tenant; anything else goes to the tenant's home."""
    home = f"/{tenant.slug}/"
    if not next_url:
        return home
    parts = urlsplit(next_url)
    if parts.scheme or parts.netloc or "\\" in next_url:
        return home
    if parts.path == f"/{tenant.slug}" or parts.path.startswith(home):
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return home


class PlatformController(Controller):
    include_in_schema = False  # pages, not the JSON API
    path = "/"

    @get("/", name="platform:landing")
    async def landing(self, request: Request[Any, Any, Any]) -> Response[str]:
        return render_page(request, "platform/landing.html")
