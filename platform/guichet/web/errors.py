"""Branded error pages (404, 403, 405, 500, 503), never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from asyncpg import exceptions as asyncpg_errors
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from guichet.tenancy.middleware import TenantUnavailable, UnknownTenant
from guichet.web.pages import render_page, services_of, tenant_of

__all__ = ["exception_handlers"]

log = logging.getLogger("guichet.errors")


def _tenant_for_error(request: Request[Any, Any, Any]) -> Any:
    tenant = tenant_of(request)
    if tenant is not None:
        return tenant
    first = request.url.path.strip("/").split("/", 1)[0]
    try:
        return services_of(request).resolver.peek(first) if first else None
    except Exception:
        return None


def _render_error(
    request: Request[Any, Any, Any], status: int, *, tenant: Any = None, **context: Any
) -> Response[str]:
    try:
        return render_page(
            request,
            "errors/error.html",
            status_code=status,
            tenant=tenant,
            status=status,
            headers={"Cache-Control": "no-store"},
            **context,
        )
    except Exception:  # the theme itself failed: a plain page, still no trace
        log.exception("error page could not be rendered")
        return Response(
            "<!doctype html><html lang=fr><meta charset=utf-8><title>Erreur</title>"
            "<h1>Le service est momentanément indisponible.</h1>",
            status_code=status,
            media_type="text/html",
        )


_CLIENT_GONE = "client disconnected prematurely"  # what litestar's Request says
# The detail of a 403 raised because a staff member's role does not allow the page (any other
# 403 is a form that could not be verified).
ROLE_REFUSED = "role does not allow this page"


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[str]:
    if isinstance(exc, TenantUnavailable):
        return _render_error(request, 503, tenant=exc.tenant, reason=exc.reason, headers_retry=True)
    if isinstance(exc, UnknownTenant):
        return _render_error(request, 404, tenant=None)
    status = exc.status_code
    if status >= 500 and exc.detail == _CLIENT_GONE:
        # a browser closed in the middle of sending a form: nobody reads the answer, and it
        # is no server error (it would count as a 500 in the metrics)
        log.info("the client went away before sending its whole request")
        return Response(content="", status_code=400)
    if status >= 500:
        log.error("HTTP %s: %s", status, exc.detail)
    tenant = _tenant_for_error(request)
    return _render_error(request, status, tenant=tenant, role_refused=exc.detail == ROLE_REFUSED)


def handle_not_found(request: Request[Any, Any, Any], exc: NotFoundException) -> Response[str]:
    return handle_http_exception(request, exc)


def handle_dependency_down(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
    """A database or store that does not answer: a clear 503 page; nothing was half-done."""
    log.error("a dependency is unavailable: %s", type(exc).__name__, exc_info=exc)
    return _render_error(request, 503, tenant=_tenant_for_error(request), reason="dependency")


def handle_missing_file(request: Request[Any, Any, Any], exc: FileNotFoundError) -> Response[str]:
    """A row whose file is not in the store (a restore without its files): that file is not
    found — a 404 page, never a trace — and the operators are told."""
    log.warning("a stored file is missing: %s", exc)
    return _render_error(request, 404, tenant=_tenant_for_error(request))


def _dependency_failure(exc: BaseException) -> bool:
    """A database, store or broker that went away, however deep in the chain it shows (the
    driver's own error may reach us raw, or as the cause of another)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _DEPENDENCY_ERRORS):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False


def handle_internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
    if _dependency_failure(exc):
        return handle_dependency_down(request, exc)
    log.error("unhandled error", exc_info=exc)
    return _render_error(request, HTTP_500_INTERNAL_SERVER_ERROR, tenant=_tenant_for_error(request))


_DEPENDENCY_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    TimeoutError,
    asyncpg_errors.PostgresConnectionError,  # the connection was lost
    asyncpg_errors.OperatorInterventionError,  # shutting down, starting up, admin shutdown
)

exception_handlers: dict[Any, Any] = {
    HTTPException: handle_http_exception,
    NotFoundException: handle_not_found,
    OperationalError: handle_dependency_down,
    InterfaceError: handle_dependency_down,
    RedisConnectionError: handle_dependency_down,
    ConnectionError: handle_dependency_down,
    FileNotFoundError: handle_missing_file,
    Exception: handle_internal_error,
}
