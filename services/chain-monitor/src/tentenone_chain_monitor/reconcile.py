"""What changed for a watch, and which events that makes: pure functions, no I/O.

The monitor feeds in what it stored (``TxState`` per transaction) and what
the chain says now (``Seen`` per transaction, already SPV-checked), and
writes back the new states with the events, in one transaction.

Exactly once: an event's id is derived from what it reports (kind, watch,
txid, depth or spend, block, generation), and the state that says it was
written (``depth_done``, ``spent_reported``) changes with it. ``generation``
grows whenever a transaction loses its place (a reorganisation took its
block, or it left the mempool), so a later confirmation, even in the same
block again, is a new event the consumer has not seen.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from tentenone.wire.base import Event
from tentenone.wire.chain import (
    BlockRef,
    OutPointRef,
    OutpointSpent,
    ReorgedTx,
    TxConfirmed,
)

__all__ = [
    "EVENT_NAMESPACE",
    "ROLE_CREATES",
    "ROLE_HISTORY",
    "ROLE_OTHER",
    "ROLE_SPENDS",
    "Emitted",
    "Seen",
    "TxState",
    "WatchSpec",
    "disconnect",
    "event_id",
    "progress",
    "reconcile",
    "reorged_tx",
]

ROLE_HISTORY = "history"
ROLE_CREATES = "creates"
ROLE_SPENDS = "spends"
#: a transaction of an outpoint's script that does not touch the outpoint
ROLE_OTHER = "other"
_MEMPOOL = "mempool"

#: uuid5 namespace of the chain monitor's event ids
EVENT_NAMESPACE = uuid.UUID("6f1f6d1e-5a8b-4c36-9a3e-2b1c0c7e5d01")


def event_id(*parts: object) -> str:
    """The id of the event that reports ``parts``: the same parts, the same id."""
    return str(uuid.uuid5(EVENT_NAMESPACE, "|".join(str(p) for p in parts)))


@dataclass(frozen=True, slots=True)
class WatchSpec:
    id: str
    owner: str
    ref: str
    kind: str
    script: bytes
    script_hash: str
    outpoint_txid: str | None
    outpoint_vout: int | None
    depths: tuple[int, ...]

    @property
    def max_depth(self) -> int:
        return self.depths[-1]

    def outpoint_ref(self) -> OutPointRef | None:
        if self.outpoint_txid is None or self.outpoint_vout is None:
            return None
        return OutPointRef(txid=self.outpoint_txid, vout=self.outpoint_vout)


@dataclass(frozen=True, slots=True)
class TxState:
    """A ``watch_tx`` row in memory."""

    txid: str
    role: str
    listed: bool = True
    height: int | None = None
    block_hash: str | None = None
    depth_done: int = 0
    awaiting: bool = False
    input_index: int | None = None
    spent_reported: str | None = None
    generation: int = 0


@dataclass(frozen=True, slots=True)
class Seen:
    """A transaction of the watch as the chain has it now (confirmed ones SPV-checked)."""

    txid: str
    role: str
    height: int | None
    block_hash: str | None
    input_index: int | None = None


@dataclass(frozen=True, slots=True)
class Emitted:
    event_id: str
    event: Event


def disconnect(state: TxState) -> TxState:
    """The state of a transaction whose block was replaced, or that left the mempool."""
    return replace(
        state,
        height=None,
        block_hash=None,
        depth_done=0,
        awaiting=False,
        spent_reported=None,
        generation=state.generation + 1,
    )


def reorged_tx(watch: WatchSpec, state: TxState) -> ReorgedTx:
    assert state.height is not None and state.block_hash is not None
    return ReorgedTx(
        watch_id=watch.id,
        owner=watch.owner,
        ref=watch.ref,
        txid=state.txid,
        role=state.role,
        block_hash=state.block_hash,
        block_height=state.height,
    )


def reconcile(
    watch: WatchSpec,
    stored: Mapping[str, TxState],
    seen: Iterable[Seen],
    tip: BlockRef,
) -> tuple[dict[str, TxState], list[Emitted]]:
    """New states of every transaction of ``watch`` (changed ones only) and the events.

    ``seen`` is the script's whole history now; a stored transaction missing
    from it has left the mempool (or its block was replaced and it was not mined again).
    """
    changed: dict[str, TxState] = {}
    events: list[Emitted] = []
    current = {s.txid: s for s in seen}
    for txid, state in stored.items():
        if txid not in current and state.listed:
            changed[txid] = replace(disconnect(state), listed=False)
    for txid, fact in current.items():
        before = stored.get(txid) or TxState(txid, fact.role, input_index=fact.input_index)
        state = _place(before, fact)
        state, spent = _spent_events(watch, state)
        events.extend(spent)
        state, confirmed = progress(watch, state, tip)
        events.extend(confirmed)
        if state != stored.get(txid):
            changed[txid] = state
    return changed, events


def _place(state: TxState, fact: Seen) -> TxState:
    """``state`` moved to where ``fact`` says the transaction is."""
    moved = state.height != fact.height or state.block_hash != fact.block_hash
    if moved and state.height is not None:
        # Its block is not on our chain any more (or it went back to the mempool).
        state = disconnect(state)
    return replace(
        state,
        listed=True,
        height=fact.height,
        block_hash=fact.block_hash,
        role=fact.role,
        input_index=fact.input_index,
    )


def _spent_events(watch: WatchSpec, state: TxState) -> tuple[TxState, list[Emitted]]:
    outpoint = watch.outpoint_ref()
    if state.role != ROLE_SPENDS or outpoint is None or state.input_index is None:
        return state, []
    where = _MEMPOOL if state.height is None else state.block_hash
    if state.spent_reported == where:
        return state, []
    event = OutpointSpent(
        watch_id=watch.id,
        owner=watch.owner,
        ref=watch.ref,
        outpoint=outpoint,
        spending_txid=state.txid,
        input_index=state.input_index,
        confirmed=state.height is not None,
        block_hash=state.block_hash,
        block_height=state.height,
    )
    eid = event_id("spent", watch.id, state.txid, where, state.generation)
    return replace(state, spent_reported=where), [Emitted(eid, event)]


def progress(watch: WatchSpec, state: TxState, tip: BlockRef) -> tuple[TxState, list[Emitted]]:
    """``chain.tx_confirmed`` for every depth ``state`` reached at ``tip`` and not reported."""
    if state.height is None or state.block_hash is None or state.role == ROLE_OTHER:
        return replace(state, awaiting=False), []
    confirmations = tip.height - state.height + 1
    events = []
    done = state.depth_done
    for depth in watch.depths:
        if done < depth <= confirmations:
            event = TxConfirmed(
                watch_id=watch.id,
                owner=watch.owner,
                ref=watch.ref,
                kind=watch.kind,
                role=state.role,
                txid=state.txid,
                block_hash=state.block_hash,
                block_height=state.height,
                depth=depth,
                confirmations=confirmations,
                tip=tip,
            )
            eid = event_id(
                "confirmed", watch.id, state.txid, depth, state.block_hash, state.generation
            )
            events.append(Emitted(eid, event))
            done = depth
    return replace(state, depth_done=done, awaiting=done < watch.max_depth), events
