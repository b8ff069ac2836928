"""Platform tables: outbox, inbox, state transition log (version 1).

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

from tentenone.store.migrations import create_platform_tables, drop_platform_tables

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_platform_tables(1)


def downgrade() -> None:
    drop_platform_tables(1)
