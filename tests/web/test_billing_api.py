"""Invoices pushed by billing software: the JSON API (per-tenant token) and the CSV import."""

import json
import subprocess
import sys

import pytest
from sqlalchemy import select

from guichet.accounts.models import Citizen, ServiceAccount, mailing_address
from guichet.billing.imports import create_token
from guichet.billing.models import Invoice
from guichet.db.session import Database
from guichet.tenancy.models import Tenant
from tests.conftest import ROOT

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def token_for(settings, slug):
    db = Database(settings)
    try:
        async with db.transaction(all_tenants=True) as session:
            tenant = (await session.execute(select(Tenant).where(Tenant.slug == slug))).scalar_one()
        async with db.transaction(tenant.id) as session:
            return await create_token(session, tenant.id, "test")
    finally:
        await db.dispose()


def invoice(number, **changes):
    data = {
        "ledger": "seniors",
        "number": number,
        "service": "action-sociale",
        "reference": "AS-2020-0001",
        "label": "Mars 2020",
        "issue_date": "2020-03-17",
        "due_date": "2020-04-15",
        "lines": [{"label": "Portage de repas à domicile", "quantity": 21, "unit_price": "8,53"}],
    }
    data.update(changes)
    return data


async def post(web, slug, token, body):
    return await web.post(
        f"/api/v1/{slug}/invoices",
        content=json.dumps(body),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )


async def test_push_is_idempotent_and_reports_line_by_line(web, backend):
    token = await token_for(backend.settings, "ccas-castres")
    number = f"3{abs(hash(backend.name)) % 10**8:08d}"
    first = await post(
        web,
        "ccas-castres",
        token,
        {
            "invoices": [
                invoice(number),
                invoice("BAD NUMBER!"),
                invoice(
                    number + "1", lines=[{"label": "x", "quantity": 1, "unit_price": "10.019"}]
                ),
                invoice(number + "2", reference="NOPE"),
                invoice(number + "3", due_date="2020-01-01"),
            ]
        },
    )
    assert first.status_code == 207, first.text
    report = first.json()
    assert report["created"] == 1 and report["created_numbers"] == [number]
    assert {(e["index"], e["field"]) for e in report["errors"]} == {
        (1, "number"),
        (2, "lines[1].unit_price"),
        (3, "reference"),
        (4, "due_date"),
    }
    again = await post(web, "ccas-castres", token, {"invoices": [invoice(number)]})
    assert again.status_code == 200 and again.json()["unchanged"] == 1
    changed = await post(web, "ccas-castres", token, {"invoices": [invoice(number, label="X")]})
    assert changed.status_code == 422 and "another content" in changed.text
    db = Database(backend.settings)
    async with db.session(all_tenants=True) as session:
        rows = (
            (await session.execute(select(Invoice).where(Invoice.number == number))).scalars().all()
        )
    await db.dispose()
    assert len(rows) == 1 and rows[0].total_cents == 21 * 853


async def test_tokens_are_per_tenant_and_required(web, backend):
    token = await token_for(backend.settings, "ccas-castres")
    body = {"invoices": [invoice("4000000001")]}
    assert (await post(web, "ccas-castres", "gch_wrong", body)).status_code == 401
    assert (await post(web, "mairie-valdoree", token, body)).status_code == 401
    assert (await web.post("/api/v1/ccas-castres/invoices", content=b"{}")).status_code == 401
    assert (await post(web, "inconnue", token, body)).status_code == 404
    assert (await post(web, "ccas-castres", token, {"wrong": 1})).status_code == 400
    garbage = await web.post(
        "/api/v1/ccas-castres/invoices",
        content=b"\xff{not json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert garbage.status_code == 400


async def test_csv_import_from_the_command_line(tmp_path, sqlite_backend):
    settings = sqlite_backend.settings
    csv_file = tmp_path / "factures.csv"
    csv_file.write_text(
        "ledger;number;service;reference;label;issue_date;due_date;line_label;quantity;"
        "unit_price\n"
        "seniors;5000000001;action-sociale;AS-2019-0413;Mars 2020;17/03/2020;15/04/2020;"
        "Portage de repas à domicile;21;8,53\n"
        "seniors;5000000001;action-sociale;AS-2019-0413;Mars 2020;17/03/2020;15/04/2020;"
        "Téléassistance;1;12,00\n"
        "seniors;5000000002;action-sociale;AS-2019-0413;Mars 2020;17/03/2020;15/04/2020;"
        "Portage;1;abc\n",
        encoding="utf-8",
    )
    env = {
        "GUICHET_DATABASE_URL": settings.database_url,
        "GUICHET_VAR_DIR": str(tmp_path),
        "GUICHET_ROOT": str(ROOT),
        "PATH": "/usr/bin:/bin",
    }
    command = [
        sys.executable,
        "-m",
        "guichet.cli",
        "billing",
        "import",
        "ccas-castres",
        str(csv_file),
    ]
    first = subprocess.run(command, capture_output=True, text=True, env=env)
    assert first.returncode == 1
    assert "1 created, 0 unchanged, 1 error(s)" in first.stdout
    # the line of the file to correct, and its column (it said « lines[1].unit_price »)
    assert "line 4: invoice 5000000002: unit_price: an amount such as 8,53" in first.stderr
    again = subprocess.run(command, capture_output=True, text=True, env=env)
    assert "0 created, 1 unchanged" in again.stdout


async def test_a_pushed_invoice_carries_its_postal_address(web, backend):
    """Given, it is kept line by line; left out, the file's (AS-2020-0001 has one in the demo
    catalog); too long, refused with the field and the reason."""
    token = await token_for(backend.settings, "ccas-castres")
    base = abs(hash(backend.name + "adresse")) % 10**8
    given, left_out, too_long = (f"4{base + n:08d}" for n in range(3))
    answer = await post(
        web,
        "ccas-castres",
        token,
        {
            "invoices": [
                invoice(
                    given, recipient_address="  Chez Mme PUECH \n\n2 rue Sabatier|81100 CASTRES"
                ),
                invoice(left_out),
                invoice(too_long, recipient_address="\n".join(f"ligne {n}" for n in range(6))),
            ]
        },
    )
    report = answer.json()
    assert sorted(report["created_numbers"]) == sorted([given, left_out]), report
    [error] = report["errors"]
    assert error["field"] == "recipient_address" and "at most 5 lines" in error["message"]
    db = Database(backend.settings)
    try:
        async with db.session(all_tenants=True) as session:
            stored = dict(
                (
                    await session.execute(
                        select(Invoice.number, Invoice.recipient_address).where(
                            Invoice.number.in_([given, left_out])
                        )
                    )
                ).all()
            )
            # the file's address, or its linked space's when another test linked it
            account = await session.scalar(
                select(ServiceAccount)
                .join(Tenant, Tenant.id == ServiceAccount.tenant_id)
                .where(Tenant.slug == "ccas-castres", ServiceAccount.reference == "AS-2020-0001")
            )
            linked = await session.get(Citizen, account.citizen_id) if account.citizen_id else None
            expected = mailing_address(account, linked)
    finally:
        await db.dispose()
    assert stored[given] == "Chez Mme PUECH\n2 rue Sabatier\n81100 CASTRES"
    assert expected.endswith("\n81100 CASTRES") and stored[left_out] == expected
    if linked is None:
        assert expected.endswith("14 avenue Charles de Gaulle\n81100 CASTRES")
