"""positions: the maker's net contracts per market

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tentenone.store.types

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "positions",
        sa.Column("market", sa.String(length=64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("trades", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", tentenone.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("market", name=op.f("pk_positions")),
    )


def downgrade() -> None:
    op.drop_table("positions")
