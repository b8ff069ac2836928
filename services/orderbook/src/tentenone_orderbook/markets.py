"""Markets: one per expiry of the schedule, open from a few expiries ahead until trading ends.

A market's id is the oracle event id of its expiry (``btcusd1764316800``),
which the DLC service settles against. Trading in a market ends
``close_before_s`` before its expiry; then its resting orders are cancelled
and it takes no more orders.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import timedelta

from tentenone.errors import ConflictError, NotFound
from tentenone_orderbook.errors import OrderbookError
from tentenone_orderbook.matching import MatchingEngine
from tentenone_orderbook.models import MarketStatus
from tentenone_orderbook.settings import OrderbookSettings

__all__ = ["Market", "MarketClosed", "Markets", "UnknownMarket"]


class UnknownMarket(OrderbookError, NotFound):
    code = "unknown_market"


class MarketClosed(OrderbookError, ConflictError):
    """The market's expiry came (or is too near): it takes no more orders."""

    code = "market_closed"


@dataclass
class Market:
    market_id: str
    expiry: dt.datetime
    status: MarketStatus
    engine: MatchingEngine
    trading_until: dt.datetime


class Markets:
    """The markets this writer serves, their engines, and which to open or close when."""

    def __init__(self, settings: OrderbookSettings) -> None:
        self._settings = settings
        self._schedule = settings.schedule()
        self._close_before = timedelta(seconds=settings.close_before_s)
        self._by_id: dict[str, Market] = {}

    def __iter__(self) -> object:
        return iter(self._by_id.values())

    def all(self) -> list[Market]:
        return sorted(self._by_id.values(), key=lambda m: m.expiry)

    def clear(self) -> None:
        self._by_id.clear()

    def add(
        self, market_id: str, expiry: dt.datetime, status: MarketStatus, engine: MatchingEngine
    ) -> Market:
        market = Market(market_id, expiry, status, engine, expiry - self._close_before)
        self._by_id[market_id] = market
        return market

    def open_for_trading(self, market_id: object) -> Market:
        """The open market ``market_id``, or the reason it cannot trade."""
        market = self._by_id.get(market_id) if isinstance(market_id, str) else None
        if market is None:
            raise UnknownMarket(
                f"no market {market_id!r}; markets are named by their expiry's event id",
                market=str(market_id)[:64],
            )
        if market.status is not MarketStatus.OPEN:
            raise MarketClosed(
                f"market {market_id} closed at {market.trading_until.isoformat()}",
                market=market.market_id,
            )
        return market

    def get(self, market_id: object) -> Market:
        market = self._by_id.get(market_id) if isinstance(market_id, str) else None
        if market is None:
            raise UnknownMarket(f"no market {market_id!r}", market=str(market_id)[:64])
        return market

    def to_open(self, now: dt.datetime) -> list[tuple[str, dt.datetime]]:
        """Expiries that should be tradable now and have no market yet."""
        ahead = self._schedule.upcoming(now, self._settings.markets_ahead, self._close_before)
        out = []
        for expiry in ahead:
            market_id = self._schedule.event_id(expiry)
            if market_id not in self._by_id:
                out.append((market_id, expiry))
        return out

    def to_close(self, now: dt.datetime) -> list[Market]:
        return [
            m
            for m in self._by_id.values()
            if m.status is MarketStatus.OPEN and m.trading_until <= now
        ]
