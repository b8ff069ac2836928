"""The chain monitor's tables: watches, what each watch has seen, and where the chain was.

What the schema guarantees, whatever the code above it does:

- ``watch`` has one row per (owner, ref): registering twice cannot make two.
- ``watch_tx`` has one row per (watch, txid). Its ``depth_done``,
  ``spent_reported`` and ``generation`` record which events were written for
  it; they change only in the transaction that writes those events to the
  outbox, so a crash anywhere leaves both or neither.
- Outbox event ids are derived from (kind, watch, txid, depth, block,
  generation), and the outbox's id is unique: even a second monitor on the
  same schema cannot write one event twice (its transaction would fail).
- ``cursor`` (one row) is the tip the last committed round processed and
  ``seen_block`` the hashes of the blocks below it: a reorganisation that
  happened while the monitor was down is found by comparing them with the
  chain on the next start.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from tentenone.store import UtcDateTime, service_registry

__all__ = [
    "CURSOR_ID",
    "ChainMonitorTable",
    "CursorRow",
    "SeenBlockRow",
    "WatchRow",
    "WatchTxRow",
]

CURSOR_ID = 1


class ChainMonitorTable(SQLModel, registry=service_registry()):
    """The base of every chain-monitor table (its own MetaData, with the platform tables)."""


class WatchRow(ChainMonitorTable, table=True):
    __tablename__ = "watch"
    __table_args__ = (UniqueConstraint("owner", "ref"),)

    id: str = Field(sa_column=Column(String(36), primary_key=True))
    owner: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    ref: str = Field(sa_column=Column(String(200), nullable=False))
    #: "script" or "outpoint"
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    script_hex: str = Field(sa_column=Column(Text, nullable=False))
    #: the Electrum protocol's name of the script (sha256, reversed, hex)
    script_hash: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    outpoint_txid: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    outpoint_vout: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    #: the depths to report, ascending, comma-separated ("1,3,6")
    depths: str = Field(sa_column=Column(String(100), nullable=False))
    created_at: dt.datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    #: the script's Electrum status when its history was last applied (None: no history)
    status: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    #: its history was applied at least once
    synced: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false"))
    )


class WatchTxRow(ChainMonitorTable, table=True):
    """A transaction of a watch: where it is and which events were written for it."""

    __tablename__ = "watch_tx"
    __table_args__ = (
        Index(
            "ix_watch_tx_awaiting",
            "awaiting",
            postgresql_where=text("awaiting"),
            sqlite_where=text("awaiting"),
        ),
    )

    watch_id: str = Field(
        sa_column=Column(String(36), ForeignKey("watch.id", ondelete="CASCADE"), primary_key=True)
    )
    txid: str = Field(sa_column=Column(String(64), primary_key=True))
    #: "history" (script watch), "creates" / "spends" (outpoint watch), or "other": a
    #: transaction of the outpoint's script that does not spend it (kept so it is
    #: not fetched again; it has no events)
    role: str = Field(sa_column=Column(String(16), nullable=False))
    #: the server lists it in the script's history now
    listed: bool = Field(sa_column=Column(Boolean, nullable=False))
    height: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    block_hash: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    #: the largest of the watch's depths reported for (block_hash, generation); 0: none
    depth_done: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    #: confirmed and some depth still to report: looked at on every new tip
    awaiting: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    #: role "spends": the input that spends the watched outpoint
    input_index: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    #: role "spends": "mempool" or the block hash chain.spent was written for
    spent_reported: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    #: bumped each time the transaction loses its place (reorg, eviction), so the
    #: events of its next confirmation get new ids
    generation: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    updated_at: dt.datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class CursorRow(ChainMonitorTable, table=True):
    __tablename__ = "cursor"

    id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    height: int = Field(sa_column=Column(Integer, nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False))
    updated_at: dt.datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class SeenBlockRow(ChainMonitorTable, table=True):
    """The hash of each recent block the monitor processed, to find a fork point."""

    __tablename__ = "seen_block"

    height: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False))
