"""billable item identity: one item per ledger, file, date and label

Revision ID: 3f6a9c1d2e47
Revises: 8e4b7d2c3a15
Create Date: 2026-12-07 13:40:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '3f6a9c1d2e47'
down_revision: str | None = '8e4b7d2c3a15'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Imports (API, CSV) are idempotent on this key; the index makes two imports of the same
    # items at the same moment create them once (the second one is refused and sent again).
    with op.batch_alter_table('billable_item', schema=None) as batch_op:
        batch_op.create_index(
            'uq_billable_item_identity',
            ['tenant_id', 'ledger_id', 'service_account_id', 'service_date', 'label'],
            unique=True,
        )


def downgrade() -> None:
    with op.batch_alter_table('billable_item', schema=None) as batch_op:
        batch_op.drop_index('uq_billable_item_identity')
