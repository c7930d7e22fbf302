"""The invoice PDF's page breaks, with the real template: whatever the number of lines, the last
sheet never holds only « Besoin d'aide ? » (a tester found such a sheet in a print file)."""

import io
import uuid
from datetime import date
from pathlib import Path
from types import SimpleNamespace

from pypdf import PdfReader

from guichet.billing.pdf import InvoiceDoc, invoice_pdf, render_invoices_html
from guichet.files import LocalFileStore
from guichet.web.templates import TemplateRenderer

ROOT = Path(__file__).resolve().parents[2]
TENANT = SimpleNamespace(
    theme="default",
    slug="ccas-castres",
    name="CCAS de Castres",
    of_name="du CCAS de Castres",
    tagline="Centre Communal d'Action Sociale",
    contact_address="Espace Seniors — CCAS de Castres\n2 place de la République\n81100 CASTRES",
    contact_phone="05 63 71 56 13",
    contact_email="espace.seniors@ville-castres.fr",
    contact_hours="Du lundi au vendredi : 8h-17h",
    primary_color="#00607a",
    logo_file="",
    logo_alt="",
)
LEDGER = SimpleNamespace(name="FACTURATION SERVICE SÉNIORS", cheque_payee="Régie Service Séniors")


def pdf_of(lines: int, tmp_path: Path) -> list[str]:
    invoice = SimpleNamespace(
        id=uuid.uuid4(),
        number="2001000001",
        label="Janvier 2020",
        recipient="Madame ALQUIER Cécile",
        recipient_address="12 rue Villegoudou\n81100 CASTRES",
        issue_date=date(2019, 12, 17),
        due_date=date(2020, 2, 15),
        status="non_reglee",
        total_cents=853 * lines,
        paid_cents=0,
        amount_due_cents=853 * lines,
    )
    rows = [
        SimpleNamespace(
            label="Portage de repas à domicile", quantity=1, unit_cents=853, amount_cents=853
        )
        for _ in range(lines)
    ]
    html = render_invoices_html(
        TemplateRenderer(ROOT / "themes"),
        LocalFileStore(tmp_path),
        TENANT,  # type: ignore[arg-type]
        [InvoiceDoc(invoice, LEDGER, rows, [])],  # type: ignore[arg-type]
        "Facture",
        portal_url="https://guichet.example.fr/ccas-castres/",
    )
    return [page.extract_text() for page in PdfReader(io.BytesIO(invoice_pdf(html))).pages]


def test_help_line_never_alone_on_the_last_sheet(tmp_path):
    sheets = set()
    for lines in range(20, 61):
        pages = pdf_of(lines, tmp_path)
        sheets.add(len(pages))
        last = " ".join(pages[-1].split())
        assert "Besoin d'aide ?" in last, lines
        assert "Comment régler cette facture" in last, (lines, last)
    assert sheets >= {2, 3}  # the range did cross page ends
