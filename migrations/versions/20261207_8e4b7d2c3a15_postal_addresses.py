"""postal addresses

Letters to post (the print file of a billing run, the access-key letters) had only the
recipient's name: they could not go in a window envelope. A service's file gets the postal
address the service knows, and an invoice the address it was sent to.

Revision ID: 8e4b7d2c3a15
Revises: 6c1e2f0a9d41
Create Date: 2026-12-07 06:10:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '8e4b7d2c3a15'
down_revision: str | None = '6c1e2f0a9d41'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('service_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('postal_address', sa.String(length=600), server_default='', nullable=False))
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipient_address', sa.String(length=600), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_column('recipient_address')
    with op.batch_alter_table('service_account', schema=None) as batch_op:
        batch_op.drop_column('postal_address')
