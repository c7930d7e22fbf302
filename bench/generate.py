"""Fill a PostgreSQL database fast for the benchmarks at scale.

    .venv/bin/python bench/generate.py --dsn postgresql://postgres@127.0.0.1:5432/guichet_bench \
        --tenants 1000 --citizens 100000 --invoices 1000000 --fresh

1. ``--fresh``: the database is dropped, created, migrated (Alembic) and ``tenants/ccas-castres``
   applied with its demo data, by the real CLI.
2. ccas-castres is cloned in SQL into ``bench-0001`` … (every tenant-owned table: services,
   ledgers, CGU, procedures, the demo citizen and her invoices…); every uuid of a clone is
   ``md5(original || n)``, so that the references between the cloned rows hold.
3. Citizens (active, one known password: ``Bench-2026-motdepasse``), each with a linked file in
   « Action sociale », and their invoices (two lines each; about half settled with a payment)
   are written with COPY, spread evenly over the tenants.

The citizens are ``c<tenant>-<n>`` (``c0000-1`` is in ccas-castres, ``c0001-1`` in bench-0001).
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg2
from psycopg2.extensions import parse_dsn

from guichet.billing.crypto import encrypt_options

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "Bench-2026-motdepasse"
# The bench's GUICHET_SECRET_KEY (bench/load.py uses it too): the ledgers' bank options are
# encrypted with it. A throwaway database's key, not a secret.
BENCH_SECRET_KEY = "guichet-bench-secret-key-not-for-production-0123456789"
NS = uuid.UUID("6f1c1d2e-0000-4000-8000-000000000000")
PEOPLE = {
    "citizen",
    "service_account",
    "invoice",
    "invoice_line",
    "payment",
    "payment_transaction",
}


def _run(*args: str, env: dict[str, str]) -> None:
    subprocess.run([str(ROOT / ".venv/bin/guichet"), *args], env=env, check=True, cwd=ROOT)


def fresh(dsn: str) -> None:
    params = parse_dsn(dsn)
    name = params["dbname"]
    admin = psycopg2.connect(**{**params, "dbname": "postgres"})
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    user = params.get("user", "postgres")
    host, port = params.get("host", "127.0.0.1"), params.get("port", 5432)
    url = f"postgresql+asyncpg://{user}@{host}:{port}/{name}"
    env = {**os.environ, "GUICHET_DATABASE_URL": url, "GUICHET_VAR_DIR": str(ROOT / "var/bench")}
    _run("migrate", env=env)
    _run("tenants", "apply", "--demo", "tenants/ccas-castres", env=env)


def tenant_tables(cur) -> list[str]:
    cur.execute(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND column_name = 'tenant_id' ORDER BY table_name"
    )
    return [row[0] for row in cur.fetchall()]


def columns(cur, table: str) -> list[tuple[str, str]]:
    cur.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
        (table,),
    )
    return cur.fetchall()


def _mapped(column: str, kind: str) -> str:
    if kind == "uuid":
        return (
            f'CASE WHEN t."{column}" IS NULL THEN NULL '
            f'ELSE md5(t."{column}"::text || k::text)::uuid END'
        )
    return f't."{column}"'


def clone_tenants(cur, count: int, castres: str) -> None:
    """ccas-castres, cloned ``count - 1`` times (configuration and demo rows alike)."""
    clones = count - 1
    if clones <= 0:
        return
    exprs = []
    for column, kind in columns(cur, "tenant"):
        if column == "slug":
            exprs.append("'bench-' || lpad(k::text, 4, '0')")
        elif column in ("name", "short_name"):
            exprs.append("'CCAS Bench ' || k::text")
        else:
            exprs.append(_mapped(column, kind))
    names = ", ".join(f'"{c}"' for c, _ in columns(cur, "tenant"))
    cur.execute(
        f"INSERT INTO tenant ({names}) SELECT {', '.join(exprs)} "
        f"FROM tenant t, generate_series(1, %s) k WHERE t.id = %s",
        (clones, castres),
    )
    for table in tenant_tables(cur):
        cols = columns(cur, table)
        names = ", ".join(f'"{c}"' for c, _ in cols)
        exprs = [_mapped(c, kind) for c, kind in cols]
        cur.execute(
            f"INSERT INTO {table} ({names}) SELECT {', '.join(exprs)} "
            f"FROM {table} t, generate_series(1, %s) k WHERE t.tenant_id = %s",
            (clones, castres),
        )


def _line(row: tuple) -> str:
    return "\t".join("\\N" if v is None else str(v) for v in row) + "\n"


def _copy(cur, table: str, cols: list[str], rows: Iterator[tuple]) -> int:
    """COPY by chunks of 50,000 rows; returns the number of rows."""
    total = 0
    buffer = io.StringIO()
    n = 0

    def flush() -> None:
        buffer.seek(0)
        cur.copy_expert(f"COPY {table} ({', '.join(cols)}) FROM STDIN WITH (FORMAT text)", buffer)
        buffer.seek(0)
        buffer.truncate()

    for row in rows:
        buffer.write(_line(row))
        n += 1
        if n == 50_000:
            flush()
            total += n
            n = 0
    if n:
        flush()
        total += n
    return total


def people(cur, tenants: int, citizens: int, invoices: int, castres: str) -> dict[str, int]:
    from argon2 import PasswordHasher

    password_hash = PasswordHasher().hash(PASSWORD)
    cur.execute(
        "SELECT id FROM service WHERE tenant_id = %s AND code = 'action-sociale'", (castres,)
    )
    service = cur.fetchone()[0]
    cur.execute("SELECT id FROM ledger WHERE tenant_id = %s AND code = 'seniors'", (castres,))
    ledger = cur.fetchone()[0]
    cur.execute("SELECT max(version) FROM terms_version WHERE tenant_id = %s", (castres,))
    terms = cur.fetchone()[0] or 0

    def clone_id(original: str, k: int) -> str:
        if k == 0:
            return str(original)
        import hashlib

        return str(uuid.UUID(hashlib.md5(f"{original}{k}".encode()).hexdigest()))

    tenant_ids = [clone_id(castres, k) for k in range(tenants)]
    services = [clone_id(service, k) for k in range(tenants)]
    ledgers = [clone_id(ledger, k) for k in range(tenants)]
    now = datetime.now(UTC)
    stamp = now.isoformat()
    per_tenant = max(1, citizens // tenants)
    per_citizen = max(1, invoices // (per_tenant * tenants))
    counts: dict[str, int] = {}

    def citizen_rows() -> Iterator[tuple]:
        for k in range(tenants):
            for j in range(per_tenant):
                cid = uuid.uuid5(NS, f"c{k}-{j}")
                name = f"c{k:04d}-{j + 1}"
                yield (
                    cid,
                    tenant_ids[k],
                    name,
                    name,
                    password_hash,
                    "active",
                    "Madame",
                    f"NOM{j}",
                    "",
                    "Cécile",
                    "1948-03-21",
                    "",
                    "",
                    "",
                    "",
                    "12",
                    "",
                    "rue de la République",
                    "",
                    "",
                    "",
                    "81100",
                    "Castres",
                    "FR",
                    "",
                    "",
                    "",
                    f"{name}@exemple.fr",
                    "email",
                    "",
                    "fr",
                    terms,
                    stamp,
                    stamp,
                    None,
                    0,
                    stamp,
                    stamp,
                    f"nom{j}  cecile {name} {name}@exemple.fr 81100",  # search_text
                )

    counts["citizen"] = _copy(
        cur,
        "citizen",
        [
            "id",
            "tenant_id",
            "username",
            "username_key",
            "password_hash",
            "status",
            "civility",
            "last_name",
            "birth_name",
            "first_names",
            "birth_date",
            "birth_country",
            "birth_department",
            "birth_commune",
            "photo_file",
            "street_number",
            "street_number_suffix",
            "street_name",
            "building",
            "apartment",
            "address_complement",
            "postcode",
            "city",
            "country",
            "phone",
            "mobile",
            "fax",
            "email",
            "preferred_contact",
            "pending_email",
            "locale",
            "terms_version",
            "terms_accepted_at",
            "activated_at",
            "last_login_at",
            "session_epoch",
            "created_at",
            "updated_at",
            "search_text",
        ],
        citizen_rows(),
    )

    def account_rows() -> Iterator[tuple]:
        for k in range(tenants):
            for j in range(per_tenant):
                yield (
                    uuid.uuid5(NS, f"a{k}-{j}"),
                    tenant_ids[k],
                    services[k],
                    f"B-{k:04d}-{j:05d}",
                    f"Madame NOM{j} Cécile",
                    "",
                    uuid.uuid4().hex * 2,
                    uuid.uuid5(NS, f"c{k}-{j}"),
                    stamp,
                    stamp,
                    stamp,
                    "false",
                    "",
                    None,
                )

    counts["service_account"] = _copy(
        cur,
        "service_account",
        [
            "id",
            "tenant_id",
            "service_id",
            "reference",
            "holder_name",
            "email",
            "key_digest",
            "citizen_id",
            "linked_at",
            "created_at",
            "updated_at",
            "paperless",
            "paperless_email",
            "paperless_changed_at",
        ],
        account_rows(),
    )

    lines = tempfile.TemporaryFile("w+", encoding="utf-8")
    payments = tempfile.TemporaryFile("w+", encoding="utf-8")
    written = {"invoice_line": 0, "payment": 0}

    def invoice_rows() -> Iterator[tuple]:
        window = (now - timedelta(days=10)).isoformat(), (now + timedelta(days=40)).isoformat()
        for k in range(tenants):
            for j in range(per_tenant):
                account = uuid.uuid5(NS, f"a{k}-{j}")
                for n in range(per_citizen):
                    iid = uuid.uuid5(NS, f"i{k}-{j}-{n}")
                    month = date(2020, 1, 1) + timedelta(days=31 * n)
                    meals = 1 + (j + n) % 5
                    cents = 853 * meals + 150
                    paid = (j + n) % 2 == 0
                    yield (
                        iid,
                        tenant_ids[k],
                        ledgers[k],
                        account,
                        f"B{k:04d}{j:05d}{n:03d}",
                        month.strftime("Mois %m/%Y"),
                        f"Madame NOM{j} Cécile",
                        month.isoformat(),
                        (month + timedelta(days=45)).isoformat(),
                        *window,
                        cents,
                        cents if paid else 0,
                        "reglee" if paid else "non_reglee",
                        "",
                        "",
                        stamp,
                        stamp,
                        "",
                        "",
                    )
                    lines.write(
                        _line(
                            (
                                uuid.uuid5(NS, f"l{k}-{j}-{n}-1"),
                                tenant_ids[k],
                                iid,
                                1,
                                "Portage de repas à domicile",
                                meals,
                                853,
                                853 * meals,
                                stamp,
                                stamp,
                            )
                        )
                    )
                    lines.write(
                        _line(
                            (
                                uuid.uuid5(NS, f"l{k}-{j}-{n}-2"),
                                tenant_ids[k],
                                iid,
                                2,
                                "Frais de dossier",
                                1,
                                150,
                                150,
                                stamp,
                                stamp,
                            )
                        )
                    )
                    written["invoice_line"] += 2
                    if paid:
                        payments.write(
                            _line(
                                (
                                    uuid.uuid5(NS, f"p{k}-{j}-{n}"),
                                    tenant_ids[k],
                                    iid,
                                    None,
                                    cents,
                                    "agent",
                                    stamp,
                                    f"G-{k}-{j}-{n}",
                                    stamp,
                                    stamp,
                                )
                            )
                        )
                        written["payment"] += 1

    invoice_cols = [
        "id",
        "tenant_id",
        "ledger_id",
        "service_account_id",
        "number",
        "label",
        "recipient",
        "issue_date",
        "due_date",
        "pay_from",
        "pay_until",
        "total_cents",
        "paid_cents",
        "status",
        "pdf_key",
        "pdf_digest",
        "created_at",
        "updated_at",
        "cancel_reason",
        "credit_note_number",
    ]
    counts["invoice"] = _copy(cur, "invoice", invoice_cols, invoice_rows())
    line_cols = [
        "id",
        "tenant_id",
        "invoice_id",
        "position",
        "label",
        "quantity",
        "unit_cents",
        "amount_cents",
        "created_at",
        "updated_at",
    ]
    payment_cols = [
        "id",
        "tenant_id",
        "invoice_id",
        "transaction_id",
        "amount_cents",
        "method",
        "paid_at",
        "reference",
        "created_at",
        "updated_at",
    ]
    for table, cols, source in (
        ("invoice_line", line_cols, lines),
        ("payment", payment_cols, payments),
    ):
        source.seek(0)
        cur.copy_expert(f"COPY {table} ({', '.join(cols)}) FROM STDIN WITH (FORMAT text)", source)
        source.close()
        counts[table] = written[table]
    return counts


def orphans(cur) -> dict[str, int]:
    """Every foreign key checked row by row (they were not enforced while writing)."""
    cur.execute(
        """SELECT c.conname, c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text,
                  b.attname
           FROM pg_constraint c
           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
           JOIN pg_attribute b ON b.attrelid = c.confrelid AND b.attnum = c.confkey[1]
           WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
             AND array_length(c.conkey, 1) = 1"""
    )
    found = {}
    for name, table, column, target, key in cur.fetchall():
        cur.execute(
            f'SELECT count(*) FROM {table} t WHERE t."{column}" IS NOT NULL AND NOT EXISTS '
            f'(SELECT 1 FROM {target} r WHERE r."{key}" = t."{column}")'
        )
        count = cur.fetchone()[0]
        if count:
            found[name] = count
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/guichet_bench")
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--citizens", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--fresh", action="store_true", help="drop, create, migrate, apply")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.fresh:
        fresh(args.dsn)
    connection = psycopg2.connect(args.dsn)
    with connection, connection.cursor() as cur:
        cur.execute("SELECT id FROM tenant WHERE slug = 'ccas-castres'")
        castres = cur.fetchone()[0]
        # Rows are written in whatever order; the mapping keeps references right. No FK
        # triggers meanwhile (the generator connects as the owner, a superuser).
        cur.execute("SET LOCAL session_replication_role = replica")
        step = time.perf_counter()
        clone_tenants(cur, args.tenants, castres)
        print(f"tenants: {args.tenants} ({time.perf_counter() - step:.1f} s)", flush=True)
        step = time.perf_counter()
        counts = people(cur, args.tenants, args.citizens, args.invoices, castres)
        print(f"rows: {counts} ({time.perf_counter() - step:.1f} s)", flush=True)
        # Production refuses the sandbox bank: every ledger gets eopayment's systempayv2 in
        # TEST mode (the payment start builds and signs its form; no bank is called).
        options = encrypt_options(
            BENCH_SECRET_KEY,
            {
                "vads_site_id": "12345678",
                "secret_test": "bench-secret-test",
                "signature_algo": "hmac_sha256",
                "vads_ctx_mode": "TEST",
            },
        )
        cur.execute("UPDATE ledger SET backend = 'systempayv2', backend_options = %s", (options,))
        broken = orphans(cur)
        if broken:
            raise SystemExit(f"foreign keys broken: {broken}")
    connection.autocommit = True
    with connection.cursor() as cur:
        step = time.perf_counter()
        cur.execute("VACUUM ANALYZE")
        print(f"vacuum analyze: {time.perf_counter() - step:.1f} s", flush=True)
    connection.close()
    print(f"total: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
