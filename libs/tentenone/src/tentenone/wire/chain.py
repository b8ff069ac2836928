"""The chain monitor on the bus: its RPC methods, its events and its errors.

Other services ask the chain monitor (service ``chain-monitor``) to watch an
output script or an outpoint, with the depths they care about, and learn
what happens on chain from its events (exchange ``chain-monitor.events``):

- ``chain.tx_confirmed``: a watched transaction reached one of the watch's
  depths (1 = in a block). Once per (watch, transaction, depth, block); again,
  with a new event id, if a reorganisation took the transaction out and a
  block put it back.
- ``chain.txs_confirmed``: instead of ``chain.tx_confirmed``, for the owners the
  monitor is configured to batch (``batched_owners``): the confirmations of one
  owner's watches that one round found, in one message (ADR 0055).
- ``chain.spent``: a watched outpoint is spent, first seen in the mempool
  (``confirmed`` false), then in a block (``confirmed`` true).
- ``chain.reorg``: the best chain changed below its tip; lists the watched
  transactions that lost their confirmation. It comes before the events of
  the new branch.

What a watch reports:

- a *script* watch: every transaction in the script's history (paying to it
  or spending from it), ``role`` ``"history"``;
- an *outpoint* watch: the transaction that creates the outpoint
  (``role`` ``"creates"``) and the one that spends it (``"spends"``), each
  with ``chain.tx_confirmed`` at every depth, plus ``chain.spent``.

Registering is idempotent on (``owner``, ``ref``): the same request again
returns the same watch; the same (owner, ref) for another target is a
``WatchConflict``. Consumers filter events by ``owner`` (and ``ref``).

Transaction ids and block hashes are hex as users see them (byte-reversed);
scripts and transactions are lower-case hex.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from tentenone.chain.errors import BroadcastRejected, ChainUnavailable, TransactionNotFound
from tentenone.errors import ConflictError, InvalidInput, NotFound
from tentenone.wire.base import Event, RpcMethod, WireModel

__all__ = [
    "BROADCAST",
    "GET_WATCH",
    "LIST_WATCHES",
    "OUTPOINT_STATUS",
    "SERVICE",
    "TIP",
    "TX_STATUS",
    "UNWATCH",
    "WATCH",
    "BlockRef",
    "BroadcastRejected",
    "BroadcastRequest",
    "BroadcastResult",
    "ChainReorg",
    "ChainTip",
    "ChainUnavailable",
    "InvalidOutpoint",
    "InvalidScript",
    "InvalidTransaction",
    "InvalidWatch",
    "ListWatchesRequest",
    "NoArguments",
    "OutPointRef",
    "OutpointSpent",
    "OutpointStatus",
    "OutpointStatusRequest",
    "ReorgedTx",
    "TransactionNotFound",
    "TxConfirmed",
    "TxStatus",
    "TxStatusRequest",
    "TxsConfirmed",
    "UnknownWatch",
    "UnwatchRequest",
    "Watch",
    "WatchConflict",
    "WatchIdRequest",
    "WatchLimitReached",
    "WatchList",
    "WatchRequest",
    "WatchStatus",
    "WatchedTx",
]

SERVICE = "chain-monitor"

WatchKind = Literal["script", "outpoint"]
TxRole = Literal["history", "creates", "spends"]

# Shapes (hex, ranges) are checked by the service, which answers with the typed
# errors below; the models only bound sizes so a body cannot be huge.
_OWNER = Field(min_length=1, max_length=64)
_REF = Field(min_length=1, max_length=200)
_TXID = Field(max_length=64)
_WATCH_ID = Field(min_length=1, max_length=36)
_HASH = Field(min_length=64, max_length=64)


# -- errors ------------------------------------------------------------------------------


class InvalidScript(InvalidInput):
    """The output script is not hex, empty, too long, or its pushes run past its end."""

    code = "chain_monitor_invalid_script"


class InvalidOutpoint(InvalidInput):
    """The outpoint's txid is not 64 hex characters or its index is out of range."""

    code = "chain_monitor_invalid_outpoint"


class InvalidWatch(InvalidInput):
    """Owner, ref or depths are malformed, or neither (or both kinds of) target is given."""

    code = "chain_monitor_invalid_watch"


class InvalidTransaction(InvalidInput):
    """A transaction to broadcast that is not hex or does not parse."""

    code = "chain_monitor_invalid_transaction"


class UnknownWatch(NotFound):
    code = "chain_monitor_unknown_watch"


class WatchConflict(ConflictError):
    """(owner, ref) names a watch of another target or other depths already."""

    code = "chain_monitor_watch_conflict"


class WatchLimitReached(ConflictError):
    code = "chain_monitor_watch_limit"


# -- shared parts ------------------------------------------------------------------------


class OutPointRef(WireModel):
    txid: str = _TXID
    vout: int


class BlockRef(WireModel):
    height: int
    hash: str = _HASH


class NoArguments(WireModel):
    pass


# -- watches -----------------------------------------------------------------------------


class WatchRequest(WireModel):
    """Watch ``script_hex``, or ``outpoint`` (then ``script_hex`` is its output's script).

    Give the outpoint's script when you know it (the DLC funding output's
    script): without it the monitor must find the creating transaction first,
    and refuses an outpoint whose transaction no server knows yet.
    """

    owner: str = _OWNER
    #: the owner's own name for this watch (e.g. ``"<contract id>/funding"``)
    ref: str = _REF
    script_hex: str | None = Field(default=None, max_length=20_000)
    outpoint: OutPointRef | None = None
    #: confirmation depths to report, 1..1000, at most 10 (e.g. [1, 3, 6])
    depths: list[int] = Field(default_factory=lambda: [1], max_length=100)


class Watch(WireModel):
    watch_id: str
    owner: str
    ref: str
    kind: WatchKind
    script_hex: str
    outpoint: OutPointRef | None
    depths: list[int]
    created_at: dt.datetime


class WatchIdRequest(WireModel):
    watch_id: str = _WATCH_ID


class UnwatchRequest(WireModel):
    """Remove a watch by ``watch_id``, or by ``owner`` and ``ref``."""

    watch_id: str | None = Field(default=None, max_length=36)
    owner: str | None = Field(default=None, max_length=64)
    ref: str | None = Field(default=None, max_length=200)


class ListWatchesRequest(WireModel):
    owner: str | None = Field(default=None, max_length=64)
    #: page after this watch id (ids sort in creation order within an owner listing)
    after: str | None = Field(default=None, max_length=36)
    limit: int = Field(default=100, ge=1, le=1000)


class WatchList(WireModel):
    watches: list[Watch]
    #: pass as ``after`` for the next page; None: this was the last
    next_after: str | None


class WatchedTx(WireModel):
    """A transaction of a watch as the monitor last saw it."""

    txid: str
    role: TxRole
    #: None: in the mempool (or no longer anywhere: ``in_mempool`` false)
    block_height: int | None
    block_hash: str | None
    confirmations: int
    in_mempool: bool
    #: the input of ``txid`` spending the watched outpoint (role ``"spends"``)
    input_index: int | None = None


class WatchStatus(WireModel):
    watch: Watch
    txs: list[WatchedTx]
    tip: BlockRef


# -- chain queries and broadcast -----------------------------------------------------------


class BroadcastRequest(WireModel):
    tx_hex: str = Field(min_length=2, max_length=800_000)


class BroadcastResult(WireModel):
    """``accepted``: the node has it in its mempool now (sent now, or it had it already);
    ``known``: the node refused it, but the chain (or the server's mempool) has it."""

    txid: str
    outcome: Literal["accepted", "known"]
    #: 0 in the mempool; None when not known yet (just accepted)
    confirmations: int | None


class TxStatusRequest(WireModel):
    txid: str = _TXID


class TxStatus(WireModel):
    """``confirmations``: None unknown to the server, 0 in its mempool, else depth."""

    txid: str
    confirmations: int | None
    block_height: int | None
    block_hash: str | None
    tip_height: int


class OutpointStatusRequest(WireModel):
    outpoint: OutPointRef
    #: the outpoint's output script if known (saves a round trip)
    script_hex: str | None = Field(default=None, max_length=20_000)


class OutpointStatus(WireModel):
    outpoint: OutPointRef
    #: the creating transaction is known (mempool or chain)
    exists: bool
    #: unspent as far as the server knows (mempool spends count as spent)
    unspent: bool
    spending_txid: str | None
    input_index: int | None
    #: 0 in the mempool
    spend_confirmations: int | None
    tip_height: int


class ChainTip(WireModel):
    height: int
    hash: str
    #: the monitor has processed every watch up to this tip
    synced: bool
    server: str | None


# -- events ------------------------------------------------------------------------------


class TxConfirmed(Event):
    event_type = "chain.tx_confirmed"
    source = SERVICE

    watch_id: str
    owner: str
    ref: str
    kind: WatchKind
    role: TxRole
    txid: str
    block_hash: str
    block_height: int
    #: the watch's depth this event reports
    depth: int
    #: the depth now (larger than ``depth`` when catching up after a pause)
    confirmations: int
    tip: BlockRef


class TxsConfirmed(Event):
    """Confirmations of one owner's watches from one round, in one message.

    For the owners the monitor is configured to batch (``batched_owners``):
    each item is what a ``chain.tx_confirmed`` would have said, and each is in
    exactly one ``chain.txs_confirmed``. A block confirming a thousand of an
    owner's watches is one message on the bus, not a thousand.
    """

    event_type = "chain.txs_confirmed"
    source = SERVICE

    owner: str
    confirmations: list[TxConfirmed]


class OutpointSpent(Event):
    event_type = "chain.spent"
    source = SERVICE

    watch_id: str
    owner: str
    ref: str
    outpoint: OutPointRef
    spending_txid: str
    input_index: int
    confirmed: bool
    block_hash: str | None
    block_height: int | None


class ReorgedTx(WireModel):
    """A watched transaction that was in a block the reorganisation removed."""

    watch_id: str
    owner: str
    ref: str
    txid: str
    role: TxRole
    block_hash: str
    block_height: int


class ChainReorg(Event):
    event_type = "chain.reorg"
    source = SERVICE

    old_tip: BlockRef
    new_tip: BlockRef
    #: the last height both branches share
    fork_height: int
    #: hashes of the removed blocks the monitor had processed, lowest first
    disconnected: list[str]
    txs: list[ReorgedTx]
    #: a reorganisation touching very many watches is split: part ``part`` of ``parts``
    part: int = 1
    parts: int = 1


# -- RPC methods ----------------------------------------------------------------------------

WATCH = RpcMethod(
    SERVICE, "watch", WatchRequest, Watch, "watch a script or an outpoint (idempotent)"
)
UNWATCH = RpcMethod(SERVICE, "unwatch", UnwatchRequest, Watch, "stop watching; the removed watch")
LIST_WATCHES = RpcMethod(
    SERVICE, "list_watches", ListWatchesRequest, WatchList, "watches, by owner"
)
GET_WATCH = RpcMethod(
    SERVICE, "get_watch", WatchIdRequest, WatchStatus, "a watch and its transactions now"
)
BROADCAST = RpcMethod(
    SERVICE,
    "broadcast",
    BroadcastRequest,
    BroadcastResult,
    "send a raw transaction; already in the mempool or chain counts as success",
)
TX_STATUS = RpcMethod(
    SERVICE, "tx_status", TxStatusRequest, TxStatus, "where a transaction is (SPV-checked)"
)
OUTPOINT_STATUS = RpcMethod(
    SERVICE, "outpoint_status", OutpointStatusRequest, OutpointStatus, "is an outpoint spent"
)
TIP = RpcMethod(
    SERVICE, "tip", NoArguments, ChainTip, "the chain tip and whether watches are synced"
)
