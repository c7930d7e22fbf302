"""Rendering a page: the common context (tenant, locale, CSRF token, links) and the response."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Request, Response
from litestar.enums import MediaType
from litestar.utils.scope.state import ScopeState

from guichet import i18n
from guichet.tenancy.snapshot import TenantSnapshot

__all__ = ["download_response", "render_page", "services_of", "tenant_of"]


def services_of(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.services


def tenant_of(request: Request[Any, Any, Any]) -> TenantSnapshot | None:
    return request.scope.get("state", {}).get("tenant")


def render_page(
    request: Request[Any, Any, Any],
    template: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response[str]:
    services = services_of(request)
    tenant = context.pop("tenant", None) or tenant_of(request)
    locale = request.scope.get("state", {}).get("locale") or (
        tenant.default_locale
        if tenant
        else i18n.negotiate(None, request.headers.get("accept-language"), i18n.KNOWN_LOCALES, "fr")
    )
    token = i18n.use_locale(locale)
    try:
        csrf = ScopeState.from_scope(request.scope).csrf_token
        base = f"/{tenant.slug}" if tenant else ""
        full_context = {
            "request": request,
            "tenant": tenant,
            "base": base,
            "locale": locale,
            "locales": list(tenant.locales) if tenant else ["fr"],
            "csrf_token": csrf if isinstance(csrf, str) else "",
            "path": request.url.path,
            "year": date.today().year,
            "page_title": "",
            **context,
        }
        theme = tenant.theme if tenant else "default"
        html = services.renderer.render(theme, template, full_context)
    finally:
        i18n._current.reset(token)
    response_headers = {"Cache-Control": "no-cache", "Content-Language": locale}
    response_headers.update(headers or {})
    return Response(
        html, media_type=MediaType.HTML, status_code=status_code, headers=response_headers
    )


def download_response(
    content: bytes, media_type: str, filename: str, sandbox: bool = False
) -> Response[bytes]:
    """A file to save (never shown inline), not kept in caches; a citizen's upload is also
    sandboxed, should a browser try to render it."""
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    }
    if sandbox:
        headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return Response(content, media_type=media_type, headers=headers)
