"""The composition root: ``create_app(settings)`` builds the Litestar application."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from litestar import Litestar, Router
from litestar.config.csrf import CSRFConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from guichet.accounts.controllers import AccountsController
from guichet.accounts.passwords import dummy_hash
from guichet.accounts.space import SpaceController
from guichet.admin.billing import BillingAdminController
from guichet.admin.citizens import CitizensController
from guichet.admin.content import ContentController
from guichet.admin.controllers import AdminController
from guichet.admin.procedures import ProcedureEditorController
from guichet.background import ensure_broker_folders
from guichet.billing.api import import_invoices_api, import_items_api
from guichet.billing.api_schema import API_COMPONENTS
from guichet.billing.controllers import BillingController, PaymentNotificationController
from guichet.billing.sandbox import SandboxBankController
from guichet.contacts.controllers import ContactsController
from guichet.documents.controllers import DocumentsController
from guichet.operators.web import OperatorController
from guichet.portal.controllers import (
    PlatformController,
    PortalController,
    provide_db_session,
    provide_tenant,
)
from guichet.procedures.agents import AgentRequestsController
from guichet.procedures.controllers import ProceduresController, RequestsController
from guichet.services import build_services
from guichet.settings import Settings
from guichet.staff.web import StaffAuthController
from guichet.tenancy.middleware import TenantMiddleware
from guichet.web.devoutbox import outbox_attachment, outbox_index, outbox_message
from guichet.web.errors import exception_handlers
from guichet.web.health import HealthController
from guichet.web.logs import RequestContextMiddleware, configure_logging
from guichet.web.security import security_headers_hook
from guichet.web.static import serve_static
from guichet.web.stores import close_store

__all__ = ["create_app", "create_app_from_env"]

CSRF_COOKIE = "guichet_csrf"


def create_app(settings: Settings | None = None, *, configure_logs: bool = True) -> Litestar:
    settings = settings or Settings.from_env()
    if configure_logs:
        configure_logging(settings.web.log_level, settings.web.log_json)
    services = build_services(settings)
    ensure_broker_folders(settings)

    tenant_router = Router(
        path="/{tenant_slug:str}",
        include_in_schema=False,  # pages; the OpenAPI document describes the JSON API only
        route_handlers=[
            PortalController,
            AccountsController,
            SpaceController,
            ContactsController,
            DocumentsController,
            BillingController,
            PaymentNotificationController,
            ProceduresController,
            RequestsController,
            StaffAuthController,
            AgentRequestsController,
            AdminController,
            CitizensController,
            BillingAdminController,
            ContentController,
            ProcedureEditorController,
        ],
        middleware=[TenantMiddleware],
        dependencies={
            "tenant": Provide(provide_tenant),
            "db_session": Provide(provide_db_session),
        },
    )

    async def on_startup(_app: Litestar) -> None:
        # made before the first sign-in: an unknown account's check then costs what a known
        # one's does from the very first request (the hash is made on first use elsewhere)
        await asyncio.to_thread(dummy_hash)

    async def on_shutdown(_app: Litestar) -> None:
        await services.db.dispose()
        await close_store(services.store)

    app = Litestar(
        route_handlers=[
            PlatformController,
            HealthController,
            serve_static,
            outbox_index,
            outbox_message,
            outbox_attachment,
            SandboxBankController,
            OperatorController,
            import_invoices_api,
            import_items_api,
            tenant_router,
        ],
        middleware=[RequestContextMiddleware],
        before_send=[
            security_headers_hook(behind_tls=settings.web.public_url.startswith("https://"))
        ],
        csrf_config=CSRFConfig(
            secret=settings.web.secret_key,
            cookie_name=CSRF_COOKIE,
            cookie_secure=settings.is_production,
            cookie_httponly=True,
            cookie_samesite="lax",
            header_name="x-csrf-token",
            # The bank's server-to-server notifications and the sandbox bank's pages (which
            # stand for another site) carry signatures instead of CSRF tokens.
            exclude=[r"^/[a-z0-9-]+/paiement/notification$", r"^/sandbox/banque", r"^/api/"],
        ),
        exception_handlers=exception_handlers,
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        openapi_config=OpenAPIConfig(
            title="Guichet — API de facturation",
            version="1.0.0",
            path="/api/schema",
            description="The API of the tenants' billing software (invoices in, report out).",
            components=API_COMPONENTS,
        ),
        debug=False,
        # Tenants allow documents of up to 100 MB; each tenant's own limit is checked by the
        # documents domain, which answers beside the field and keeps what was typed.
        request_max_body_size=101 * 1024 * 1024,
        logging_config=None,
    )
    app.state.services = services
    app.state.settings = settings
    logging.getLogger("guichet").info("application created (mode=%s)", settings.mode)
    return app


def create_app_from_env() -> Any:
    """Factory for ASGI servers (``uvicorn --factory guichet.app:create_app_from_env``)."""
    return create_app(Settings.from_env())
