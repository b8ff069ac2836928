"""Reading and writing the chain monitor's tables (SQLAlchemy Core: rounds touch many rows)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tentenone.store import utcnow
from tentenone.wire.chain import BlockRef
from tentenone_chain_monitor.models import (
    CURSOR_ID,
    ChainMonitorTable,
    CursorRow,
    SeenBlockRow,
    WatchRow,
    WatchTxRow,
)
from tentenone_chain_monitor.reconcile import TxState, WatchSpec

__all__ = [
    "StoredWatch",
    "awaiting_states",
    "delete_seen_above",
    "delete_seen_below",
    "delete_watch",
    "existing_watch_ids",
    "load_cursor",
    "load_seen_blocks",
    "load_states",
    "load_watches",
    "save_cursor",
    "save_seen_blocks",
    "states_above",
    "write_states",
    "write_watch_sync",
]

_TABLES = ChainMonitorTable.metadata.tables
_WATCH = _TABLES[WatchRow.__tablename__]
_TX = _TABLES[WatchTxRow.__tablename__]
_CURSOR = _TABLES[CursorRow.__tablename__]
_SEEN = _TABLES[SeenBlockRow.__tablename__]
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class StoredWatch:
    spec: WatchSpec
    status: str | None
    synced: bool


def _spec(r: Row[Any]) -> WatchSpec:
    return WatchSpec(
        id=r.id,
        owner=r.owner,
        ref=r.ref,
        kind=r.kind,
        script=bytes.fromhex(r.script_hex),
        script_hash=r.script_hash,
        outpoint_txid=r.outpoint_txid,
        outpoint_vout=r.outpoint_vout,
        depths=tuple(int(d) for d in r.depths.split(",")),
    )


def _state(r: Row[Any]) -> TxState:
    return TxState(
        txid=r.txid,
        role=r.role,
        listed=r.listed,
        height=r.height,
        block_hash=r.block_hash,
        depth_done=r.depth_done,
        awaiting=r.awaiting,
        input_index=r.input_index,
        spent_reported=r.spent_reported,
        generation=r.generation,
    )


def _chunks[T](items: Sequence[T]) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


async def load_watches(
    session: AsyncSession, ids: Sequence[str] | None = None
) -> list[StoredWatch]:
    """Every watch (or those of ``ids``), in id order."""
    conn = await session.connection()
    if ids is None:
        rows = list(await conn.execute(select(_WATCH).order_by(_WATCH.c.id)))
    else:
        rows = []
        for chunk in _chunks(sorted(set(ids))):
            rows.extend(await conn.execute(select(_WATCH).where(_WATCH.c.id.in_(chunk))))
    return [StoredWatch(_spec(r), r.status, r.synced) for r in rows]


async def existing_watch_ids(session: AsyncSession, ids: Iterable[str]) -> set[str]:
    conn = await session.connection()
    found: set[str] = set()
    for chunk in _chunks(sorted(set(ids))):
        found.update(
            r.id for r in await conn.execute(select(_WATCH.c.id).where(_WATCH.c.id.in_(chunk)))
        )
    return found


async def load_states(
    session: AsyncSession, watch_ids: Iterable[str]
) -> dict[str, dict[str, TxState]]:
    """watch id -> txid -> state, for every transaction of those watches."""
    conn = await session.connection()
    out: dict[str, dict[str, TxState]] = {}
    for chunk in _chunks(sorted(set(watch_ids))):
        out.update({wid: {} for wid in chunk})
        for row in await conn.execute(select(_TX).where(_TX.c.watch_id.in_(chunk))):
            out[row.watch_id][row.txid] = _state(row)
    return out


async def awaiting_states(session: AsyncSession) -> list[tuple[str, TxState]]:
    """(watch id, state) of every confirmed transaction with a depth still to report."""
    conn = await session.connection()
    rows = await conn.execute(select(_TX).where(_TX.c.awaiting.is_(True)))
    return [(r.watch_id, _state(r)) for r in rows]


async def states_above(session: AsyncSession, height: int) -> list[tuple[str, TxState]]:
    """(watch id, state) of every transaction confirmed above ``height``."""
    conn = await session.connection()
    rows = await conn.execute(select(_TX).where(_TX.c.height > height))
    return [(r.watch_id, _state(r)) for r in rows]


def _values(watch_id: str, state: TxState) -> dict[str, object]:
    return {
        "b_watch_id": watch_id,
        "b_txid": state.txid,
        "role": state.role,
        "listed": state.listed,
        "height": state.height,
        "block_hash": state.block_hash,
        "depth_done": state.depth_done,
        "awaiting": state.awaiting,
        "input_index": state.input_index,
        "spent_reported": state.spent_reported,
        "generation": state.generation,
        "updated_at": utcnow(),
    }


async def write_states(
    session: AsyncSession,
    changed: Mapping[str, Mapping[str, TxState]],
    known: Mapping[str, Mapping[str, TxState]],
) -> None:
    """Insert the new and update the existing of ``changed`` (watch id -> txid -> state)."""
    new: list[dict[str, object]] = []
    old: list[dict[str, object]] = []
    for watch_id, states in changed.items():
        before = known.get(watch_id, {})
        for txid, state in states.items():
            (old if txid in before else new).append(_values(watch_id, state))
    conn = await session.connection()
    if new:
        rows = [{k.removeprefix("b_"): v for k, v in values.items()} for values in new]
        for chunk in _chunks(rows):
            await conn.execute(insert(_TX), list(chunk))
    if old:
        stmt = (
            update(_TX)
            .where(_TX.c.watch_id == bindparam("b_watch_id"), _TX.c.txid == bindparam("b_txid"))
            .values(
                {
                    c: bindparam(c)
                    for c in (
                        "role",
                        "listed",
                        "height",
                        "block_hash",
                        "depth_done",
                        "awaiting",
                        "input_index",
                        "spent_reported",
                        "generation",
                        "updated_at",
                    )
                }
            )
        )
        for chunk in _chunks(old):
            await conn.execute(stmt, list(chunk))


async def write_watch_sync(session: AsyncSession, statuses: Mapping[str, str | None]) -> None:
    """Record that these watches' histories were applied at these script statuses."""
    if not statuses:
        return
    conn = await session.connection()
    stmt = (
        update(_WATCH)
        .where(_WATCH.c.id == bindparam("b_id"))
        .values(status=bindparam("status"), synced=True)
    )
    rows = [{"b_id": wid, "status": status} for wid, status in statuses.items()]
    for chunk in _chunks(rows):
        await conn.execute(stmt, list(chunk))


async def load_cursor(session: AsyncSession) -> BlockRef | None:
    conn = await session.connection()
    row = (await conn.execute(select(_CURSOR).where(_CURSOR.c.id == CURSOR_ID))).first()
    return None if row is None else BlockRef(height=row.height, hash=row.hash)


async def save_cursor(session: AsyncSession, tip: BlockRef, existed: bool) -> None:
    conn = await session.connection()
    values = {"height": tip.height, "hash": tip.hash, "updated_at": utcnow()}
    if existed:
        await conn.execute(update(_CURSOR).where(_CURSOR.c.id == CURSOR_ID).values(values))
    else:
        await conn.execute(insert(_CURSOR).values(id=CURSOR_ID, **values))


async def load_seen_blocks(session: AsyncSession) -> dict[int, str]:
    conn = await session.connection()
    return {r.height: r.hash for r in await conn.execute(select(_SEEN))}


async def save_seen_blocks(session: AsyncSession, blocks: Mapping[int, str]) -> None:
    """Replace the hashes stored at these heights."""
    if not blocks:
        return
    conn = await session.connection()
    heights = sorted(blocks)
    for chunk in _chunks(heights):
        await conn.execute(delete(_SEEN).where(_SEEN.c.height.in_(chunk)))
    rows = [{"height": h, "hash": blocks[h]} for h in heights]
    for part in _chunks(rows):
        await conn.execute(insert(_SEEN), list(part))


async def delete_seen_below(session: AsyncSession, height: int) -> None:
    conn = await session.connection()
    await conn.execute(delete(_SEEN).where(_SEEN.c.height < height))


async def delete_seen_above(session: AsyncSession, height: int) -> None:
    conn = await session.connection()
    await conn.execute(delete(_SEEN).where(_SEEN.c.height > height))


async def delete_watch(session: AsyncSession, watch_id: str) -> None:
    """The watch and its transactions (explicitly: not every backend cascades)."""
    conn = await session.connection()
    await conn.execute(delete(_TX).where(_TX.c.watch_id == watch_id))
    await conn.execute(delete(_WATCH).where(_WATCH.c.id == watch_id))
