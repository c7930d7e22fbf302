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


def _placed(pdf: bytes, wanted: set[str]) -> list[tuple[int, float, float, str]]:
    """(page, mm from the left, mm from the top, text) of the lines in ``wanted``."""
    found = []
    for number, page in enumerate(PdfReader(io.BytesIO(pdf)).pages):
        height = float(page.mediabox.height)

        def visit(text, cm, tm, _font, _size, number=number, height=height):
            if text.strip() in wanted:
                x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
                y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                found.append((number, x / 72 * 25.4, (height - y) / 72 * 25.4, text.strip()))

        page.extract_text(visitor_text=visit)
    return found


def test_the_address_shows_in_a_window_envelope_on_every_invoice(tmp_path):
    """The recipient's address sits at the same place on every invoice of a print file, in the
    window of a DL envelope (50 to 88 mm from the top, from 110 mm from the left: above the
    first fold at 99 mm), whatever the length of the addresses. It used to follow the header,
    reached 106 mm with a long address, and stood 2.1 mm lower on a print file's first page."""
    tenant = SimpleNamespace(**vars(TENANT))
    tenant.contact_address = (
        "Espace Seniors — CCAS de Castres\nHôtel de ville\nBâtiment administratif, 2e étage\n"
        "2 place de la République\nBP 40123\n81100 CASTRES CEDEX"
    )

    def invoice(address: str) -> SimpleNamespace:
        return SimpleNamespace(
            id=uuid.uuid4(),
            number="2001000001",
            label="Janvier 2020",
            recipient="Madame ALQUIER Cécile",
            recipient_address=address,
            issue_date=date(2019, 12, 17),
            due_date=date(2020, 2, 15),
            status="non_reglee",
            total_cents=853,
            paid_cents=0,
            amount_due_cents=853,
        )

    row = SimpleNamespace(label="Portage de repas", quantity=1, unit_cents=853, amount_cents=853)
    addresses = [
        "12 rue Villegoudou\n81000 ALBI",
        "Résidence les Cèdres\nBâtiment B, appartement 12\n12 rue Villegoudou\nBP 12\n81000 ALBI",
    ]
    html = render_invoices_html(
        TemplateRenderer(ROOT / "themes"),
        LocalFileStore(tmp_path),
        tenant,  # type: ignore[arg-type]
        [InvoiceDoc(invoice(a), LEDGER, [row], []) for a in addresses],  # type: ignore[arg-type]
        "Facture",
        portal_url="https://guichet.example.fr/ccas-castres/",
    )
    placed = _placed(invoice_pdf(html), {"Madame ALQUIER Cécile", "81000 ALBI"})
    names = [p for p in placed if p[3] == "Madame ALQUIER Cécile"]
    cities = [p for p in placed if p[3] == "81000 ALBI"]
    assert [p[0] for p in names] == [p[0] for p in cities] == [0, 1]  # one invoice a page
    for _page, left, top, _text in names + cities:
        assert 109.5 <= left <= 111, left  # the window's left edge is at about 100 mm
        assert 50 <= top <= 88, top  # baselines inside the window, above the fold
    assert abs(names[0][2] - names[1][2]) < 0.1  # the same place on every invoice
