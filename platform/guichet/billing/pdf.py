"""Invoice PDFs (WeasyPrint), branded for the tenant, accessible (PDF/UA-1).

Nothing is fetched while rendering: the logo is inlined as a data URI and the URL fetcher allows
``data:`` URIs only, so an invoice field holding ``file:///etc/passwd`` or
``http://169.254.169.254/`` fetches nothing.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import io
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, BinaryIO

from guichet import i18n
from guichet.billing.models import Invoice, InvoiceLine, Ledger, Payment
from guichet.files import FileStore, data_uri
from guichet.settings import Settings
from guichet.tenancy.snapshot import TenantSnapshot
from guichet.web.templates import TemplateRenderer

if TYPE_CHECKING:
    from guichet.services import Services

log = logging.getLogger(__name__)

__all__ = [
    "InvoiceDoc",
    "PdfJoiner",
    "content_digest",
    "current_invoice_pdf",
    "invoice_pdf",
    "join_pdfs",
    "portal_url",
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
    return data_uri(media_type, data)


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
    portal_url: str = "",
) -> str:
    """One HTML document holding each invoice in its own ``<section id="inv-…">``.
    ``portal_url``: the tenant's portal, which a letter must name (settings.web.public_url
    and the slug, the same for the worker and the web: the stored PDF's digest depends on it)."""
    logo = tenant_logo(files, tenant)
    token = i18n.use_locale(locale)
    try:
        context = {
            "tenant": tenant,
            "items": items,
            "logo": logo,
            "locale": locale,
            "title": title,
            "portal_url": portal_url,
        }
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
    portal_url: str = "",
) -> str:
    title = f"{ledger.name} — {invoice.number} — {invoice.label}"
    items = [InvoiceDoc(invoice, ledger, lines, payments)]
    return render_invoices_html(renderer, files, tenant, items, title, locale, portal_url)


async def current_invoice_pdf(
    services: Services,
    commit: Callable[[], Awaitable[None]],
    tenant: TenantSnapshot,
    invoice: Invoice,
    ledger: Ledger,
    lines: list[InvoiceLine],
    payments: list[Payment],
) -> bytes:
    """The invoice's PDF, for its citizen or an agent: the stored one while the invoice is
    unchanged; else rendered, stored, ``invoice.pdf_key`` set to it and committed (``commit``),
    and the file it replaces deleted."""
    files = services.files
    html = render_invoice_html(
        services.renderer,
        files,
        tenant,
        invoice,
        ledger,
        lines,
        payments,
        portal_url=portal_url(services.settings, tenant),
    )
    digest = content_digest(html)
    if invoice.pdf_key and invoice.pdf_digest == digest and files.exists(invoice.pdf_key):
        return await asyncio.to_thread(files.get, invoice.pdf_key)
    # first download, or the invoice changed since: render and keep it
    data = await asyncio.to_thread(invoice_pdf, html)
    key = f"tenants/{tenant.id}/invoices/{invoice.id}-{digest[:12]}.pdf"
    await asyncio.to_thread(files.put, key, data)
    old = invoice.pdf_key
    invoice.pdf_key, invoice.pdf_digest = key, digest
    await commit()
    if old and old != key:
        files.delete(old)
    return data


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
    batch's part of the print file), joined from their own PDFs (``join_pdfs``)."""
    with _collected_once():
        return _split_batch(html, invoice_ids, combined)


def _split_batch(html: str, invoice_ids: list[str], combined: set[str] | None) -> dict[str, bytes]:
    from weasyprint import HTML

    document = HTML(string=html, url_fetcher=safe_fetcher()).render()
    # An invoice starts on the first page holding its section's anchor. A long invoice's
    # section goes on over pages that hold its anchor too: those pages are its own, not the
    # start of another copy of it (which kept only an invoice's last page).
    starts: dict[int, str] = {}
    seen: set[str] = set()
    for number, page in enumerate(document.pages):
        for anchor in page.anchors:
            if anchor.startswith("inv-") and anchor[4:] not in seen:
                seen.add(anchor[4:])
                starts.setdefault(number, anchor[4:])
    ordered = sorted(starts.items())
    result: dict[str, bytes] = {}
    for position, (first, invoice_id) in enumerate(ordered):
        last = ordered[position + 1][0] if position + 1 < len(ordered) else len(document.pages)
        part = document.copy(document.pages[first:last])
        result[invoice_id] = part.write_pdf(pdf_variant=PDF_VARIANT)
    missing = set(invoice_ids) - set(result)
    if missing:
        raise RuntimeError(f"{len(missing)} invoice(s) not found in the rendered batch")
    if combined:
        # The invoices' own PDFs, joined, rather than their pages painted a second time by
        # WeasyPrint: a tenth of a batch's time (bench/README.md), for a larger print file (each
        # page keeps its own font subsets).
        postal = [result[invoice_id] for _first, invoice_id in ordered if invoice_id in combined]
        result["*"] = join_pdfs(postal) if postal else b""
    return result


class PdfJoiner:
    """The pages of several PDFs, in the order added, as one PDF (qpdf, through pikepdf: the
    pages' objects are copied, nothing is drawn again). Use it in a ``with`` block."""

    def __init__(self) -> None:
        import pikepdf

        self._pikepdf = pikepdf
        self._joined = pikepdf.new()
        self._version = "1.3"  # an empty PDF's; raised to the newest added (WeasyPrint's 1.7)

    def add(self, data: bytes) -> None:
        # pikepdf copies a page's objects into the target at once: the source can go
        with self._pikepdf.open(io.BytesIO(data)) as source:
            self._joined.pages.extend(source.pages)
            self._version = max(self._version, source.pdf_version, key=_version_key)

    @property
    def pages(self) -> int:
        return len(self._joined.pages)

    def save(self, target: BinaryIO) -> None:
        self._joined.save(target, min_version=self._version)

    def close(self) -> None:
        self._joined.close()

    def __enter__(self) -> PdfJoiner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def join_pdfs(pdfs: Iterable[bytes]) -> bytes:
    """The pages of ``pdfs``, in order, as one PDF."""
    with PdfJoiner() as joiner:
        for data in pdfs:
            joiner.add(data)
        buffer = io.BytesIO()
        joiner.save(buffer)
        return buffer.getvalue()


def portal_url(settings: Settings, tenant: TenantSnapshot) -> str:
    """The tenant's portal as an invoice letter names it."""
    return f"{settings.web.public_url}/{tenant.slug}/"


def content_digest(html: str) -> str:
    return hashlib.sha256(html.encode()).hexdigest()
