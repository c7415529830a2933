"""forgotten people: tombstones (salted identity hashes) kept by ``demandsync forget``

Revision ID: 0004_forgotten
Revises: 0003_v11_people
Create Date: 2026-11-28 17:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004_forgotten'
down_revision = '0003_v11_people'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'forgotten',
        sa.Column('identity_hash', sa.String(length=64), nullable=False),
        sa.Column('forgotten_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('identity_hash'),
    )


def downgrade() -> None:
    op.drop_table('forgotten')
