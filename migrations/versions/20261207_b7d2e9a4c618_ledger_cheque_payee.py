"""ledger cheque payee

An invoice told its recipient to pay « par chèque » without saying to whose order: a ledger
now names the payee of its cheques (« Chèque à l'ordre de … »), printed on its invoices.

Revision ID: b7d2e9a4c618
Revises: 3f6a9c1d2e47
Create Date: 2026-12-07 18:50:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'b7d2e9a4c618'
down_revision: str | None = '3f6a9c1d2e47'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('ledger', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cheque_payee', sa.String(length=200), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('ledger', schema=None) as batch_op:
        batch_op.drop_column('cheque_payee')
