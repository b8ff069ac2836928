"""Alembic environment: runs on the connection tentenone.store passes in."""

from tentenone.store.migrations import run_env
from tentenone_chain_monitor.models import ChainMonitorTable

run_env(ChainMonitorTable.metadata)
