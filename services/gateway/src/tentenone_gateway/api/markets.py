"""``/markets``: the markets open for trading (one per expiry), as the order book has them."""

from typing import Annotated

from fastapi import APIRouter, Path

from tentenone.errors import NotFound
from tentenone.wire import orderbook as wob
from tentenone.wire.gateway import MarketList, MarketPublic
from tentenone_gateway.api.common import PREFIX, PUBLIC_PROBLEMS, timeout
from tentenone_gateway.openapi import operation_id
from tentenone_gateway.state import State
from tentenone_gateway.upstream import call

__all__ = ["MarketId", "router"]

router = APIRouter(
    prefix=f"{PREFIX}/markets", tags=["markets"], generate_unique_id_function=operation_id
)

MarketId = Annotated[str, Path(pattern=r"^[a-z]{2,16}[0-9]{1,10}$", examples=["btcusd1764316800"])]


async def _open_markets(state: State) -> list[MarketPublic]:
    # The order book opens and closes markets; listing the schedule's expiries
    # here instead offered markets the book did not have yet.
    symbol = state.settings.schedule.symbol
    found = await call(state.ctx, wob.LIST_MARKETS, wob.ListMarketsRequest(), timeout(state))
    return [
        MarketPublic(market=m.market, symbol=symbol, expiry=m.expiry, oracle_event_id=m.market)
        for m in sorted(found.markets, key=lambda m: m.expiry)
        if m.status == "open"
    ]


@router.get("", responses=PUBLIC_PROBLEMS, summary="The markets open for trading, by expiry")
async def list_markets(state: State) -> MarketList:
    markets = await _open_markets(state)
    return MarketList(markets=markets, schedule=state.settings.schedule.spec)


@router.get("/{market}", responses=PUBLIC_PROBLEMS, summary="One market")
async def read_market(state: State, market: MarketId) -> MarketPublic:
    for found in await _open_markets(state):
        if found.market == market:
            return found
    raise NotFound(f"no open market {market!r}", market=market)
