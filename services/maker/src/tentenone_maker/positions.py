"""The maker's inventory: applied from ``trade.matched``, read before each reconcile."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from tentenone.store import utcnow
from tentenone.wire.orderbook import TradeMatched
from tentenone_maker.models import PositionRow

__all__ = ["apply_trade", "position_change", "read_positions"]


def position_change(trade: TradeMatched, trader_id: str) -> int:
    """Contracts ``trader_id`` bought (+) or sold (-) in ``trade``; 0 if not a leg of it."""
    taker = trade.quantity if trade.taker_side == "long" else -trade.quantity
    change = 0
    if trade.taker_trader_id == trader_id:
        change += taker
    if trade.maker_trader_id == trader_id:
        change -= taker
    return change


async def apply_trade(session: AsyncSession, trade: TradeMatched, trader_id: str) -> bool:
    """Add the maker's leg of ``trade`` to its position; False when it was not a leg."""
    if trader_id not in (trade.taker_trader_id, trade.maker_trader_id):
        return False
    change = position_change(trade, trader_id)
    row = await session.get(PositionRow, trade.market, with_for_update=True)
    if row is None:
        row = PositionRow(market=trade.market, position=0, trades=0, updated_at=utcnow())
    row.position += change
    row.trades += 1
    row.updated_at = utcnow()
    session.add(row)
    return True


async def read_positions(session: AsyncSession) -> dict[str, int]:
    rows = await session.exec(select(PositionRow.market, PositionRow.position))
    return {market: position for market, position in rows.all()}
