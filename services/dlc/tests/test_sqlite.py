"""The flows that read a contract's history inside a transaction, on SQLite.

SQLite has one writer at a time and every transaction here takes the write
lock at BEGIN: a flow that opened a second transaction while holding the
first would wait on itself until the busy timeout and fail with "database
is locked". PostgreSQL would not show it.
"""

from __future__ import annotations

from dlc_world import Start
from test_flows import test_early_close_and_expired_quote as early_close
from test_flows import test_open_then_settle_by_attestation as settle_by_attestation


async def test_settlement_by_attestation_on_sqlite(sqlite_start: Start) -> None:
    await settle_by_attestation(sqlite_start)


async def test_early_close_on_sqlite(sqlite_start: Start) -> None:
    await early_close(sqlite_start)
