"""Invoice PDFs (WeasyPrint), branded for the tenant, accessible (PDF/UA-1).

Nothing is fetched while rendering: the logo is inlined as a data URI and the URL fetcher allows
``data:`` URIs only, so an invoice field holding ``file:///etc/passwd`` or
``http://169.254.169.254/`` fetches nothing.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from guichet import i18n
from guichet.billing.models import Invoice, InvoiceLine, Ledger, Payment
from guichet.files import FileStore
from guichet.tenancy.snapshot import TenantSnapshot
from guichet.web.templates import TemplateRenderer

log = logging.getLogger(__name__)

__all__ = [
    "InvoiceDoc",
    "content_digest",
    "invoice_pdf",
    "render_invoice_html",
    "render_invoices_html",
    "safe_fetcher",
    "split_batch",
    "tenant_logo",
]


# PDF/UA-1 (tagged, accessible): about 30 % slower to write than plain PDF (bench/README.md).
PDF_VARIANT: str | None = "pdf/ua-1"


def safe_fetcher() -> Any:
    """WeasyPrint's fetcher allowing ``data:`` URIs only (the inlined logo): no file, no
    network. A refused URL is left out of the PDF (WeasyPrint logs a warning)."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data"}, allow_redirects=False, timeout=1)


@lru_cache(maxsize=64)
def _logo_data_uri(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def tenant_logo(files: FileStore, tenant: TenantSnapshot) -> str:
    """The tenant's logo as a data URI for a PDF (nothing is fetched while rendering), or ''."""
    if not tenant.logo_file:
        return ""
    try:
        data = files.get(tenant.logo_file)
    except FileNotFoundError:  # the invoice matters more than the logo: made without it
        log.warning("logo of %s missing from the file store: %s", tenant.slug, tenant.logo_file)
        return ""
    return _logo_data_uri(tenant.logo_media_type, data)


@dataclass
class InvoiceDoc:
    invoice: Invoice
    ledger: Ledger
    lines: list[InvoiceLine]
    payments: list[Payment]


def render_invoices_html(
    renderer: TemplateRenderer,
    files: FileStore,
    tenant: TenantSnapshot,
    items: list[InvoiceDoc],
    title: str,
    locale: str = "fr",
) -> str:
    """One HTML document holding each invoice in its own ``<section id="inv-…">``."""
    logo = tenant_logo(files, tenant)
    token = i18n.use_locale(locale)
    try:
        context = {"tenant": tenant, "items": items, "logo": logo, "locale": locale, "title": title}
        return renderer.render(tenant.theme, "pdf/invoice.html", context)
    finally:
        i18n._current.reset(token)


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
    title = f"{ledger.name} — {invoice.number} — {invoice.label}"
    items = [InvoiceDoc(invoice, ledger, lines, payments)]
    return render_invoices_html(renderer, files, tenant, items, title, locale)


def invoice_pdf(html: str) -> bytes:
    from weasyprint import HTML

    with _collected_once():
        document = HTML(string=html, url_fetcher=safe_fetcher())
        pdf: bytes = document.write_pdf(pdf_variant=PDF_VARIANT)
    return pdf


_renders = 0
_ended = 0
_renders_lock = threading.Lock()
# While renders overlap the collector stays off: every tenth end collects the middle
# generation too and every hundredth the whole heap (the collector's own rhythm, scaled), so
# that cycles that outlived one collection are freed too.
_MIDDLE_EVERY, _FULL_EVERY = 10, 100


@contextmanager
def _collected_once() -> Iterator[None]:
    """No garbage collection while WeasyPrint lays out and writes, one afterwards.

    A batch allocates millions of short-lived objects: with the default thresholds Python
    runs thousands of collections over them while the batch is being made, and full ones over
    the whole heap (about a fifth of a billing run's time, bench/README.md). The collector is
    off while any rendering runs (the web's downloads render in threads too) and the
    rendering's garbage is collected in one go at the end, which keeps memory flat. While
    renders overlap without a pause (a worker's batches run one after the other; the web's
    downloads rarely overlap), the older generations are collected every tenth and hundredth
    render."""
    global _renders, _ended
    with _renders_lock:
        _renders += 1
        if _renders == 1:
            gc.disable()
    try:
        yield
    finally:
        with _renders_lock:
            _renders -= 1
            _ended += 1
            overlapping = _renders > 0
            if not overlapping:
                gc.enable()
            generation = 0
            if overlapping and _ended % _FULL_EVERY == 0:
                generation = 2
            elif overlapping and _ended % _MIDDLE_EVERY == 0:
                generation = 1
        # What was made while the collector was off is all in the youngest generation: the
        # rendering's garbage goes without a pass over the whole heap.
        gc.collect(generation)


def split_batch(
    html: str, invoice_ids: list[str], combined: set[str] | None = None
) -> dict[str, bytes]:
    """Render many invoices as one document (fonts and styles are laid out once) and cut it into
    one PDF per invoice, at the page where each invoice's section starts. With ``combined``, the
    result also holds, under the key ``"*"``, one PDF of the pages of those invoices (the
    batch's part of the print file), written from the same layout."""
    with _collected_once():
        return _split_batch(html, invoice_ids, combined)


def _split_batch(html: str, invoice_ids: list[str], combined: set[str] | None) -> dict[str, bytes]:
    from weasyprint import HTML

    document = HTML(string=html, url_fetcher=safe_fetcher()).render()
    starts: dict[int, str] = {}
    for number, page in enumerate(document.pages):
        for anchor in page.anchors:
            if anchor.startswith("inv-"):
                starts.setdefault(number, anchor[4:])
    ordered = sorted(starts.items())
    result: dict[str, bytes] = {}
    selected: list[Any] = []
    for position, (first, invoice_id) in enumerate(ordered):
        last = ordered[position + 1][0] if position + 1 < len(ordered) else len(document.pages)
        part = document.copy(document.pages[first:last])
        result[invoice_id] = part.write_pdf(pdf_variant=PDF_VARIANT)
        if combined is not None and invoice_id in combined:
            selected += document.pages[first:last]
    if combined:
        result["*"] = document.copy(selected).write_pdf() if selected else b""
    missing = set(invoice_ids) - set(result)
    if missing:
        raise RuntimeError(f"{len(missing)} invoice(s) not found in the rendered batch")
    return result


def content_digest(html: str) -> str:
    return hashlib.sha256(html.encode()).hexdigest()
