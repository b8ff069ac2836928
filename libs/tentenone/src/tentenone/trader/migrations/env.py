"""Alembic environment: runs on the connection tentenone.store passes in."""

from tentenone.store.migrations import run_env
from tentenone.trader.models import TraderTable

run_env(TraderTable.metadata)
