"""What agents and citizens need around an invoice besides paying online: finding it by the
file's number, the payments export in Paris days with French codes, and how to pay it at the
counter (payee, address), on both backends."""

import re
from datetime import UTC, datetime
from html import unescape

import pytest
from sqlalchemy import select

from guichet.accounts.models import ServiceAccount
from guichet.billing.models import Invoice, Payment
from guichet.db.session import Database
from tests.support.accounts import FR, new_citizen
from tests.support.billing import invoice_for
from tests.support.staff import signed_in_staff

pytestmark = pytest.mark.asyncio(loop_scope="session")
SEARCH = "/{slug}/admin/facturation/factures?q={q}"


def text(response):
    return unescape(response.text)


async def number_and_file(settings, invoice_id):
    db = Database(settings)
    try:
        async with db.session(all_tenants=True) as session:
            row = await session.execute(
                select(Invoice.number, ServiceAccount.reference, Invoice.tenant_id)
                .join(ServiceAccount, ServiceAccount.id == Invoice.service_account_id)
                .where(Invoice.id == invoice_id)
            )
            return tuple(row.one())
    finally:
        await db.dispose()


async def test_an_invoice_is_found_by_its_file_number_in_its_tenant_only(web, backend):
    username, _email = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username)
    number, file, _tenant = await number_and_file(backend.settings, invoice_id)
    web.cookies.clear()
    await signed_in_staff(web, backend.settings, role="regisseur")
    for query in (file, file.lower(), file[2:8]):  # the whole number, any case, a part
        found = text(await web.get(SEARCH.format(slug="ccas-castres", q=query), headers=FR))
        assert number in found and f"<td>{file}</td>" in found, query
    assert "Numéro de facture, numéro de dossier ou destinataire" in found
    # with another word that matches nothing, nothing
    none = text(await web.get(SEARCH.format(slug="ccas-castres", q=f"{file} zzzz"), headers=FR))
    assert number not in none and "Aucune facture ne correspond." in none
    web.cookies.clear()
    await signed_in_staff(web, backend.settings, slug="mairie-valdoree", role="regisseur")
    elsewhere = text(await web.get(SEARCH.format(slug="mairie-valdoree", q=file), headers=FR))
    assert number not in elsewhere and "Aucune facture ne correspond." in elsewhere


async def test_the_payments_export_counts_paris_days_and_says_en_ligne(web, backend):
    """A payment made online at 00:30 in Paris on 1 December (23:30 UTC the day before) is in
    December's export, dated the 1st; its mode is a French code like the others."""
    username, _email = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username, cents=1200)
    number, _file, tenant_id = await number_and_file(backend.settings, invoice_id)
    db = Database(backend.settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            session.add(
                Payment(
                    tenant_id=tenant_id,
                    invoice_id=invoice_id,
                    amount_cents=1200,
                    method="online",
                    paid_at=datetime(2026, 11, 30, 23, 30, tzinfo=UTC),
                    reference="TEST-PARIS",
                )
            )
    finally:
        await db.dispose()
    web.cookies.clear()
    await signed_in_staff(web, backend.settings, role="regisseur")
    url = "/ccas-castres/admin/facturation/paiements.csv?du={0}&au={0}"
    response = await web.get(url.format("01/12/2026"))
    assert response.headers["content-type"] == "text/csv; charset=utf-8"  # it said it twice
    december = response.content.decode("utf-8-sig")
    mine = [line for line in december.splitlines() if f";{number};" in line]
    assert mine == [
        f"2026-12-01;seniors;{number};Madame {username.upper()};12,00;en_ligne;TEST-PARIS"
    ]
    november = (await web.get(url.format("30/11/2026"))).content.decode("utf-8-sig")
    assert f";{number};" not in november


async def test_the_invoice_page_says_how_to_pay_at_the_counter_and_that_the_bank_is_a_demo(
    web, backend
):
    username, _email = await new_citizen(web, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username)
    page = text(await web.get(f"/ccas-castres/mon-espace/factures/{invoice_id}", headers=FR))
    assert "Vous pouvez effectuer un règlement avec Paybox, service de paiement sécurisé." in page
    assert "la banque est simulée et aucun paiement réel n'est fait" in page
    section = re.search(r'<h2 id="autrement">.*?</section>', page, re.S).group(0)
    assert "RÉGLER AUTREMENT" in section
    assert "Auprès du CCAS de Castres, par chèque ou en espèces" in section
    assert "Chèque à l'ordre de : Régie Service Séniors CCAS de Castres" in section
    assert (
        "Adresse : Espace Seniors — CCAS de Castres, 2 place de la République, 81100 CASTRES"
        in section
    )
    # paid by direct debit: nothing to say about paying
    debited = await invoice_for(backend.settings, "ccas-castres", username, status="prelevee")
    settled = text(await web.get(f"/ccas-castres/mon-espace/factures/{debited}", headers=FR))
    assert "RÉGLER AUTREMENT" not in settled and "prélèvement" in settled
