"""people of a request: item_people, items.has_people

Revision ID: 0003_v11_people
Revises: 0002
Create Date: 2026-11-28 17:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003_v11_people'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('has_people', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        'item_people',
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('identity', sa.String(length=500), nullable=False),
        sa.Column('name', sa.String(length=500), nullable=True),
        sa.Column('email', sa.String(length=500), nullable=True),
        sa.Column('account', sa.String(length=500), nullable=True),
        sa.Column('weight', sa.Integer(), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(['item_id'], ['items.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('item_id', 'identity'),
    )
    op.create_index('ix_item_people_identity', 'item_people', ['identity'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_item_people_identity', table_name='item_people')
    op.drop_table('item_people')
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_column('has_people')
