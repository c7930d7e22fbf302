"""citizen search text

The agents' search of citizens compared names as typed: « cecile » did not find Cécile. Each
citizen now carries their searched fields without accents nor case (`search_text`, kept by the
ORM at every write); this fills it for the citizens already there.

Revision ID: 6c1e2f0a9d41
Revises: 50522191c94c
Create Date: 2026-12-07 06:05:00.000000+00:00
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import advanced_alchemy.types


revision: str = '6c1e2f0a9d41'
down_revision: str | None = '50522191c94c'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# as guichet.accounts.models.search_text on the day of this migration (kept here: a migration
# must not change when the application's code does)
FIELDS = ('last_name', 'birth_name', 'first_names', 'username', 'email', 'postcode')


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize('NFKD', text.casefold())
    plain = ''.join(c for c in decomposed if not unicodedata.combining(c))
    return plain.replace('œ', 'oe').replace('æ', 'ae').replace('ß', 'ss')


def upgrade() -> None:
    with op.batch_alter_table('citizen', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_text', sa.String(length=800), server_default='', nullable=False))
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':  # row-level security: this is platform-level work
        bind.execute(sa.text("SELECT set_config('guichet.all_tenants', 'on', true)"))
    guid = advanced_alchemy.types.guid.GUID(length=16)
    citizen = sa.table('citizen', sa.column('id', guid), sa.column('search_text', sa.String),
                       *(sa.column(name, sa.String) for name in FIELDS))
    rows = bind.execute(sa.select(citizen.c.id, *(citizen.c[name] for name in FIELDS))).all()
    update = sa.update(citizen).where(citizen.c.id == sa.bindparam('b_id')).values(
        search_text=sa.bindparam('b_text'))
    batch = []
    for row in rows:
        text = ' '.join(_plain(value or '') for value in row[1:])[:800]
        batch.append({'b_id': row[0], 'b_text': text})
        if len(batch) == 1000:
            bind.execute(update, batch)
            batch = []
    if batch:
        bind.execute(update, batch)


def downgrade() -> None:
    with op.batch_alter_table('citizen', schema=None) as batch_op:
        batch_op.drop_column('search_text')
