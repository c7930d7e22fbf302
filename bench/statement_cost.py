"""CPU time of one SELECT by primary key, by the way it is sent: the ORM (as the pages do), Core
on the session's connection, and asyncpg alone — what a page's statements cost in the web
process, whatever else it does (bench/README.md).

    .venv/bin/python bench/statement_cost.py --statements 2000

PostgreSQL as the plain role of ``bench/load.py``, row-level security on, one transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import ROOT, app_role, production_env


async def cpu_per_call(call: Callable[[], Awaitable[Any]], count: int) -> float:
    for _ in range(max(100, count // 10)):
        await call()
    started = time.process_time()
    for _ in range(count):
        await call()
    return (time.process_time() - started) / count * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/guichet_bench")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--statements", type=int, default=2000)
    args = parser.parse_args()
    os.environ.update(production_env(app_role(args.dsn), args.redis, ROOT / "var/bench"))
    import psycopg2
    from sqlalchemy import select, text

    from guichet.accounts.models import Citizen
    from guichet.db.session import Database
    from guichet.settings import Settings

    connection = psycopg2.connect(args.dsn)
    with connection.cursor() as cur:
        cur.execute("SELECT id, tenant_id FROM citizen LIMIT 1")
        citizen_id, tenant_id = (uuid.UUID(str(v)) for v in cur.fetchone())
    connection.close()

    table = Citizen.__table__
    entity = select(Citizen).where(
        Citizen.tenant_id == tenant_id, Citizen.id == citizen_id
    )  # built once, as the pages' statements are
    core = select(table).where(table.c.tenant_id == tenant_id, table.c.id == citizen_id)
    one = text("SELECT 1")
    raw_sql = "SELECT * FROM citizen WHERE tenant_id = $1 AND id = $2"
    db = Database(Settings.from_env())
    rows = []
    try:
        async with db.session(tenant_id) as session:
            conn = await session.connection()
            driver = (await conn.get_raw_connection()).driver_connection

            async def orm_entity() -> Any:
                return (await session.execute(entity)).scalar_one()

            async def orm_select_one() -> Any:
                return (await session.execute(one)).scalar_one()

            async def core_row() -> Any:
                return (await conn.execute(core)).one()

            async def asyncpg_row() -> Any:
                return await driver.fetchrow(raw_sql, tenant_id, citizen_id)

            for label, call in [
                ("ORM: the citizen as an object (38 columns)", orm_entity),
                ("ORM session: SELECT 1", orm_select_one),
                ("Core on the session's connection: the citizen's row", core_row),
                ("asyncpg alone: the citizen's row", asyncpg_row),
            ]:
                rows.append((label, await cpu_per_call(call, args.statements)))
    finally:
        await db.dispose()
    print(f"\n{args.statements} statements each, one at a time, CPU of this process\n")
    print("| sent through | µs of CPU per statement |")
    print("|---|---|")
    for label, micros in rows:
        print(f"| {label} | {micros:.0f} |")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    asyncio.run(main())
