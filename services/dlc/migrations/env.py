"""Alembic environment: runs on the connection tentenone.store passes in."""

from tentenone.store.migrations import run_env
from tentenone_dlc.models import DlcTable

run_env(DlcTable.metadata)
