"""Registering, removing and listing watches (what the RPC methods do)."""

from __future__ import annotations

import secrets
import time
import uuid

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from tentenone.bitcoin.tx import parse_transaction
from tentenone.chain import ChainSource, TransactionNotFound, script_hash
from tentenone.store import Database, utcnow
from tentenone.wire.chain import (
    BlockRef,
    InvalidOutpoint,
    InvalidWatch,
    ListWatchesRequest,
    OutPointRef,
    UnknownWatch,
    UnwatchRequest,
    Watch,
    WatchConflict,
    WatchedTx,
    WatchLimitReached,
    WatchList,
    WatchRequest,
    WatchStatus,
)
from tentenone_chain_monitor import repository
from tentenone_chain_monitor.models import ChainMonitorTable, WatchRow
from tentenone_chain_monitor.monitor import ChainMonitor
from tentenone_chain_monitor.reconcile import ROLE_OTHER, WatchSpec
from tentenone_chain_monitor.validation import (
    check_depths,
    check_name,
    check_outpoint,
    parse_script_hex,
)

__all__ = ["get_watch", "list_watches", "new_watch_id", "register", "unregister", "watch_view"]

_WATCH = ChainMonitorTable.metadata.tables[WatchRow.__tablename__]


def new_watch_id() -> str:
    """A UUID whose first 48 bits are the time in ms (version 7 layout): ids sort by age."""
    raw = bytearray((time.time_ns() // 1_000_000).to_bytes(6, "big"))
    raw += secrets.token_bytes(10)
    raw[6] = (raw[6] & 0x0F) | 0x70
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(raw)))


def watch_view(row: WatchRow) -> Watch:
    outpoint = None
    if row.outpoint_txid is not None and row.outpoint_vout is not None:
        outpoint = OutPointRef(txid=row.outpoint_txid, vout=row.outpoint_vout)
    return Watch(
        watch_id=row.id,
        owner=row.owner,
        ref=row.ref,
        kind=row.kind,
        script_hex=row.script_hex,
        outpoint=outpoint,
        depths=[int(d) for d in row.depths.split(",")],
        created_at=row.created_at,
    )


def spec_of(row: WatchRow) -> WatchSpec:
    return WatchSpec(
        id=row.id,
        owner=row.owner,
        ref=row.ref,
        kind=row.kind,
        script=bytes.fromhex(row.script_hex),
        script_hash=row.script_hash,
        outpoint_txid=row.outpoint_txid,
        outpoint_vout=row.outpoint_vout,
        depths=tuple(int(d) for d in row.depths.split(",")),
    )


async def _outpoint_script(source: ChainSource, txid: str, vout: int) -> bytes:
    try:
        info = await source.get_transaction(txid)
    except TransactionNotFound:
        raise InvalidOutpoint(
            f"transaction {txid} is not known to the chain yet: give the output's script_hex"
        ) from None
    outputs = parse_transaction(info.raw).outputs
    if vout >= len(outputs):
        raise InvalidOutpoint(f"transaction {txid} has {len(outputs)} outputs, no output {vout}")
    return outputs[vout].script_pubkey


async def _new_row(source: ChainSource, req: WatchRequest) -> WatchRow:
    """The row ``req`` asks for, every field checked (nothing is written here)."""
    owner = check_name(req.owner, "owner", 64)
    ref = check_name(req.ref, "ref", 200)
    depths = check_depths(req.depths)
    txid: str | None = None
    vout: int | None = None
    if req.outpoint is None:
        if req.script_hex is None:
            raise InvalidWatch("give script_hex (a script watch) or outpoint (an outpoint watch)")
        script = parse_script_hex(req.script_hex)
    else:
        txid, vout = check_outpoint(req.outpoint.txid, req.outpoint.vout)
        if req.script_hex is not None:
            script = parse_script_hex(req.script_hex)
        else:
            script = await _outpoint_script(source, txid, vout)
    return WatchRow(
        id=new_watch_id(),
        owner=owner,
        ref=ref,
        kind="script" if txid is None else "outpoint",
        script_hex=script.hex(),
        script_hash=script_hash(script),
        outpoint_txid=txid,
        outpoint_vout=vout,
        depths=",".join(str(d) for d in depths),
        created_at=utcnow(),
        status=None,
        synced=False,
    )


def _same_target(a: WatchRow, b: WatchRow) -> bool:
    return (a.kind, a.script_hex, a.outpoint_txid, a.outpoint_vout, a.depths) == (
        b.kind,
        b.script_hex,
        b.outpoint_txid,
        b.outpoint_vout,
        b.depths,
    )


async def _by_owner_ref(db: Database, owner: str, ref: str) -> WatchRow | None:
    async with db.session() as session:
        found = await session.exec(
            select(WatchRow).where(WatchRow.owner == owner, WatchRow.ref == ref)
        )
        return found.first()


async def register(
    db: Database, source: ChainSource, monitor: ChainMonitor, req: WatchRequest, limit: int
) -> Watch:
    """The watch ``req`` asks for: created, or the same one registered before."""
    row = await _new_row(source, req)
    for _ in range(2):  # a concurrent registration of the same (owner, ref): read it
        existing = await _by_owner_ref(db, row.owner, row.ref)
        if existing is not None:
            if not _same_target(existing, row):
                raise WatchConflict(
                    f"{row.owner}/{row.ref} already watches another target or other depths "
                    f"(watch {existing.id})",
                    watch_id=existing.id,
                )
            return watch_view(existing)
        try:
            async with db.transaction() as session:
                conn = await session.connection()
                count = (
                    await conn.execute(sa_select(func.count()).select_from(_WATCH))
                ).scalar_one()
                if count >= limit:
                    raise WatchLimitReached(f"{count} watches registered: the limit is {limit}")
                session.add(row)
        except IntegrityError:
            continue
        monitor.added(spec_of(row))
        return watch_view(row)
    raise WatchConflict(f"{row.owner}/{row.ref} is being registered concurrently: try again")


async def unregister(db: Database, monitor: ChainMonitor, req: UnwatchRequest) -> Watch:
    query = select(WatchRow)
    if req.watch_id is not None:
        if req.owner is not None or req.ref is not None:
            raise InvalidWatch("give watch_id, or owner and ref, not both")
        query = query.where(WatchRow.id == req.watch_id)
        name = f"watch {req.watch_id}"
    elif req.owner is not None and req.ref is not None:
        query = query.where(WatchRow.owner == req.owner, WatchRow.ref == req.ref)
        name = f"watch {req.owner}/{req.ref}"
    else:
        raise InvalidWatch("give watch_id, or owner and ref")
    async with monitor.write_lock, db.transaction() as session:
        row = (await session.exec(query)).first()
        if row is None:
            raise UnknownWatch(f"{name} does not exist")
        await repository.delete_watch(session, row.id)
    await monitor.removed(spec_of(row))
    return watch_view(row)


async def list_watches(db: Database, req: ListWatchesRequest) -> WatchList:
    query = select(WatchRow).order_by(col(WatchRow.id)).limit(req.limit + 1)
    if req.owner is not None:
        query = query.where(WatchRow.owner == req.owner)
    if req.after is not None:
        query = query.where(col(WatchRow.id) > req.after)
    async with db.session() as session:
        rows = list((await session.exec(query)).all())
    page = rows[: req.limit]
    more = len(rows) > req.limit
    return WatchList(
        watches=[watch_view(r) for r in page], next_after=page[-1].id if more else None
    )


async def get_watch(db: Database, watch_id: str, tip: BlockRef) -> WatchStatus:
    async with db.session() as session:
        row = await session.get(WatchRow, watch_id)
        if row is None:
            raise UnknownWatch(f"watch {watch_id} does not exist")
        states = (await repository.load_states(session, [watch_id]))[watch_id]
    txs = [
        WatchedTx(
            txid=s.txid,
            role=s.role,
            block_height=s.height,
            block_hash=s.block_hash,
            confirmations=0 if s.height is None else max(0, tip.height - s.height + 1),
            in_mempool=s.listed and s.height is None,
            input_index=s.input_index,
        )
        for s in sorted(states.values(), key=lambda s: (s.height is None, s.height or 0, s.txid))
        if s.role != ROLE_OTHER
    ]
    return WatchStatus(watch=watch_view(row), txs=txs, tip=tip)
