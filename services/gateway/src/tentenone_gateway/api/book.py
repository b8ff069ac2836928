"""``/markets/{market}/book`` and ``/markets/{market}/trades``: public market data.

Both read the order book service (its engine for the book, its recorded
fills for the trades); the WebSocket channels ``book:<market>`` and
``trades:<market>`` carry what changes after.
"""

from typing import Annotated

from fastapi import APIRouter, Query

from tentenone.wire import orderbook as wob
from tentenone.wire.gateway import BookPublic, MarketTradeList, MarketTradePublic
from tentenone_gateway.api.common import PREFIX, PUBLIC_PROBLEMS, timeout
from tentenone_gateway.api.markets import MarketId
from tentenone_gateway.openapi import operation_id
from tentenone_gateway.state import State
from tentenone_gateway.upstream import call

__all__ = ["router"]

router = APIRouter(
    prefix=f"{PREFIX}/markets",
    tags=["markets"],
    responses=PUBLIC_PROBLEMS,
    generate_unique_id_function=operation_id,
)


@router.get("/{market}/book", summary="The book's top levels per side, best first")
async def read_book(
    state: State,
    market: MarketId,
    depth: Annotated[int, Query(ge=1, le=500, description="levels per side")] = 20,
) -> BookPublic:
    request = wob.BookRequest(market=market, depth=depth)
    return BookPublic.of(await call(state.ctx, wob.GET_BOOK, request, timeout(state)))


@router.get("/{market}/trades", summary="The market's recent trades, newest first")
async def list_trades(
    state: State, market: MarketId, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> MarketTradeList:
    request = wob.ListTradesRequest(market=market, limit=limit)
    found = await call(state.ctx, wob.LIST_TRADES, request, timeout(state))
    return MarketTradeList(trades=[MarketTradePublic.of(t) for t in found.trades])
