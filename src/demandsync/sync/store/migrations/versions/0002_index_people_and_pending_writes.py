"""index people and pending writes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 02:30:08.697814
"""

from __future__ import annotations

from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.create_index('ix_items_requester', ['requester'], unique=False)

    with op.batch_alter_table('writes', schema=None) as batch_op:
        batch_op.create_index('ix_writes_state', ['state'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('writes', schema=None) as batch_op:
        batch_op.drop_index('ix_writes_state')

    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index('ix_items_requester')

