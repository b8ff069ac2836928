"""Alembic environment: runs on the connection tentenone.store passes in."""

from tentenone.store.migrations import run_env
from tentenone_orderbook.models import OrderbookTable

run_env(OrderbookTable.metadata)
