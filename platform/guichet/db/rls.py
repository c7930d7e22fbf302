"""Row-level security policies for tenant-owned tables (PostgreSQL only; a no-op on SQLite).

Each migration that creates a tenant-owned table calls :func:`enable` for it. The policy lets a
row through when its ``tenant_id`` is the transaction's ``guichet.tenant_id``, or when the
transaction was opened for platform-level work (``guichet.all_tenants = on``). ``FORCE`` makes the
table's owner subject to it too; superusers always bypass RLS, so the app must not connect as one.
"""

from __future__ import annotations

from alembic import op

__all__ = ["POLICY_NAME", "disable", "enable"]

POLICY_NAME = "tenant_isolation"

_CONDITION = (
    "(current_setting('guichet.all_tenants', true) = 'on' OR "
    "tenant_id = NULLIF(current_setting('guichet.tenant_id', true), '')::uuid)"
)


def enable(table: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
    op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
    op.execute(
        f'CREATE POLICY {POLICY_NAME} ON "{table}" USING {_CONDITION} WITH CHECK {_CONDITION}'
    )


def disable(table: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f'DROP POLICY IF EXISTS {POLICY_NAME} ON "{table}"')
    op.execute(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY')
    op.execute(f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY')
