"""A ``WalletPersister`` on a service's database (``tentenone.store``): SQLite or PostgreSQL.

The app and the coordinator each put ``wallet_state_table`` on their own
MetaData (so their migrations create it in their own schema or file) and
hand the table to ``DatabasePersister``. One row per wallet: the state as
JSON, replaced in one transaction on every save.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, MetaData, String, Table, Text, insert, select, update

from tentenone.store import Database, UtcDateTime
from tentenone.wallet.errors import InvalidWalletInput
from tentenone.wallet.persist import WalletState

__all__ = ["WALLET_STATE_TABLE", "DatabasePersister", "wallet_state_table"]

WALLET_STATE_TABLE = "wallet_state"


def wallet_state_table(metadata: MetaData) -> Table:
    """Declare the wallet state table on ``metadata`` (once per service)."""
    return Table(
        WALLET_STATE_TABLE,
        metadata,
        Column("wallet_id", String(100), primary_key=True),
        Column("state", Text, nullable=False),
        Column("updated_at", UtcDateTime, nullable=False),
    )


class DatabasePersister:
    def __init__(self, database: Database, table: Table, wallet_id: str) -> None:
        if not isinstance(wallet_id, str) or not 0 < len(wallet_id) <= 100:
            raise InvalidWalletInput("wallet id must be 1..100 characters")
        self._db = database
        self._table = table
        self._id = wallet_id

    async def load(self) -> WalletState | None:
        async with self._db.transaction() as session:
            conn = await session.connection()
            text = (
                await conn.execute(
                    select(self._table.c.state).where(self._table.c.wallet_id == self._id)
                )
            ).scalar_one_or_none()
        return None if text is None else WalletState.model_validate_json(text)

    async def save(self, state: WalletState) -> None:
        values = {"state": state.model_dump_json(), "updated_at": dt.datetime.now(dt.UTC)}
        async with self._db.transaction() as session:
            conn = await session.connection()
            result = await conn.execute(
                update(self._table).where(self._table.c.wallet_id == self._id).values(**values)
            )
            if not result.rowcount:
                await conn.execute(insert(self._table).values(wallet_id=self._id, **values))
