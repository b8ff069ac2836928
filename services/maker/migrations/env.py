"""Alembic environment: runs on the connection tentenone.store passes in."""

from tentenone.store.migrations import run_env
from tentenone_maker.models import MakerTable

run_env(MakerTable.metadata)
