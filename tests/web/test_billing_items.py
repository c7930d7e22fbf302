"""Billable items (« prestations ») sent by the services' software — the API, the CSV of the
command line — then invoiced by the month's billing run: without them a new commune's run made
no invoice at all (items came only from the demo data)."""

import json
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import func, select

from guichet.billing.models import BillableItem, Invoice, InvoiceLine
from guichet.db.session import Database
from tests.conftest import ROOT
from tests.web.test_billing_api import token_for

pytestmark = pytest.mark.asyncio(loop_scope="session")


def item(label, **changes):
    data = {
        "ledger": "seniors",
        "service": "action-sociale",
        "reference": "AS-2020-0001",
        "date": "2031-05-05",
        "label": label,
        "quantity": 1,
        "unit_price": "8,53",
    }
    data.update(changes)
    return data


async def post(web, slug, token, body):
    return await web.post(
        f"/api/v1/{slug}/billable-items",
        content=json.dumps(body),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )


async def stored(settings, label):
    db = Database(settings)
    try:
        async with db.session(all_tenants=True) as session:
            rows = await session.execute(
                select(BillableItem.service_date, BillableItem.quantity, BillableItem.unit_cents)
                .where(BillableItem.label == label)
                .order_by(BillableItem.service_date)
            )
            return [(str(d), q, u) for d, q, u in rows]
    finally:
        await db.dispose()


async def test_items_are_taken_all_or_nothing_and_sent_again_without_doubles(web, backend):
    token = await token_for(backend.settings, "ccas-castres")
    label = f"Repas {uuid.uuid4().hex[:8]}"
    refused = await post(
        web,
        "ccas-castres",
        token,
        {
            "items": [
                item(label),
                item(label, date="06/05/2031", quantity="2"),
                item(label, reference="NOPE"),
                item(label, date="2031-02-30"),
                item(label, unit_price="8.531"),
                item(label, ledger="inconnue"),
                item(label),  # the first one again
            ]
        },
    )
    assert refused.status_code == 422, refused.text
    report = refused.json()
    assert report["created"] == 0 and report["unchanged"] == 0
    assert [(e["index"], e["field"]) for e in report["errors"]] == [
        (2, "reference"),
        (3, "date"),
        (4, "unit_price"),
        (5, "ledger"),
        (6, "label"),
    ]  # in the body's order
    twice = next(e for e in report["errors"] if e["index"] == 6)
    assert "as item 0" in twice["message"]
    assert await stored(backend.settings, label) == []  # nothing taken
    good = {"items": [item(label), item(label, date="06/05/2031", quantity="2")]}
    first = await post(web, "ccas-castres", token, good)
    assert first.status_code == 200 and first.json() == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "errors": [],
    }
    again = await post(web, "ccas-castres", token, good)
    assert again.json()["unchanged"] == 2 and again.json()["created"] == 0
    corrected = await post(
        web, "ccas-castres", token, {"items": [item(label, unit_cents=900, quantity=3)]}
    )
    assert corrected.json()["updated"] == 1
    assert await stored(backend.settings, label) == [
        ("2031-05-05", 3, 900),
        ("2031-05-06", 2, 853),
    ]


async def test_items_are_the_tenants_own(web, backend):
    """A token means nothing at another tenant; another tenant's ledger and files are not
    found from this one."""
    castres = await token_for(backend.settings, "ccas-castres")
    valdoree = await token_for(backend.settings, "mairie-valdoree")
    label = f"Repas {uuid.uuid4().hex[:8]}"
    body = {"items": [item(label)]}
    assert (await post(web, "mairie-valdoree", castres, body)).status_code == 401
    assert (await post(web, "ccas-castres", "gch_wrong", body)).status_code == 401
    assert (await post(web, "inconnue", castres, body)).status_code == 404
    assert (await post(web, "ccas-castres", castres, {"invoices": []})).status_code == 400
    elsewhere = await post(web, "mairie-valdoree", valdoree, body)
    assert elsewhere.status_code == 422
    assert {e["field"] for e in elsewhere.json()["errors"]} <= {"ledger", "reference"}
    assert await stored(backend.settings, label) == []


async def test_imported_items_become_the_months_invoice(web, backend):
    """Items of a month sent through the API are what that month's billing run invoices."""
    from guichet.billing.runs import create_run, execute_run
    from guichet.files import create_file_store
    from guichet.web.templates import TemplateRenderer

    token = await token_for(backend.settings, "ccas-castres")
    label = f"Repas {uuid.uuid4().hex[:8]}"
    month = 1 + abs(hash(backend.name)) % 12
    items = [item(label, date=f"2032-{month:02d}-{day:02d}") for day in (2, 3, 4)]
    assert (await post(web, "ccas-castres", token, {"items": items})).status_code == 200
    db = Database(backend.settings)
    try:
        async with db.session(all_tenants=True) as session:
            tenant_id = await session.scalar(
                select(BillableItem.tenant_id).where(BillableItem.label == label).limit(1)
            )
        async with db.transaction(tenant_id) as session:
            run = await create_run(session, tenant_id, "seniors", f"2032-{month:02d}")
            run_id = run.id
        renderer = TemplateRenderer(backend.settings.themes_dir)
        files = create_file_store(backend.settings)
        await execute_run(db, backend.settings, renderer, files, tenant_id, run_id)
        async with db.session(tenant_id) as session:
            invoice_id = await session.scalar(
                select(InvoiceLine.invoice_id).where(InvoiceLine.label == label)
            )
            invoice = await session.get(Invoice, invoice_id)
            lines = await session.scalar(
                select(func.count())
                .select_from(InvoiceLine)
                .where(InvoiceLine.invoice_id == invoice_id)
            )
    finally:
        await db.dispose()
    assert invoice.total_cents == 3 * 853 and invoice.pdf_key and lines >= 1
    # sent again after the run: already invoiced, unchanged; changed: refused
    again = await post(web, "ccas-castres", token, {"items": items})
    assert again.json()["unchanged"] == 3
    changed = await post(web, "ccas-castres", token, {"items": [{**items[0], "quantity": 2}]})
    assert changed.status_code == 422 and "credit note" in changed.text


async def test_items_from_a_csv_on_the_command_line(tmp_path, sqlite_backend):
    settings = sqlite_backend.settings
    label = f"Repas {uuid.uuid4().hex[:8]}"
    csv_file = tmp_path / "prestations.csv"
    header = "ledger;service;reference;date;label;quantity;unit_price\n"
    good = f"seniors;action-sociale;AS-2020-0001;03/03/2031;{label};1;8,53\n"
    csv_file.write_text(
        header + good + "\n" + f"seniors;action-sociale;AS-2020-0001;04/03/2031;{label};0;8,53\n",
        encoding="utf-8",
    )
    env = {
        "GUICHET_DATABASE_URL": settings.database_url,
        "GUICHET_VAR_DIR": str(tmp_path),
        "GUICHET_ROOT": str(ROOT),
        "PATH": "/usr/bin:/bin",
    }
    command = [sys.executable, "-m", "guichet.cli", "billing", "import-items", "ccas-castres"]
    refused = subprocess.run([*command, str(csv_file)], capture_output=True, text=True, env=env)
    assert refused.returncode == 1, refused.stderr
    assert "line 4: quantity: a whole number from 1 to 10000" in refused.stderr  # empty line 3
    assert "nothing imported" in refused.stderr
    csv_file.write_text(header + good, encoding="utf-8")
    taken = subprocess.run([*command, str(csv_file)], capture_output=True, text=True, env=env)
    assert taken.returncode == 0 and "1 created, 0 updated, 0 unchanged" in taken.stdout
    again = subprocess.run([*command, str(csv_file)], capture_output=True, text=True, env=env)
    assert "0 created, 0 updated, 1 unchanged" in again.stdout


async def test_items_uploaded_in_facturation_with_the_lines_to_correct(web, backend):
    """The agent's way: a CSV uploaded in Facturation, refused whole with each line's problem
    in French, then taken; the waiting items are listed and the launch says what it will make."""
    from html import unescape

    from tests.support.accounts import FR, post_form
    from tests.support.staff import signed_in_staff

    await signed_in_staff(web, backend.settings, role="administrateur")
    page = await web.get("/ccas-castres/admin/facturation/", headers=FR)
    assert "Importer des prestations (CSV)" in unescape(page.text)
    label = f"Repas {uuid.uuid4().hex[:8]}"
    header = "ledger;service;reference;date;label;quantity;unit_price\n"
    good = f"seniors;action-sociale;AS-2020-0001;03/04/2027;{label};2;8,53\n"
    bad = f"seniors;action-sociale;AS-INCONNU;04/04/2027;{label};1;8,53\n"
    url = "/ccas-castres/admin/facturation/prestations"

    async def upload(content, page_text):
        files = {"file": ("prestations.csv", content.encode(), "text/csv")}
        return await post_form(web, url, {}, page=page_text, files=files)

    empty = await post_form(web, url, {}, page=page.text)
    assert empty.status_code == 400 and "Choisissez le fichier CSV" in unescape(empty.text)
    no_header = await upload(good, page.text)
    assert "La première ligne doit nommer les colonnes" in unescape(no_header.text)
    short = await upload(header.replace(";unit_price", "") + good, page.text)
    assert "Il manque : unit_price." in unescape(short.text)
    refused = await upload(header + good + bad, page.text)
    assert refused.status_code == 400
    assert "Ligne 3 : dossier : aucun dossier de ce numéro dans ce service" in unescape(
        refused.text
    )
    assert await stored(backend.settings, label) == []
    taken = await upload(header + good, refused.text)
    shown = unescape(taken.text)
    assert "Prestations importées : 1 nouvelle, 0 modifiée, 0 déjà connue." in shown
    assert "Avril 2027" in shown  # waiting, in the table by ledger and month
    assert await stored(backend.settings, label) == [("2027-04-03", 2, 853)]
    asked = await post_form(
        web,
        "/ccas-castres/admin/facturation/",
        {"ledger": "seniors", "period": "avril 2027"},  # as an agent may type it
        page=taken.text,
    )
    assert "1 prestation attend d'être facturée : 1 facture sera créée." in unescape(asked.text)
    assert 'value="2027-04"' in asked.text  # the confirmation carries the month on
    nothing = await post_form(
        web,
        "/ccas-castres/admin/facturation/",
        {"ledger": "seniors", "period": "2027-09"},
        page=taken.text,
    )
    assert "Aucune prestation de ce mois n'attend d'être facturée" in unescape(nothing.text)


async def test_a_new_tenant_creates_its_ledger_then_bills_its_items(web, backend):
    """A commune onboarded by an operator had no way to get a ledger but a tenant.toml that
    reset what its administrator had set on screen: now Facturation creates one."""
    from html import unescape

    from tests.support.accounts import FR, post_form
    from tests.web.test_admin import onboarded

    slug, _admin = await onboarded(web, backend)
    billing = f"/{slug}/admin/facturation/"
    # the administrator's dashboard says what the new portal still lacks
    dashboard = unescape((await web.get(f"/{slug}/admin/", headers=FR)).text)
    assert "Pour ouvrir le portail aux habitants" in dashboard
    assert "le courriel affiché est encore celui d'un administrateur" in dashboard
    assert "Créer les services et les dossiers des habitants." in dashboard
    assert "Publier les conditions générales" not in dashboard  # onboarded() published them
    page = await web.get(billing, headers=FR)
    assert "Créez d'abord un service" in unescape(page.text)
    await post_form(
        web,
        f"/{slug}/admin/services",
        {"name": "Action sociale", "code": "action-sociale"},
        page=page.text,
    )
    await post_form(
        web,
        f"/{slug}/admin/services/action-sociale",
        {"reference": "AS-1", "holder_name": "Madame UN Odile", "email": "un@exemple.fr"},
        page=page.text,
    )
    page = await web.get(billing, headers=FR)
    assert "Aucune régie n'est encore configurée" in unescape(page.text)
    dashboard = unescape((await web.get(f"/{slug}/admin/", headers=FR)).text)
    assert "Créer une régie pour facturer." in dashboard
    refused = await post_form(
        web,
        f"/{slug}/admin/facturation/regies",
        {"name": "", "code": "Mauvais Code", "service": "inconnu", "number_prefix": "20a"},
        page=page.text,
    )
    shown = unescape(refused.text)
    assert refused.status_code == 400
    for message in (
        "Lettres minuscules, chiffres et tirets, par exemple « seniors ».",
        "Ce champ est obligatoire.",
        "Choisissez le service dans la liste.",
        "Des chiffres seulement, par exemple 2001, ou rien.",
    ):
        assert message in shown, message
    assert 'value="20a"' in refused.text  # what was typed is kept
    good = {
        "name": "FACTURATION SÉNIORS",
        "code": "seniors",  # ccas-castres has one too: codes are the tenant's own
        "service": "action-sociale",
        "number_prefix": "2026",
    }
    created = await post_form(web, f"/{slug}/admin/facturation/regies", good, page=page.text)
    assert str(created.url).endswith(f"/{slug}/admin/facturation/regies/seniors")
    assert "La régie « FACTURATION SÉNIORS » est créée" in unescape(created.text)
    dashboard = unescape((await web.get(f"/{slug}/admin/", headers=FR)).text)
    assert "Créer une régie" not in dashboard and "Créer les services" not in dashboard
    again = await post_form(web, f"/{slug}/admin/facturation/regies", good, page=page.text)
    assert again.status_code == 400 and "déjà celui d'une régie" in unescape(again.text)
    # its page names each bank as agents know it, eopayment's codes only as a hint
    ledger_url = f"/{slug}/admin/facturation/regies/seniors"
    ledger_page = unescape((await web.get(ledger_url, headers=FR)).text)
    for name in ("Paybox (Verifone)", "PayFiP (DGFiP, Trésor public)", "Systempay ("):
        assert f"Paramètres {name}" in ledger_page, name
    assert "Paramètres payfip_ws" not in ledger_page
    assert "Nom dans la documentation de la banque : <code>numcli</code>" in ledger_page
    # the payee of its cheques, printed on its invoices
    settings_form = {
        "name": "FACTURATION SÉNIORS",
        "merchant_label": "CCAS TEST",
        "cheque_payee": "Régie du CCAS de Test",
        "backend": "sandbox",
        "online_payment": "oui",
        "min_amount": "1,00",
        "max_amount": "1000,00",
    }
    saved = await post_form(web, ledger_url, settings_form, page=ledger_page)
    assert "La régie est enregistrée." in unescape(saved.text)
    assert 'value="Régie du CCAS de Test"' in unescape(saved.text)
    # its items, then its run's confirmation counts them
    header = "ledger;service;reference;date;label;quantity;unit_price\n"
    row = "seniors;action-sociale;AS-1;02/03/2027;Portage de repas;5;8,53\n"
    files = {"file": ("p.csv", (header + row).encode(), "text/csv")}
    taken = await post_form(
        web, f"/{slug}/admin/facturation/prestations", {}, page=page.text, files=files
    )
    assert "Prestations importées : 1 nouvelle," in unescape(taken.text)
    asked = await post_form(
        web, billing, {"ledger": "seniors", "period": "2027-03"}, page=taken.text
    )
    assert "1 prestation attend d'être facturée : 1 facture sera créée." in unescape(asked.text)
    # each tenant has its own « seniors »: ccas-castres' is untouched
    from guichet.billing.models import Ledger
    from guichet.tenancy.models import Tenant

    db = Database(backend.settings)
    try:
        async with db.session(all_tenants=True) as session:
            rows = await session.execute(
                select(Tenant.slug, Ledger.name, Ledger.cheque_payee)
                .join(Tenant, Tenant.id == Ledger.tenant_id)
                .where(Ledger.code == "seniors", Tenant.slug.in_(["ccas-castres", slug]))
            )
            names = {tenant: (name, payee) for tenant, name, payee in rows.all()}
    finally:
        await db.dispose()
    assert names == {
        "ccas-castres": ("FACTURATION SERVICE SÉNIORS", "Régie Service Séniors CCAS de Castres"),
        slug: ("FACTURATION SÉNIORS", "Régie du CCAS de Test"),
    }
