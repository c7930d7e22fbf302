"""A billing run renders its invoices as one document cut into one PDF per invoice
(``split_batch``): each invoice keeps all its pages, in its own PDF and in the print file."""

import io

from pypdf import PdfReader

from guichet.billing import pdf

BATCH = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>t</title></head><body>
<section id="inv-a" style="page-break-after: always"><p>Facture A</p></section>
<section id="inv-b" style="page-break-after: always">{long}</section>
<section id="inv-c"><p>Facture C</p></section></body></html>"""


def pages(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def test_a_long_invoice_of_a_batch_keeps_all_its_pages():
    """Its section's anchor is on each of its pages: each was taken for the invoice's start, and
    the stored PDF and the print file kept only its last page."""
    long = "".join(f"<p>Facture B, ligne {n}</p>" for n in range(1, 121))
    result = pdf.split_batch(BATCH.format(long=long), ["a", "b", "c"], {"a", "b", "c"})
    b_pages = pages(result["b"])
    assert len(b_pages) >= 3
    assert "Facture B, ligne 1" in b_pages[0].split("\n")
    assert "Facture B, ligne 120" in b_pages[-1].split("\n")
    assert [len(pages(result["a"])), len(pages(result["c"]))] == [1, 1]
    assert len(pages(result["*"])) == len(b_pages) + 2
