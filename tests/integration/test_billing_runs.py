"""Billing runs on both backends: a month of items becomes invoices with gapless numbers, PDFs,
emails to adherents and a print file; re-running changes nothing; an interrupted run resumes."""

from __future__ import annotations

import asyncio
import io
import os
import time
from datetime import UTC, date, timedelta
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from sqlalchemy import delete, select

from guichet.billing import runs as runs_module
from guichet.billing.models import BillableItem, BillingRun, Invoice, PrintPart
from guichet.files import create_file_store
from guichet.notifications.models import OutboxMessage
from guichet.tenancy.models import Tenant
from tests.support.billing import ledger_with_items, postal_numbers, run_period
from tests.support.processes import guichet_cli

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _invoices(db, tenant_id, ledger_id):
    async with db.session(tenant_id) as session:
        return list(
            (
                await session.execute(
                    select(Invoice).where(Invoice.ledger_id == ledger_id).order_by(Invoice.number)
                )
            ).scalars()
        )


async def test_a_run_makes_invoices_pdfs_emails_and_a_print_file(backend):
    settings = backend.settings
    db, tenant_id, code, ledger_id = await ledger_with_items(settings, accounts=5, paperless=2)
    try:
        run_id, queued = await run_period(db, settings, tenant_id, code, batch=2)
        invoices = await _invoices(db, tenant_id, ledger_id)
        assert [i.number for i in invoices] == [f"77{n:06d}" for n in range(1, 6)]
        assert all(i.total_cents == 3 * 853 and i.label == "Février 2020" for i in invoices)
        # dated the day they are made (it was the 16th of the next month, in the future for a
        # run made before then), payable online until the due date's evening
        today = date.today()
        for invoice in invoices:
            assert (invoice.issue_date, invoice.due_date) == (today, today + timedelta(days=45))
            until = invoice.pay_until.replace(tzinfo=invoice.pay_until.tzinfo or UTC)
            assert until.astimezone(ZoneInfo("Europe/Paris")).timetuple()[:5] == (
                *invoice.due_date.timetuple()[:3],
                18,
                0,
            )
        # every item is marked with the invoice of its own file (one statement for the batch)
        async with db.session(tenant_id) as session:
            items = (
                (
                    await session.execute(
                        select(BillableItem).where(BillableItem.ledger_id == ledger_id)
                    )
                )
                .scalars()
                .all()
            )
        file_of = {i.id: i.service_account_id for i in invoices}
        assert {item.service_account_id for item in items} == set(file_of.values())
        assert all(file_of.get(item.invoice_id) == item.service_account_id for item in items)
        files = create_file_store(settings)
        for invoice in invoices:
            pdf = files.get(invoice.pdf_key)
            text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
            assert invoice.number in text and "25,59" in text
        assert len(queued) == 2
        async with db.session(tenant_id) as session:
            run = await session.get(BillingRun, run_id)
            assert run.status == "done" and run.invoices_created == 5 and run.pdfs_rendered == 5
            mails = (
                (await session.execute(select(OutboxMessage).where(OutboxMessage.id.in_(queued))))
                .scalars()
                .all()
            )
        assert {m.recipient for m in mails} == {"adherent0@exemple.fr", "adherent1@exemple.fr"}
        printed = PdfReader(io.BytesIO(files.get(run.print_pdf_key)))
        assert len(printed.pages) == 3
        # the postal invoices' own pages, in number order, declared as the PDF they came from
        own = PdfReader(io.BytesIO(files.get(invoices[0].pdf_key)))
        assert printed.pdf_header == own.pdf_header == "%PDF-1.7"
        async with db.session(tenant_id) as session:
            postal = await postal_numbers(session, ledger_id)
        numbers = [i.number for i in invoices]
        on_pages = [[n for n in numbers if n in page.extract_text()] for page in printed.pages]
        assert len(postal) == 3 and on_pages == [[n] for n in postal], on_pages
        # again: nothing new
        _, queued_again = await run_period(db, settings, tenant_id, code)
        assert queued_again == [] and len(await _invoices(db, tenant_id, ledger_id)) == 5
    finally:
        await db.dispose()


async def test_an_adherent_receives_her_invoice_as_a_pdf_in_her_email(backend, smtp):
    """« vous ne recevez plus vos factures par courrier, vous les recevrez uniquement sur votre
    boîte mail » (the guide): the email carries the invoice's PDF, sent through a real SMTP
    server; a PDF gone from the store meanwhile leaves the email going, without it."""
    import dataclasses

    from guichet.notifications.services import send_pending
    from guichet.settings import EmailSettings

    controller, inbox = smtp
    settings = dataclasses.replace(
        backend.settings,
        email=EmailSettings(smtp_host="127.0.0.1", smtp_port=controller.port, smtp_starttls=False),
    )
    db, tenant_id, code, ledger_id = await ledger_with_items(settings, accounts=3, paperless=2)
    try:
        _, queued = await run_period(db, settings, tenant_id, code)
        assert len(queued) == 2
        files = create_file_store(settings)
        async with db.session(tenant_id) as session:
            mails = {
                m.recipient: m
                for m in (
                    await session.execute(select(OutboxMessage).where(OutboxMessage.id.in_(queued)))
                ).scalars()
            }
            by_key = {
                i.pdf_key: i
                for i in (
                    await session.execute(select(Invoice).where(Invoice.ledger_id == ledger_id))
                ).scalars()
            }
        first, second = sorted(mails)
        files.delete(mails[second].attachment_key)  # gone before the email is sent
        async with db.session(all_tenants=True) as session:
            for message_id in queued:
                assert await send_pending(session, settings, message_id) == 1
        received = {m["To"]: m for m in inbox.messages if m["To"] in mails}
        assert set(received) == {first, second}

        invoice = by_key[mails[first].attachment_key]
        [pdf] = list(received[first].iter_attachments())
        assert pdf.get_content_type() == "application/pdf"
        assert pdf.get_filename() == f"facture-{invoice.number}.pdf"
        assert pdf.get_content() == files.get(invoice.pdf_key)  # the invoice itself
        body = received[first].get_body(("plain",)).get_content()
        assert "est jointe à ce message (PDF)" in " ".join(body.split())
        assert list(received[second].iter_attachments()) == []  # still sent, without it
    finally:
        await db.dispose()


async def test_an_interrupted_run_resumes_without_duplicates(backend, monkeypatch):
    settings = backend.settings
    db, tenant_id, code, ledger_id = await ledger_with_items(settings, accounts=4)
    real = runs_module.split_batch
    calls = {"n": 0}

    def failing(html, ids, combined=None):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("worker killed")
        return real(html, ids, combined)

    monkeypatch.setattr(runs_module, "split_batch", failing)
    try:
        with pytest.raises(RuntimeError):
            await run_period(db, settings, tenant_id, code, batch=2)
        invoices = await _invoices(db, tenant_id, ledger_id)
        assert len(invoices) == 4 and not any(i.pdf_key for i in invoices)
        await run_period(db, settings, tenant_id, code, batch=2)
        invoices = await _invoices(db, tenant_id, ledger_id)
        assert len(invoices) == 4 and all(i.pdf_key for i in invoices)
        assert [i.number for i in invoices] == [f"77{n:06d}" for n in range(1, 5)]
    finally:
        await db.dispose()


async def test_two_concurrent_runs_give_gapless_numbers(backend):
    settings = backend.settings
    db, tenant_id, code, ledger_id = await ledger_with_items(settings, accounts=12)
    try:
        runs = await asyncio.gather(
            run_period(db, settings, tenant_id, code, batch=3),
            run_period(db, settings, tenant_id, code, batch=3),
        )
        numbers = [i.number for i in await _invoices(db, tenant_id, ledger_id)]
        assert numbers == [f"77{n:06d}" for n in range(1, 13)]
        # Each batch rendered by one run only: every invoice printed once across both runs.
        files = create_file_store(settings)
        printed = []
        async with db.session(tenant_id) as session:
            for run_id, _ in runs:
                for key in (await session.get(BillingRun, run_id)).print_keys:
                    for page in PdfReader(io.BytesIO(files.get(key))).pages:
                        printed += [n for n in numbers if n in page.extract_text()]
        assert sorted(printed) == numbers
        async with db.session(tenant_id) as session:
            left = (
                (
                    await session.execute(
                        select(BillableItem).where(
                            BillableItem.ledger_id == ledger_id, BillableItem.invoice_id.is_(None)
                        )
                    )
                )
                .scalars()
                .all()
            )
        assert left == []
    finally:
        await db.dispose()


def _billing_cli(settings):
    """``guichet billing …`` in a subprocess, on the test's database."""
    return lambda *args: guichet_cli(settings, "billing", *args)


async def test_progress_and_print_file_from_the_command_line(sqlite_backend, tmp_path):
    settings = sqlite_backend.settings
    db, tenant_id, code, _ = await ledger_with_items(settings, accounts=2)
    try:
        run_id, _ = await run_period(db, settings, tenant_id, code)
    finally:
        await db.dispose()
    cli = _billing_cli(settings)
    listing = cli("runs", "ccas-castres")
    assert listing.returncode == 0, listing.stderr
    assert f"{run_id}  {code} 2020-02  done: 2 invoices, 2 PDFs, 0 emails, print file ready" in (
        listing.stdout
    )
    output = tmp_path / "courrier.pdf"
    written = cli("print-file", "ccas-castres", str(run_id), str(output))
    assert written.returncode == 0, written.stderr
    assert len(PdfReader(output).pages) == 2
    # A run of another tenant is not found from this one.
    other = cli("print-file", "mairie-valdoree", str(run_id), str(tmp_path / "x.pdf"))
    assert other.returncode == 1 and "no billing run" in other.stderr
    assert not (tmp_path / "x.pdf").exists()
    assert "no billing run in mairie-valdoree" in cli("runs", "mairie-valdoree").stdout


async def test_a_large_print_file_comes_in_volumes_and_the_parts_go(backend, monkeypatch):
    """The print file is joined by volumes (bounded memory, bench/README.md): every postal
    invoice once, in order, never cut; the batches' parts are deleted once the volumes are
    recorded, so that a run started again for the period prints nothing twice; the tenant's
    archive carries every volume."""
    from guichet.operators.archive import _file_keys

    monkeypatch.setattr(runs_module, "PRINT_VOLUME_PAGES", 2)
    settings = backend.settings
    db, tenant_id, code, ledger_id = await ledger_with_items(settings, accounts=5, paperless=1)
    try:
        run_id, _ = await run_period(db, settings, tenant_id, code, batch=1)
        files = create_file_store(settings)
        async with db.session(tenant_id) as session:
            postal = await postal_numbers(session, ledger_id)
            run = await session.get(BillingRun, run_id)
            tenant = await session.get(Tenant, tenant_id)
            archived = await _file_keys(session, tenant)
        assert run.print_volumes == 2 and run.print_keys[0] == run.print_pdf_key
        printed = []
        for key in run.print_keys:
            pages = PdfReader(io.BytesIO(files.get(key))).pages
            assert len(pages) == 2  # one page per invoice, volumes close at two pages
            printed += [n for page in pages for n in postal if n in page.extract_text()]
        assert printed == postal
        assert set(run.print_keys) <= set(archived)
        assert list(files.listing(f"tenants/{tenant_id}/billing/{ledger_id}/")) == []
        again, _ = await run_period(db, settings, tenant_id, code)
        async with db.session(tenant_id) as session:
            assert (await session.get(BillingRun, again)).print_keys == []
            # stopped after writing its volumes, before recording them: found again on resume
            run = await session.get(BillingRun, run_id)
            keys = run.print_keys
            run.print_pdf_key, run.print_volumes = "", 0
            await runs_module._print_file(session, run, files)
            assert run.print_keys == keys
            # ... and the same when rows still name parts already deleted (or never written)
            run.print_pdf_key, run.print_volumes = "", 0
            session.add(
                PrintPart(
                    tenant_id=tenant_id,
                    ledger_id=ledger_id,
                    period=run.period,
                    first_number=postal[0],
                    # named as the upgrade to rows names its candidates
                    storage_key=f"tenants/{tenant_id}/billing/{ledger_id}/{run.period}/"
                    f"courrier-{postal[0]}.pdf",
                )
            )
            await runs_module._print_file(session, run, files)
            assert run.print_keys == keys
            assert await _print_parts(db, tenant_id, ledger_id) == []
    finally:
        await db.dispose()


async def _print_parts(db, tenant_id, ledger_id):
    async with db.session(tenant_id) as session:
        return list(
            (
                await session.execute(
                    select(PrintPart.storage_key)
                    .where(PrintPart.ledger_id == ledger_id)
                    .order_by(PrintPart.first_number)
                )
            ).scalars()
        )


async def test_a_run_stopped_before_its_print_step_leaves_parts_its_rows_name(backend, monkeypatch):
    """The batches' parts are named by rows: the tenant's archive and deletion find them even
    when the run never reached its print step, and the next run of the period joins them."""
    from guichet.operators.archive import _file_keys

    async def stop(*args):
        raise RuntimeError("worker lost")

    settings = backend.settings
    files = create_file_store(settings)
    db, tenant_id, code, ledger_id = await ledger_with_items(settings, accounts=5)
    try:
        monkeypatch.setattr(runs_module, "_print_file", stop)
        with pytest.raises(RuntimeError, match="worker lost"):
            await run_period(db, settings, tenant_id, code, batch=2)
        monkeypatch.undo()
        parts = await _print_parts(db, tenant_id, ledger_id)
        assert len(parts) == 3 and all(files.exists(key) for key in parts)  # batches of 2, 2, 1
        async with db.session(tenant_id) as session:
            assert set(parts) <= set(
                await _file_keys(session, await session.get(Tenant, tenant_id))
            )
        run_id, _ = await run_period(db, settings, tenant_id, code)
        async with db.session(tenant_id) as session:
            run = await session.get(BillingRun, run_id)
            postal = await postal_numbers(session, ledger_id)
        [key] = run.print_keys
        pages = PdfReader(io.BytesIO(files.get(key))).pages
        assert [n for page in pages for n in postal if n in page.extract_text()] == postal
        assert await _print_parts(db, tenant_id, ledger_id) == []
        assert not any(files.exists(key) for key in parts)
    finally:
        await db.dispose()


async def test_the_command_writes_every_volume_of_a_large_print_file(
    sqlite_backend, tmp_path, monkeypatch
):
    monkeypatch.setattr(runs_module, "PRINT_VOLUME_PAGES", 1)
    settings = sqlite_backend.settings
    db, tenant_id, code, _ = await ledger_with_items(settings, accounts=2)
    try:
        run_id, _ = await run_period(db, settings, tenant_id, code, batch=1)
    finally:
        await db.dispose()
    cli = _billing_cli(settings)
    assert "print file ready (2 volumes)" in cli("runs", "ccas-castres").stdout
    written = cli("print-file", "ccas-castres", str(run_id), str(tmp_path / "courrier.pdf"))
    assert written.returncode == 0, written.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["courrier-1.pdf", "courrier-2.pdf"]
    assert [len(PdfReader(tmp_path / f"courrier-{n}.pdf").pages) for n in (1, 2)] == [1, 1]


class StopsOnce:
    """The file store, but the first call of ``method`` on a key that ``when`` picks raises, as
    a worker killed right there would."""

    def __init__(self, files, method, when):
        self.files, self.method, self.when, self.stopped = files, method, when, False

    def __getattr__(self, name):
        real = getattr(self.files, name)
        if name != self.method:
            return real

        def call(key, *args):
            if not self.stopped and self.when(key):
                self.stopped = True
                raise RuntimeError("worker killed")
            return real(key, *args)

        return call


async def test_parts_a_stop_left_unnamed_are_swept_once_a_day_old(backend):
    """Two stops leave a batch's part of the print file in the store with no row naming it:
    after writing it, before its batch is committed; after the volumes are recorded, before the
    parts are deleted. Nothing is printed twice; the beat's sweep deletes those parts once they
    are a day old, and keeps a part a row names, a young one, and anything outside the parts'
    folders."""
    settings = backend.settings
    files = create_file_store(settings)
    db, tenant_id, code, ledger_id = await ledger_with_items(settings, accounts=4)
    folder = f"tenants/{tenant_id}/billing/{ledger_id}/"

    def parts():
        return sorted(key for key, _written in files.listing(folder))

    def age(key, days=2):
        old = time.time() - days * 86400
        os.utime(settings.files_dir / key, (old, old))

    async def sweep():
        async with db.session(all_tenants=True) as session:
            return await runs_module.sweep_print_parts(session, files)

    try:
        in_batch = StopsOnce(files, "put", lambda key: "/invoices/" in key)
        with pytest.raises(RuntimeError, match="worker killed"):
            await run_period(db, settings, tenant_id, code, files=in_batch, batch=2)
        [unnamed] = parts()
        assert await _print_parts(db, tenant_id, ledger_id) == []
        after_volumes = StopsOnce(files, "delete", lambda key: key.startswith(folder))
        with pytest.raises(RuntimeError, match="worker killed"):
            await run_period(db, settings, tenant_id, code, files=after_volumes, batch=2)
        async with db.session(tenant_id) as session:
            postal = await postal_numbers(session, ledger_id)
            runs = (
                await session.execute(select(BillingRun).where(BillingRun.ledger_id == ledger_id))
            ).scalars()
            printed = [
                number
                for run in runs
                for key in run.print_keys
                for page in PdfReader(io.BytesIO(files.get(key))).pages
                for number in postal
                if number in page.extract_text()
            ]
        assert printed == postal  # the batch made again is printed once, its first part never
        left = parts()
        assert len(left) == 3 and unnamed in left  # two joined parts the stop did not delete
        assert await _print_parts(db, tenant_id, ledger_id) == []

        assert await sweep() == 0 and parts() == left  # young: maybe a batch not committed yet
        invoice_pdf = (await _invoices(db, tenant_id, ledger_id))[0].pdf_key
        for key in [*left, invoice_pdf]:
            age(key)
        named = left[1]
        async with db.transaction(tenant_id) as session:  # as a batch not yet joined
            session.add(
                PrintPart(
                    tenant_id=tenant_id,
                    ledger_id=ledger_id,
                    period="2020-02",
                    first_number="77000001",
                    storage_key=named,
                )
            )
        assert await sweep() == 2
        assert parts() == [named] and files.exists(invoice_pdf)
        async with db.transaction(tenant_id) as session:
            await session.execute(delete(PrintPart).where(PrintPart.storage_key == named))
        assert await sweep() == 1 and parts() == []
    finally:
        await db.dispose()


async def test_paper_invoices_carry_the_postal_address_for_a_window_envelope(backend):
    """The file's address, or the linked space's (kept up to date by its holder), goes under the
    recipient's name on the invoice and so in the print file; a file with neither says so to
    the staff."""
    import uuid

    from guichet.accounts.models import Citizen, CitizenStatus, ServiceAccount

    settings = backend.settings
    db, tenant_id, code, ledger_id = await ledger_with_items(settings, accounts=3)
    try:
        async with db.transaction(tenant_id) as session:
            accounts = (
                (
                    await session.execute(
                        select(ServiceAccount)
                        .where(ServiceAccount.holder_name.like("Monsieur TEST %"))
                        .order_by(ServiceAccount.created_at.desc())
                        .limit(3)
                    )
                )
                .scalars()
                .all()
            )
            by_name = {a.holder_name: a for a in accounts}
            by_name["Monsieur TEST 0"].postal_address = "3 rue de l'Hôtel de Ville\n81100 CASTRES"
            citizen = Citizen(
                tenant_id=tenant_id,
                username=f"adresse{uuid.uuid4().hex[:8]}",
                username_key=f"adresse{uuid.uuid4().hex[:8]}",
                password_hash="x",
                status=CitizenStatus.ACTIVE,
                civility="Monsieur",
                last_name="Test",
                first_names="Un",
                email="un@exemple.fr",
                street_number="7",
                street_number_suffix="bis",
                street_name="boulevard Henri Sizaire",
                # a space's own fields may add up to more than a typed address (300)
                building="Bâtiment B " + "x" * 89,
                apartment="Appartement " + "y" * 38,
                address_complement="Chez " + "z" * 145,
                postcode="81100",
                city="Castres",
            )
            session.add(citizen)
            await session.flush()
            linked = by_name["Monsieur TEST 1"]
            linked.citizen_id = citizen.id
            linked.postal_address = "an old address the space overrides\n00000 NOWHERE"
        run_id, _queued = await run_period(db, settings, tenant_id, code)
        invoices = {i.recipient: i for i in await _invoices(db, tenant_id, ledger_id)}
        assert invoices["Monsieur TEST 0"].recipient_address == (
            "3 rue de l'Hôtel de Ville\n81100 CASTRES"
        )
        linked_address = invoices["Monsieur TEST 1"].recipient_address
        assert len(linked_address) > 300
        assert linked_address.startswith("Bâtiment B x")
        assert linked_address.endswith("\n7 bis boulevard Henri Sizaire\n81100 CASTRES")
        assert invoices["Monsieur TEST 2"].recipient_address == ""
        files = create_file_store(settings)
        async with db.session(tenant_id) as session:
            run = await session.get(BillingRun, run_id)
        pages = [
            page.extract_text()
            for key in run.print_keys
            for page in PdfReader(io.BytesIO(files.get(key))).pages
        ]
        first = next(p for p in pages if "Monsieur TEST 0" in p)
        assert "3 rue de l'Hôtel de Ville" in first and "81100 CASTRES" in first
        second = next(p for p in pages if "Monsieur TEST 1" in p)
        assert "7 bis boulevard Henri Sizaire" in second and "NOWHERE" not in second
    finally:
        await db.dispose()


async def test_a_number_taken_by_an_imported_invoice_is_skipped(backend):
    """An invoice imported from the service's billing software with the number the ledger's own
    numbering would give next made every run of that ledger fail on a unique constraint, at
    every relaunch (a tester's walk): the run now skips the numbers already taken."""
    from guichet.accounts.models import ServiceAccount

    settings = backend.settings
    db, tenant_id, code, ledger_id = await ledger_with_items(settings, accounts=3)
    try:
        async with db.transaction(tenant_id) as session:
            account = await session.scalar(
                select(ServiceAccount).where(ServiceAccount.holder_name == "Monsieur TEST 0")
            )
            session.add(
                Invoice(
                    tenant_id=tenant_id,
                    ledger_id=ledger_id,
                    service_account_id=account.id,
                    number="77000002",  # imported: the run's second number
                    label="Importée",
                    recipient="Monsieur TEST 0",
                    issue_date=date(2020, 3, 1),
                    due_date=date(2020, 4, 1),
                    total_cents=100,
                )
            )
        run_id, _queued = await run_period(db, settings, tenant_id, code, batch=2)
        async with db.session(tenant_id) as session:
            run = await session.get(BillingRun, run_id)
            assert run.status == "done" and run.invoices_created == 3, run.error
        numbers = [i.number for i in await _invoices(db, tenant_id, ledger_id)]
        assert numbers == ["77000001", "77000002", "77000003", "77000004"]
    finally:
        await db.dispose()
