"""outbox message attachment

The guide says that a resident who chose the online invoice receives her invoices « uniquement
sur votre boîte mail »: the email of a new invoice now carries its PDF. The message names the
stored file and the name it goes by; the file is read when the message is sent.

Revision ID: 5c2e8f1a7b34
Revises: d41f6b8e2a90
Create Date: 2026-12-08 01:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '5c2e8f1a7b34'
down_revision: str | None = 'd41f6b8e2a90'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attachment_key', sa.String(length=300), server_default='', nullable=False))
        batch_op.add_column(sa.Column('attachment_name', sa.String(length=200), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('attachment_name')
        batch_op.drop_column('attachment_key')
