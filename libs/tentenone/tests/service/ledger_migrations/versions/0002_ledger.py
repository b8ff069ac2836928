"""Ledger entries and audit records of the throwaway test services.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "entries",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("amount_sat", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "audited",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("amount_sat", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audited")
    op.drop_table("entries")
