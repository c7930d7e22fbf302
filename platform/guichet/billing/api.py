"""The JSON API of the tenants' software: ``POST /api/v1/{tenant}/invoices`` (invoices made
elsewhere) and ``POST /api/v1/{tenant}/billable-items`` (services delivered, for the portal's
own billing runs).

Authenticated by a per-tenant token (``Authorization: Bearer …``, made with ``guichet tokens
create``); a token of one tenant means nothing at another. The answer is the import report:
created, unchanged, and the errors line by line.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, Response, post
from litestar.params import FromPath
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.billing.api_schema import BillableItemsOperation, InvoicesOperation
from guichet.billing.imports import import_invoices, verify_token
from guichet.billing.items import import_items
from guichet.tenancy.models import TenantStatus
from guichet.web.pages import services_of

__all__ = ["import_invoices_api", "import_items_api"]

MAX_BODY = 5 * 1024 * 1024


def _error(status: int, message: str) -> Response[dict[str, Any]]:
    return Response({"error": message}, status_code=status, headers={"Cache-Control": "no-store"})


Importer = Callable[[AsyncSession, uuid.UUID, list[Any]], Awaitable[Any]]


async def _import(
    request: Request[Any, Any, Any], tenant_slug: str, key: str, importer: Importer
) -> Any:
    """The tenant's token checked, the body's list under ``key`` handed to ``importer`` and
    committed with the token's last use, in one session: the report, or the error answer."""
    services = services_of(request)
    tenant = await services.resolver.resolve(tenant_slug)
    if tenant is None:
        return _error(404, "unknown tenant")
    if tenant.status != TenantStatus.ACTIVE:
        return _error(503, "tenant unavailable")
    authorization = request.headers.get("authorization", "")
    token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
    body = await request.body()
    if len(body) > MAX_BODY:
        return _error(413, "body larger than 5 MB")
    async with services.db.session(tenant.id) as session:
        if not token or not await verify_token(session, tenant.id, token):
            return _error(401, "missing or invalid token")
        try:
            payload = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError):
            return _error(400, "the body is not JSON")
        entries = payload.get(key) if isinstance(payload, dict) else None
        if not isinstance(entries, list):
            return _error(400, f'expected {{"{key}": [...]}}')
        report = await importer(session, tenant.id, entries)
        await session.commit()
    return report


def _answer(report: Any, status: int) -> Response[dict[str, Any]]:
    return Response(report.as_dict(), status_code=status, headers={"Cache-Control": "no-store"})


@post(
    "/api/v1/{tenant_slug:str}/invoices",
    name="api:invoices",
    tags=["billing"],
    summary="Push invoices (idempotent on ledger and number)",
    operation_class=InvoicesOperation,
)
async def import_invoices_api(
    request: Request[Any, Any, Any], tenant_slug: FromPath[str]
) -> Response[dict[str, Any]]:
    report = await _import(request, tenant_slug, "invoices", import_invoices)
    if isinstance(report, Response):
        return report
    return _answer(
        report, 200 if not report.errors else 207 if report.created or report.unchanged else 422
    )


@post(
    "/api/v1/{tenant_slug:str}/billable-items",
    name="api:billable_items",
    tags=["billing"],
    summary="Push billable items for the monthly billing runs (idempotent)",
    operation_class=BillableItemsOperation,
)
async def import_items_api(
    request: Request[Any, Any, Any], tenant_slug: FromPath[str]
) -> Response[dict[str, Any]]:
    try:
        report = await _import(request, tenant_slug, "items", import_items)
    except IntegrityError:  # the same items sent twice at the same moment: one import won
        return _error(409, "another import of the same items was running: send them again")
    if isinstance(report, Response):
        return report
    return _answer(report, 422 if report.errors else 200)
