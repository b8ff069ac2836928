"""Alembic environment of the throwaway test services (upgrades only need the versions)."""

from tentenone.store import service_registry
from tentenone.store.migrations import run_env

run_env(service_registry().metadata)
