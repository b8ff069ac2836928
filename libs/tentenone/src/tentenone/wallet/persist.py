"""Wallet state and where it is kept: a small persister interface.

The state is what the chain told us (script statuses and histories, the
transactions, verified where confirmed) plus what only we know (addresses
handed out, coins reserved, transactions signed but not yet seen by a server).
It never holds key material. The app keeps it in SQLite and the coordinator
in PostgreSQL through ``tentenone.store``; tests use the memory or file one.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field

from tentenone.atomic_file import write_atomic

__all__ = ["FilePersister", "MemoryPersister", "StoredTx", "WalletPersister", "WalletState"]


class StoredTx(BaseModel):
    raw: str
    """The transaction, hex."""
    height: int | None = None
    block_hash: str | None = None
    seen: bool = False
    """A server has listed it at least once; a seen tx that vanishes was replaced or reorged out."""


class WalletState(BaseModel):
    schema_version: int = 1
    descriptor: str
    issued: dict[int, int] = Field(default_factory=lambda: {0: 0, 1: 0})
    """Addresses handed out per branch (receive 0, change 1)."""
    statuses: dict[str, str | None] = Field(default_factory=dict)
    histories: dict[str, list[tuple[str, int | None]]] = Field(default_factory=dict)
    """Script hash -> [(txid, height or None)] as the server last listed it."""
    txs: dict[str, StoredTx] = Field(default_factory=dict)
    locked: dict[str, str] = Field(default_factory=dict)
    """Outpoint ``txid:vout`` -> why it is reserved (e.g. a DLC being negotiated)."""


class WalletPersister(Protocol):
    async def load(self) -> WalletState | None: ...

    async def save(self, state: WalletState) -> None: ...


class MemoryPersister:
    def __init__(self) -> None:
        self._data: str | None = None

    async def load(self) -> WalletState | None:
        return None if self._data is None else WalletState.model_validate_json(self._data)

    async def save(self, state: WalletState) -> None:
        self._data = state.model_dump_json()


class FilePersister:
    """A JSON file replaced atomically (write, fsync, rename): a crash leaves old or new."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    async def load(self) -> WalletState | None:
        try:
            text = await asyncio.to_thread(self.path.read_text)
        except FileNotFoundError:
            return None
        return WalletState.model_validate_json(text)

    async def save(self, state: WalletState) -> None:
        await asyncio.to_thread(self._write, state.model_dump_json())

    def _write(self, text: str) -> None:
        write_atomic(self.path, text.encode())
