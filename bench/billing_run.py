"""Billing-run throughput: invoices with their PDFs per second on one core.

    .venv/bin/python bench/billing_run.py [--invoices 1000] [--batch 50] [--database URL]

Builds a throwaway database (SQLite under a temporary folder unless --database names a
PostgreSQL URL whose database is empty), applies the ccas-castres catalog, creates one service
file per invoice with a month of weekday deliveries (about 20 items each), then runs the real
billing run in this process (the code a worker runs) and reports invoices/s and the peak memory.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))

from sqlalchemy import insert, select  # noqa: E402

from guichet.accounts.models import ServiceAccount  # noqa: E402
from guichet.billing.models import BillableItem, BillingRun, Ledger  # noqa: E402
from guichet.billing.runs import create_run, execute_run  # noqa: E402
from guichet.cli import apply_folders, run_migrations  # noqa: E402
from guichet.db.session import Database  # noqa: E402
from guichet.files import create_file_store  # noqa: E402
from guichet.settings import DatabaseSettings, Settings  # noqa: E402
from guichet.tenancy.models import Service, Tenant  # noqa: E402
from guichet.web.templates import TemplateRenderer  # noqa: E402


async def fill(settings: Settings, invoices: int) -> tuple[uuid.UUID, str]:
    db = Database(settings)
    async with db.transaction(all_tenants=True) as session:
        tenant = (
            await session.execute(select(Tenant).where(Tenant.slug == "ccas-castres"))
        ).scalar_one()
        service = (
            await session.execute(
                select(Service).where(
                    Service.tenant_id == tenant.id, Service.code == "action-sociale"
                )
            )
        ).scalar_one()
        ledger = (
            await session.execute(
                select(Ledger).where(Ledger.tenant_id == tenant.id, Ledger.code == "seniors")
            )
        ).scalar_one()
        accounts, items = [], []
        days = [date(2020, 2, 1) + timedelta(days=n) for n in range(29)]
        for n in range(invoices):
            account_id = uuid.uuid4()
            accounts.append(
                {
                    "id": account_id,
                    "tenant_id": tenant.id,
                    "service_id": service.id,
                    "reference": f"B-{n:07d}",
                    "holder_name": f"Madame BENCH {n}",
                    "key_digest": uuid.uuid4().hex * 2,
                    "email": "",
                    "paperless": False,
                    "paperless_email": "",
                }
            )
            for day in days:
                if day.weekday() < 5:
                    items.append(
                        {
                            "id": uuid.uuid4(),
                            "tenant_id": tenant.id,
                            "ledger_id": ledger.id,
                            "service_account_id": account_id,
                            "period": "2020-02",
                            "service_date": day,
                            "label": "Portage de repas à domicile",
                            "quantity": 1,
                            "unit_cents": 853,
                        }
                    )
        await session.execute(insert(ServiceAccount), accounts)
        await session.execute(insert(BillableItem), items)
    await db.dispose()
    return tenant.id, "seniors"


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (Linux), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _rss_mb() -> float:
    """The process's resident memory now."""
    return _status_mb("VmRSS")


def _reset_peak() -> None:
    """Start the peak (VmHWM) again from now: the setup's own peak (200,000 billable items
    built in memory for 10,000 invoices, about 800 MB) is not the run's."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--database", default="")
    parser.add_argument(
        "--plain-pdf",
        action="store_true",
        help="write plain PDF instead of PDF/UA-1 (to measure its cost)",
    )
    args = parser.parse_args()
    if args.plain_pdf:
        import guichet.billing.pdf

        guichet.billing.pdf.PDF_VARIANT = None
    folder = Path(tempfile.mkdtemp(prefix="guichet-bench-"))
    try:
        url = args.database or f"sqlite+aiosqlite:///{folder / 'bench.db'}"
        settings = Settings(
            mode="test", root=ROOT, var_dir=folder, database=DatabaseSettings(url=url)
        )
        await asyncio.to_thread(run_migrations, settings)
        await apply_folders(settings, [ROOT / "tenants" / "ccas-castres"])
        tenant_id, code = await fill(settings, args.invoices)
        db = Database(settings)
        async with db.transaction(tenant_id) as session:
            run_id = (await create_run(session, tenant_id, code, "2020-02")).id
        setup_peak_mb = _status_mb("VmHWM")
        _reset_peak()
        started, cpu_started = time.perf_counter(), time.process_time()
        marks: list[tuple[float, int]] = []

        def progress(run: BillingRun) -> None:
            marks.append((time.perf_counter() - started, run.pdfs_rendered))
            memory.append((run.pdfs_rendered, _rss_mb()))

        memory: list[tuple[int, float]] = []

        await execute_run(
            db,
            settings,
            TemplateRenderer(settings.themes_dir),
            create_file_store(settings),
            tenant_id,
            run_id,
            batch=args.batch,
            progress=progress,
        )
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started  # every thread of the process
        await db.dispose()
        peak_mb = _status_mb("VmHWM")
        invoice_phase = max((t for t, pdfs in marks if pdfs == 0), default=0.0)
        print(
            f"invoices: {args.invoices}, batch: {args.batch}, database: "
            f"{'PostgreSQL' if args.database else 'SQLite'}"
        )
        print(
            f"total {elapsed:.1f} s -> {args.invoices / elapsed:.1f} invoices with PDF per "
            f"second (one process, one core)"
        )
        print(
            f"  CPU time of the process {cpu:.1f} s -> {args.invoices / cpu:.1f} invoices per "
            f"CPU second (the machine gave the process {100 * cpu / elapsed:.0f} % of a core)"
        )
        print(
            f"  invoices created in about {invoice_phase:.1f} s; PDFs rendered, stored and "
            f"the print file made in the rest"
        )
        print(
            f"peak memory of the run (VmHWM) {peak_mb:.0f} MB; "
            f"of the setup before it {setup_peak_mb:.0f} MB"
        )
        rendered = [(n, mb) for n, mb in memory if n]
        if rendered:
            points = [rendered[int(len(rendered) * q) - 1] for q in (0.1, 0.25, 0.5, 0.75, 1.0)]
            print(
                "memory as the run goes (PDFs done: RSS MB): "
                + ", ".join(f"{n}: {mb:.0f}" for n, mb in points)
            )
            timed = [(t, n) for t, n in marks if n]
            cuts = [timed[int(len(timed) * q) - 1] for q in (0.1, 0.25, 0.5, 0.75, 1.0)]
            spans = zip([(invoice_phase, 0), *cuts[:-1]], cuts, strict=True)
            print(
                "time per PDF as the run goes (PDFs done: ms per PDF since the previous mark): "
                + ", ".join(
                    f"{n}: {1000 * (t - t0) / max(n - n0, 1):.0f}" for (t0, n0), (t, n) in spans
                )
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
