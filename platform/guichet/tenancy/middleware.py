"""Resolves the tenant of ``/{tenant_slug}/…`` once, at the edge, before any handler runs.

Sets ``request.state.tenant`` (a :class:`TenantSnapshot`), the locale of the request and the
tenant of the log lines; refuses unknown, suspended and maintenance tenants.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import Request
from litestar.exceptions import HTTPException, NotFoundException
from litestar.types import ASGIApp, Receive, Scope, Send

from guichet import i18n
from guichet.tenancy.models import TenantStatus
from guichet.tenancy.snapshot import TenantSnapshot
from guichet.web.logs import tenant_var
from guichet.web.sessions import SessionManager

__all__ = ["LOCALE_COOKIE", "TenantMiddleware", "TenantUnavailable", "UnknownTenant"]

LOCALE_COOKIE = "guichet_locale"
# Pages that stay reachable during maintenance so that the maintenance page is branded.
_ALWAYS_SERVED = ("branding.css", "logo")
# what stays open when a tenant is in maintenance: the staff's spaces (their root included:
# /admin, where an administrator lands and ends the maintenance) and the bank's notifications
_OPEN_IN_MAINTENANCE = {"agents", "admin"}
_NOTIFICATIONS = "/paiement/notification"


class UnknownTenant(NotFoundException):
    """No tenant has this slug: the platform's 404 page, revealing nothing."""


class TenantUnavailable(HTTPException):
    status_code = 503

    def __init__(self, tenant: TenantSnapshot, reason: str) -> None:
        super().__init__(detail=reason)
        self.tenant = tenant
        self.reason = reason


class TenantMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._resolve(scope)
        except HTTPException as exc:
            # Answered here, inside the app's middleware stack, so that the security headers
            # and the request log wrap these pages too.
            from guichet.web.errors import handle_http_exception

            request: Request[Any, Any, Any] = Request(scope)
            response = handle_http_exception(request, exc)
            await response.to_asgi_response(None, request)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _resolve(self, scope: Scope) -> None:
        services = scope["litestar_app"].state.services
        slug = scope.get("path_params", {}).get("tenant_slug", "")
        request: Request[Any, Any, Any] = Request(scope)
        sessions = services.namespace("sessions")

        def session_of(known: TenantSnapshot) -> tuple[Any, str] | None:
            key = SessionManager.key_of(request, known.id)
            return (sessions, key) if key else None

        # the session is read with the tenant's generation, in one round trip
        tenant, read = await services.resolver.resolve_reading(slug, session_of)
        state: dict[str, Any] = scope.setdefault("state", {})
        if tenant is None:
            raise UnknownTenant()
        state["tenant"] = tenant
        state["prefetched"] = read
        tenant_var.set(tenant.slug)
        locale = i18n.negotiate(
            request.cookies.get(LOCALE_COOKIE),
            request.headers.get("accept-language"),
            tenant.locales,
            tenant.default_locale,
        )
        state["locale"] = locale
        i18n.use_locale(locale)
        rest = scope.get("path_params", {}).get("rest", "")
        served_anyway = scope["path"].rstrip("/").rsplit("/", 1)[-1] in _ALWAYS_SERVED and not rest
        if tenant.status == TenantStatus.SUSPENDED and not served_anyway:
            raise TenantUnavailable(tenant, "suspended")
        if tenant.status == TenantStatus.MAINTENANCE and not served_anyway:
            # staff keep working (and can end the maintenance they started); the bank's
            # notifications still land, so that no payment is lost
            inside = scope["path"][len(slug) + 1 :]
            first = inside.lstrip("/").split("/", 1)[0]
            if first not in _OPEN_IN_MAINTENANCE and inside.rstrip("/") != _NOTIFICATIONS:
                raise TenantUnavailable(tenant, "maintenance")
