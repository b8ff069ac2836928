"""The ``ChainSource`` interface: everything the wallet and the chain monitor ask of the chain.

An implementation (Electrum today, BIP-157 compact block filters later)
keeps a verified header chain, checks every confirmed transaction it
returns against it, and reports changes as events. All amounts are integer
satoshis; transaction ids and block hashes are reversed hex, as users see them.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from tentenone.chain.headers import BlockHeader
from tentenone.chain.network import Network

__all__ = [
    "ChainEvent",
    "ChainSource",
    "HistoryItem",
    "NewTip",
    "OutPoint",
    "Reorg",
    "ScriptChanged",
    "ServerSwitched",
    "Spend",
    "Tip",
    "TxInfo",
    "Utxo",
    "script_hash",
]


def script_hash(script: bytes) -> str:
    """The Electrum protocol's name of an output script: sha256, byte-reversed, hex."""
    return hashlib.sha256(script).digest()[::-1].hex()


@dataclass(frozen=True, slots=True, order=True)
class OutPoint:
    txid: str
    vout: int

    def __str__(self) -> str:
        return f"{self.txid}:{self.vout}"


@dataclass(frozen=True, slots=True)
class Tip:
    height: int
    header: BlockHeader

    @property
    def hash(self) -> str:
        return self.header.hash


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """A transaction touching a script. ``height`` None means unconfirmed."""

    txid: str
    height: int | None
    fee: int | None = None


@dataclass(frozen=True, slots=True)
class Utxo:
    outpoint: OutPoint
    value: int
    height: int | None


@dataclass(frozen=True, slots=True)
class TxInfo:
    """A transaction and where it is. A confirmed one has passed the merkle check."""

    txid: str
    raw: bytes
    height: int | None
    block_hash: str | None = None
    position: int | None = None

    @property
    def confirmed(self) -> bool:
        return self.height is not None


@dataclass(frozen=True, slots=True)
class Spend:
    """The transaction that spends an outpoint: ``input_index`` of ``txid``."""

    outpoint: OutPoint
    txid: str
    input_index: int
    height: int | None


@dataclass(frozen=True, slots=True)
class NewTip:
    height: int
    block_hash: str


@dataclass(frozen=True, slots=True)
class Reorg:
    """Our best chain changed below its tip: blocks above ``fork_height`` were replaced."""

    fork_height: int
    disconnected: tuple[str, ...]
    connected: tuple[str, ...]
    new_height: int


@dataclass(frozen=True, slots=True)
class ScriptChanged:
    """The history of a subscribed script changed (a new, confirmed or vanished transaction)."""

    script: bytes
    status: str | None


@dataclass(frozen=True, slots=True)
class ServerSwitched:
    """The source now talks to another server (after a failure or a misbehaviour)."""

    server: str
    reason: str


ChainEvent = NewTip | Reorg | ScriptChanged | ServerSwitched


@runtime_checkable
class ChainSource(Protocol):
    """Where the wallet and the chain monitor learn about the chain."""

    network: Network

    async def start(self) -> None:
        """Connect and sync headers; raise ``ChainUnavailable`` if no server answers."""

    async def close(self) -> None: ...

    def events(self) -> AsyncIterator[ChainEvent]:
        """A stream of every event from now on; each caller gets its own stream."""
        ...

    async def tip(self) -> Tip: ...

    async def header(self, height: int) -> BlockHeader:
        """The header at ``height`` on our best chain."""
        ...

    async def subscribe_script(self, script: bytes) -> str | None:
        """Watch ``script``; return its status (None: no history). Survives reconnections."""
        ...

    async def unsubscribe_script(self, script: bytes) -> None: ...

    async def history(self, script: bytes) -> list[HistoryItem]:
        """Confirmed transactions in chain order, then unconfirmed ones."""
        ...

    async def unspent(self, script: bytes) -> list[Utxo]: ...

    async def get_transaction(self, txid: str, height: int | None = None) -> TxInfo:
        """The transaction; if confirmed, merkle-verified against our header chain.

        ``height`` is a hint (from ``history``); without it the source finds it.
        """
        ...

    async def broadcast(self, raw_tx: bytes) -> str:
        """Send to the network; return the txid or raise ``BroadcastRejected``."""
        ...

    async def estimate_fee(self, target_blocks: int) -> int:
        """Fee rate in sat per 1000 vbytes to confirm within ``target_blocks``."""
        ...

    async def find_spend(self, outpoint: OutPoint, script: bytes | None = None) -> Spend | None:
        """The transaction spending ``outpoint`` (mempool included), or None."""
        ...
