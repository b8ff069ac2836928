"""fill releases

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import tentenone.store.types

revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('fill_releases',
    sa.Column('fill_id', sa.String(length=100), nullable=False),
    sa.Column('trader_id', sa.String(length=64), nullable=False),
    sa.Column('market_id', sa.String(length=64), nullable=False),
    sa.Column('order_id', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('created_at', tentenone.store.types.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('fill_id', 'trader_id', name=op.f('pk_fill_releases'))
    )


def downgrade() -> None:
    op.drop_table('fill_releases')
