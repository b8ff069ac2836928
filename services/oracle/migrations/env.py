"""Alembic environment: runs on the connection tentenone.store passes in."""

from tentenone.store.migrations import run_env
from tentenone_oracle.models import OracleTable

run_env(OracleTable.metadata)
