"""Invoice PDFs (WeasyPrint), branded for the tenant, accessible (PDF/UA-1).

Nothing is fetched while rendering: the logo is inlined as a data URI and the URL fetcher refuses
every URL (``file:``, ``http:``…), so an invoice field holding ``file:///etc/passwd`` or
``http://169.254.169.254/`` fetches nothing.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from typing import Any

from guichet import i18n
from guichet.billing.models import Invoice, InvoiceLine, Ledger, Payment
from guichet.files import FileStore
from guichet.tenancy.snapshot import TenantSnapshot
from guichet.web.templates import TemplateRenderer

__all__ = ["invoice_pdf", "render_invoice_html", "safe_fetcher"]


def safe_fetcher() -> Any:
    """WeasyPrint's fetcher allowing ``data:`` URIs only (the inlined logo): no file, no
    network. A refused URL is left out of the PDF (WeasyPrint logs a warning)."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data"}, allow_redirects=False, timeout=1)


@lru_cache(maxsize=64)
def _logo_data_uri(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def render_invoice_html(
    renderer: TemplateRenderer,
    files: FileStore,
    tenant: TenantSnapshot,
    invoice: Invoice,
    ledger: Ledger,
    lines: list[InvoiceLine],
    payments: list[Payment],
    locale: str = "fr",
) -> str:
    logo = ""
    if tenant.logo_file:
        logo = _logo_data_uri(tenant.logo_media_type, files.get(tenant.logo_file))
    token = i18n.use_locale(locale)
    try:
        return renderer.render(
            tenant.theme,
            "pdf/invoice.html",
            {
                "tenant": tenant,
                "invoice": invoice,
                "ledger": ledger,
                "lines": lines,
                "payments": payments,
                "logo": logo,
                "locale": locale,
            },
        )
    finally:
        i18n._current.reset(token)


def invoice_pdf(html: str) -> bytes:
    from weasyprint import HTML

    return HTML(string=html, url_fetcher=safe_fetcher()).write_pdf(pdf_variant="pdf/ua-1")


def content_digest(html: str) -> str:
    return hashlib.sha256(html.encode()).hexdigest()
