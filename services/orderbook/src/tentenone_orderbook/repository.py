"""The order book's database work: load the engines' state, write a batch, answer queries.

A batch is written with one statement per table (``executemany``), so a
transaction costs about the same for one command as for a hundred.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from tentenone.bus.relay import enqueue_many
from tentenone.errors import Unavailable
from tentenone_orderbook.accounts import AccountView
from tentenone_orderbook.ledger import Batch, Known
from tentenone_orderbook.matching import EngineState
from tentenone_orderbook.models import (
    AccountRow,
    FillReleaseRow,
    FillRow,
    MarketRow,
    MarketStatus,
    OrderbookTable,
    OrderRow,
    WriterRow,
)
from tentenone_orderbook.orders import OrderStatus
from tentenone_orderbook.views import account_view, order_view

__all__ = [
    "FencedOut",
    "claim_writer",
    "find_client_orders",
    "find_releases",
    "get_order_row",
    "insert_market",
    "list_order_rows",
    "load_market",
    "load_markets",
    "write_batch",
]

_ORDERS: Table = OrderRow.__table__  # type: ignore[attr-defined]
_FILLS: Table = FillRow.__table__  # type: ignore[attr-defined]
_RELEASES: Table = FillReleaseRow.__table__  # type: ignore[attr-defined]
_ACCOUNTS: Table = AccountRow.__table__  # type: ignore[attr-defined]
_MARKETS: Table = MarketRow.__table__  # type: ignore[attr-defined]
_WRITER: Table = WriterRow.__table__  # type: ignore[attr-defined]
_TRANSITIONS: Table = OrderbookTable.metadata.tables["state_transitions"]
_LIVE = (int(OrderStatus.OPEN), int(OrderStatus.PARTIALLY_FILLED))
_ORDER_COLUMNS = [c.name for c in _ORDERS.columns if c.name != "id"]


class FencedOut(Unavailable):
    """Another replica became the writer: this one must not commit any more."""

    code = "orderbook_fenced_out"


async def _conn(session: AsyncSession) -> AsyncConnection:
    return await session.connection()


# ------------------------------------------------------------------ the writer


async def claim_writer(session: AsyncSession, holder: str, now: dt.datetime) -> int:
    """Become the writer: a new epoch, which every later batch must still hold."""
    conn = await _conn(session)
    row = (await conn.execute(select(_WRITER.c.epoch).where(_WRITER.c.id == 1))).first()
    epoch = 1 if row is None else row.epoch + 1
    if row is None:
        await conn.execute(insert(_WRITER).values(id=1, epoch=epoch, holder=holder, since=now))
    else:
        await conn.execute(
            update(_WRITER).where(_WRITER.c.id == 1).values(epoch=epoch, holder=holder, since=now)
        )
    return epoch


# --------------------------------------------------------------------- loading


async def load_markets(session: AsyncSession) -> list[MarketRow]:
    rows = (await _conn(session)).execute(select(_MARKETS).order_by(_MARKETS.c.expiry))
    return [MarketRow(**r._mapping) for r in await rows]


async def insert_market(
    session: AsyncSession, market_id: str, expiry: dt.datetime, now: dt.datetime
) -> MarketRow:
    row = MarketRow(
        market_id=market_id,
        expiry=expiry,
        status=int(MarketStatus.OPEN),
        seq=0,
        next_order_id=1,
        next_trade_id=1,
        created_at=now,
        updated_at=now,
    )
    await (await _conn(session)).execute(insert(_MARKETS).values(**row.model_dump()))
    return row


async def load_market(
    session: AsyncSession, market: MarketRow, house: frozenset[str]
) -> tuple[EngineState, list[Known]]:
    """The engine state of ``market`` as committed, and what the ledger must know."""
    conn = await _conn(session)
    orders = (
        await conn.execute(
            select(_ORDERS)
            .where(_ORDERS.c.market_id == market.market_id, _ORDERS.c.state.in_(_LIVE))
            .order_by(_ORDERS.c.priority)
        )
    ).all()
    accounts = (
        await conn.execute(
            select(_ACCOUNTS)
            .where(_ACCOUNTS.c.market_id == market.market_id)
            .order_by(_ACCOUNTS.c.trader_id)
        )
    ).all()
    views = [order_view(dict(r._mapping)) for r in orders]
    account_views = [account_view(dict(r._mapping), r.trader_id in house) for r in accounts]
    state = EngineState(
        market.market_id,
        market.seq,
        market.next_order_id,
        market.next_trade_id,
        tuple(views),
        tuple(a for a in account_views if not _blank(a)),
    )
    known = [
        Known(v, r.version, r.created_at, r.updated_at) for v, r in zip(views, orders, strict=True)
    ]
    return state, known


def _blank(a: AccountView) -> bool:
    return not (a.declared_sat or a.reserved_sat or a.committed_sat or a.position or a.fees_sat)


# --------------------------------------------------------------------- writing


# A batch's statements are built once: building them is a good part of a small
# batch's CPU, and SQLAlchemy caches their compiled form by structure anyway.
_FENCE = (
    update(_WRITER)
    .where(_WRITER.c.id == 1, _WRITER.c.epoch == bindparam("b_epoch"))
    .values(epoch=bindparam("b_epoch"))
)
_INSERT_ORDERS = insert(_ORDERS)
_UPDATE_ORDERS = (
    update(_ORDERS)
    .where(_ORDERS.c.id == bindparam("b_id"))
    .values({c: bindparam(f"b_{c}") for c in _ORDER_COLUMNS})
)
_INSERT_FILLS = insert(_FILLS)
_INSERT_TRANSITIONS = insert(_TRANSITIONS)
_INSERT_RELEASES = insert(_RELEASES)
_UPDATE_MARKETS = (
    update(_MARKETS)
    .where(_MARKETS.c.market_id == bindparam("b_market_id"))
    .values(
        seq=bindparam("b_seq"),
        next_order_id=bindparam("b_next_order_id"),
        next_trade_id=bindparam("b_next_trade_id"),
        status=bindparam("b_status"),
        updated_at=bindparam("b_updated_at"),
    )
)


async def write_batch(
    session: AsyncSession,
    batch: Batch,
    epoch: int,
    accounts: Sequence[dict[str, Any]],
    markets: Sequence[dict[str, Any]],
) -> None:
    """Everything ``batch`` changed, in the caller's transaction, if ``epoch`` still writes."""
    conn = await _conn(session)
    fenced = await conn.execute(_FENCE, {"b_epoch": epoch})
    if fenced.rowcount != 1:
        raise FencedOut(f"writer epoch {epoch} is no longer current: another replica writes")
    if batch.new_orders:
        await conn.execute(_INSERT_ORDERS, list(batch.new_orders.values()))
    if batch.changed_orders:
        await conn.execute(
            _UPDATE_ORDERS,
            [{f"b_{k}": v for k, v in row.items()} for row in batch.changed_orders.values()],
        )
    if batch.fills:
        await conn.execute(_INSERT_FILLS, batch.fills)
    if batch.transitions:
        await conn.execute(_INSERT_TRANSITIONS, batch.transitions)
    if batch.releases:
        await conn.execute(_INSERT_RELEASES, batch.releases)
    if accounts:
        await conn.execute(_upsert_accounts(conn.dialect.name), list(accounts))
    if markets:
        await conn.execute(_UPDATE_MARKETS, [{f"b_{k}": v for k, v in m.items()} for m in markets])
    if batch.events:
        await enqueue_many(session, batch.events)


@functools.cache
def _upsert_accounts(dialect_name: str) -> Any:
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(_ACCOUNTS)
    changing = ("declared_sat", "reserved_sat", "committed_sat", "position", "fees_sat")
    return stmt.on_conflict_do_update(
        index_elements=["market_id", "trader_id"],
        set_={c: stmt.excluded[c] for c in (*changing, "updated_at")},
    )


# --------------------------------------------------------------------- queries


async def find_client_orders(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Orders already placed under these ``(trader_id, client_order_id)`` pairs."""
    pairs = list(keys)
    if not pairs:
        return {}
    rows = await (await _conn(session)).execute(
        select(_ORDERS).where(tuple_(_ORDERS.c.trader_id, _ORDERS.c.client_order_id).in_(pairs))
    )
    return {(r.trader_id, r.client_order_id): dict(r._mapping) for r in rows}


async def find_releases(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> tuple[dict[str, dict[str, Any]], set[tuple[str, str]]]:
    """For ``(fill id, trader id)`` pairs: the fills that exist, and the pairs released already."""
    pairs = list(keys)
    if not pairs:
        return {}, set()
    conn = await _conn(session)
    fills = await conn.execute(select(_FILLS).where(_FILLS.c.id.in_({f for f, _ in pairs})))
    done = await conn.execute(
        select(_RELEASES.c.fill_id, _RELEASES.c.trader_id).where(
            tuple_(_RELEASES.c.fill_id, _RELEASES.c.trader_id).in_(pairs)
        )
    )
    return {r.id: dict(r._mapping) for r in fills}, {(r.fill_id, r.trader_id) for r in done}


async def get_order_row(session: AsyncSession, market: str, order_id: int) -> dict[str, Any] | None:
    row = (
        await (await _conn(session)).execute(
            select(_ORDERS).where(_ORDERS.c.market_id == market, _ORDERS.c.order_id == order_id)
        )
    ).first()
    return dict(row._mapping) if row else None


async def list_order_rows(
    session: AsyncSession, trader_id: str, market: str | None, open_only: bool, limit: int
) -> list[dict[str, Any]]:
    query = select(_ORDERS).where(_ORDERS.c.trader_id == trader_id)
    if market is not None:
        query = query.where(_ORDERS.c.market_id == market)
    if open_only:
        query = query.where(_ORDERS.c.state.in_(_LIVE))
    query = query.order_by(_ORDERS.c.created_at.desc(), _ORDERS.c.order_id.desc()).limit(limit)
    return [dict(r._mapping) for r in await (await _conn(session)).execute(query)]
