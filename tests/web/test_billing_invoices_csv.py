"""Invoices made by a service's own billing software, uploaded as a CSV in Facturation by an
agent: the issue asks for them « by CSV upload, validated line by line with a report », and only
the command line (`guichet billing import`) took such a file. All or nothing, each problem on
its line of the file in French, the same file sent again changes nothing."""

import uuid
from html import unescape

import pytest
from sqlalchemy import select

from guichet.billing.models import Invoice, InvoiceLine
from guichet.db.session import Database
from tests.support.accounts import FR, post_form
from tests.support.staff import signed_in_staff

pytestmark = pytest.mark.asyncio(loop_scope="session")

HEADER = (
    "ledger;number;service;reference;label;issue_date;due_date;line_label;quantity;unit_price\n"
)
URL = "/{slug}/admin/facturation/factures/import"


def row(
    number,
    line_label="Portage de repas à domicile",
    quantity="20",
    price="8,53",
    reference="AS-2020-0001",
    ledger="seniors",
    due="15/02/2031",
):
    return (
        f"{ledger};{number};action-sociale;{reference};Janvier 2031;17/12/2030;{due};"
        f"{line_label};{quantity};{price}\n"
    )


def numbers(count):
    stem = uuid.uuid4().hex[:10].upper()
    return [f"T{stem}-{n}" for n in range(count)]


async def upload(web, slug, content, page_text):
    files = {"file": ("factures.csv", content.encode(), "text/csv")}
    return await post_form(web, URL.format(slug=slug), {}, page=page_text, files=files)


async def invoices(settings, wanted):
    """{number: (total, [(label, quantity, unit)])} of the invoices numbered ``wanted``."""
    db = Database(settings)
    try:
        async with db.session(all_tenants=True) as session:
            found = (
                await session.execute(select(Invoice).where(Invoice.number.in_(wanted)))
            ).scalars()
            result = {}
            for invoice in found:
                lines = (
                    await session.execute(
                        select(InvoiceLine.label, InvoiceLine.quantity, InvoiceLine.unit_cents)
                        .where(InvoiceLine.invoice_id == invoice.id)
                        .order_by(InvoiceLine.position)
                    )
                ).all()
                result[invoice.number] = (invoice.total_cents, [tuple(line) for line in lines])
            return result
    finally:
        await db.dispose()


async def test_invoices_uploaded_all_or_nothing_with_each_line_to_correct(web, backend):
    await signed_in_staff(web, backend.settings, role="administrateur")
    page = await web.get("/ccas-castres/admin/facturation/", headers=FR)
    assert "Importer des factures (CSV)" in unescape(page.text)
    good, other, bad, early = numbers(4)

    nothing = await post_form(web, URL.format(slug="ccas-castres"), {}, page=page.text)
    assert nothing.status_code == 400
    assert "Choisissez le fichier CSV des factures." in unescape(nothing.text)
    no_header = await upload(web, "ccas-castres", row(good), page.text)
    assert "La première ligne doit nommer les colonnes" in unescape(no_header.text)
    short = await upload(
        web, "ccas-castres", HEADER.replace(";unit_price", "") + row(good), page.text
    )
    assert "Il manque : unit_price." in unescape(short.text)  # the column the file lacks

    refused = await upload(
        web,
        "ccas-castres",
        HEADER
        + row(good)
        + row(good, "Téléassistance", "1", "12,00")
        + "\n"  # line 4, empty: skipped, and still counted
        + row(bad)
        + row(bad, "Téléassistance", quantity="0")  # the invoice's second line
        + row(other, reference="AS-INCONNU")
        + row(early, due="01/12/2030"),
        page.text,
    )
    assert refused.status_code == 400
    report = unescape(refused.text)
    expected = [
        "Ligne 6 : quantité : un nombre entier de 1 à 10 000",
        "Ligne 7 : dossier : aucun dossier de ce numéro dans ce service",
        "Ligne 8 : à régler avant le : avant la date de la facture",
    ]
    for said in expected:
        assert said in report, said
    positions = [report.index(said) for said in expected]
    assert positions == sorted(positions)  # in the file's order
    for right in ("Ligne 2", "Ligne 3", "Ligne 5"):
        assert right not in report
    # nothing taken, the right ones included
    assert await invoices(backend.settings, [good, other, bad, early]) == {}

    taken = await upload(
        web,
        "ccas-castres",
        HEADER + row(good) + row(good, "Téléassistance", "1", "12,00") + row(other),
        refused.text,
    )
    assert taken.status_code == 200 and str(taken.url).endswith("/admin/facturation/")
    assert "Factures importées : 2 nouvelles, 0 déjà connue." in unescape(taken.text)
    stored = await invoices(backend.settings, [good, other])
    assert stored == {
        good: (
            20 * 853 + 1200,
            [("Portage de repas à domicile", 20, 853), ("Téléassistance", 1, 1200)],
        ),
        other: (20 * 853, [("Portage de repas à domicile", 20, 853)]),
    }
    again = await upload(
        web,
        "ccas-castres",
        HEADER + row(good) + row(good, "Téléassistance", "1", "12,00") + row(other),
        taken.text,
    )
    assert "Factures importées : 0 nouvelle, 2 déjà connues." in unescape(again.text)
    changed = await upload(web, "ccas-castres", HEADER + row(other, quantity="3"), again.text)
    assert "Ligne 2 : numéro : déjà importée avec un autre contenu" in unescape(changed.text)
    assert await invoices(backend.settings, [other]) == {other: stored[other]}


async def test_a_tenant_imports_only_into_its_own_ledgers_and_files(web, backend):
    """ccas-castres' ledger code and file number, sent by another tenant's agent, are no
    ledger and no file there; an agent without the billing permission cannot import at all."""
    from tests.web.test_admin import onboarded

    slug, _admin = await onboarded(web, backend)
    page = await web.get(f"/{slug}/admin/facturation/", headers=FR)
    [number] = numbers(1)
    refused = await upload(web, slug, HEADER + row(number), page.text)
    assert refused.status_code == 400
    assert "Ligne 2 : régie : aucune régie n'a ce code" in unescape(refused.text)
    assert await invoices(backend.settings, [number]) == {}
    # an agent (no billing permission) of ccas-castres
    web.cookies.clear()
    await signed_in_staff(web, backend.settings, role="agent")
    home = await web.get("/ccas-castres/admin/", headers=FR)
    forbidden = await upload(web, "ccas-castres", HEADER + row(number), home.text)
    assert forbidden.status_code == 403
    assert await invoices(backend.settings, [number]) == {}


async def test_the_rows_of_one_number_agree_and_every_mistake_is_said(web, backend):
    """Found by a tester: two households' rows under one number were merged into the first
    one's invoice; a line's second mistake was said only once the first was corrected; a
    0 € invoice was « non réglée » and « déjà réglée » at once; a report cut at 100 problems
    did not say so."""
    await signed_in_staff(web, backend.settings, role="administrateur")
    page = await web.get("/ccas-castres/admin/facturation/", headers=FR)
    shared, mistaken, free, unknown = numbers(4)
    merged = await upload(
        web,
        "ccas-castres",
        HEADER + row(shared) + row(shared, reference="AS-2019-0412", due="31/12/2031"),
        page.text,
    )
    report = unescape(merged.text)
    assert merged.status_code == 400
    mismatch = "ne correspond pas à la première ligne de cette facture : un numéro, une facture"
    assert f"Ligne 3 : dossier : {mismatch}" in report
    assert f"Ligne 3 : à régler avant le : {mismatch}" in report
    twice = await upload(
        web,
        "ccas-castres",
        HEADER
        + row(mistaken, quantity="abc", price="8.531")
        + row(free, price="0")
        + row(unknown).replace(";action-sociale;", ";inconnu;"),
        merged.text,
    )
    report = unescape(twice.text)
    assert "Ligne 2 : quantité : un nombre entier de 1 à 10 000" in report
    assert "Ligne 2 : prix unitaire : un montant comme 8,53" in report
    assert "Ligne 3 : lignes : un total de 0 €" in report
    assert "Ligne 4 : service : aucun service n'a ce code" in report  # it said « dossier »
    stem = uuid.uuid4().hex[:8].upper()
    many = await upload(
        web,
        "ccas-castres",
        HEADER + "".join(row(f"M{stem}-{n}", quantity="0") for n in range(105)),
        twice.text,
    )
    report = unescape(many.text)
    assert report.count(": quantité : un nombre entier") == 100
    assert "… et 5 autres problèmes plus loin dans le fichier : corrigez-les aussi." in report
    assert await invoices(backend.settings, [shared, mistaken, free, unknown]) == {}
