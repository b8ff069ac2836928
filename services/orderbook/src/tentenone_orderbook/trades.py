"""Queries of the recorded fills: a market's recent trades, a trader's own fills.

Read from the ``fills`` table, which the sequencer writes in the same
transaction as each ``trade.matched`` event, so what these answer is what was
published.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from tentenone.wire import orderbook as wire
from tentenone_orderbook.models import FillRow

__all__ = ["list_fills", "list_trades"]

_FILLS: Table = FillRow.__table__  # type: ignore[attr-defined]
_NEWEST = (_FILLS.c.created_at.desc(), _FILLS.c.trade_id.desc())


async def _rows(session: AsyncSession, query: Any) -> list[dict[str, Any]]:
    conn = await session.connection()
    return [dict(r._mapping) for r in await conn.execute(query)]


async def list_trades(session: AsyncSession, req: wire.ListTradesRequest) -> wire.TradeList:
    query = select(_FILLS).where(_FILLS.c.market_id == req.market).order_by(*_NEWEST)
    rows = await _rows(session, query.limit(req.limit))
    return wire.TradeList(
        trades=[
            wire.TradePublic(
                trade_id=r["id"],
                market=r["market_id"],
                price=r["price"],
                quantity=r["quantity"],
                taker_side=r["taker_side"],
                created_at=r["created_at"],
            )
            for r in rows
        ]
    )


def _fill(row: dict[str, Any], trader_id: str) -> wire.TraderFill:
    # A trader crossing its own resting order is prevented (self-trade), so one side is theirs.
    taker = row["taker_trader_id"] == trader_id
    role = "taker" if taker else "maker"
    side = row["taker_side"]
    if not taker:
        side = "sell" if side == "buy" else "buy"
    return wire.TraderFill(
        trade_id=row["id"],
        market=row["market_id"],
        order_id=row[f"{role}_order_id"],
        side=side,
        price=row["price"],
        quantity=row["quantity"],
        liquidity=role,
        fee_sat=row[f"{role}_fee_sat"],
        margin_sat=row[f"{role}_margin_sat"],
        created_at=row["created_at"],
    )


async def list_fills(session: AsyncSession, req: wire.ListFillsRequest) -> wire.FillList:
    mine = or_(_FILLS.c.taker_trader_id == req.trader_id, _FILLS.c.maker_trader_id == req.trader_id)
    query = select(_FILLS).where(mine)
    if req.market is not None:
        query = query.where(_FILLS.c.market_id == req.market)
    rows = await _rows(session, query.order_by(*_NEWEST).limit(req.limit))
    return wire.FillList(fills=[_fill(r, req.trader_id) for r in rows])
