"""payment attempt's bank form

The page that sends the browser to the bank was the answer to a POST: the browser's Back
from the bank page showed « Confirm Form Resubmission ». The attempt now keeps the bank's
form, and that page has an address of its own.

Revision ID: d41f6b8e2a90
Revises: b7d2e9a4c618
Create Date: 2026-12-07 19:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'd41f6b8e2a90'
down_revision: str | None = 'b7d2e9a4c618'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('payment_transaction', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bank_form', sa.Text(), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('payment_transaction', schema=None) as batch_op:
        batch_op.drop_column('bank_form')
