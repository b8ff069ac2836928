"""Public market data from the coordinator's gateway: markets, index price, book, trades.

Read-only, no session needed. Errors come back as the gateway's problem+json
with a ``code`` from ``tentenone.errors``; they are raised here as the same
family so the screens show one kind of error whatever its source. A route
the gateway does not serve (404 on the path itself) is reported as
:class:`NotServed`, so a screen says what is missing instead of failing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from pydantic import ValidationError

from tentenone.errors import (
    NotFound,
    ProtocolError,
    TentenoneError,
    Unavailable,
    error_class_for_code,
)
from tentenone.wire.gateway import IndexPricePublic, MarketList

__all__ = ["Book", "Level", "Market", "MarketData", "NotServed", "Trade"]

_API = "/api/v1"


class NotServed(NotFound):
    """The gateway has no such route (an older or partial deployment)."""

    code = "not_served"


@dataclass(frozen=True, slots=True)
class Market:
    market: str
    symbol: str
    expiry: dt.datetime


@dataclass(frozen=True, slots=True)
class Level:
    price: Decimal
    quantity: int


@dataclass(frozen=True, slots=True)
class Book:
    market: str
    bids: list[Level]
    asks: list[Level]

    @property
    def two_sided(self) -> bool:
        return bool(self.bids) and bool(self.asks)

    @property
    def spread(self) -> Decimal | None:
        return self.asks[0].price - self.bids[0].price if self.two_sided else None


@dataclass(frozen=True, slots=True)
class Trade:
    price: Decimal
    quantity: int
    side: str
    at: dt.datetime | None


class MarketData:
    def __init__(
        self,
        gateway_url: str,
        *,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.gateway_url = gateway_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.gateway_url, timeout=timeout_s, transport=transport
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def markets(self) -> list[Market]:
        body = _parse(MarketList, await self._get("/markets"))
        return [Market(m.market, m.symbol, m.expiry) for m in body.markets]

    async def index_price(self) -> Decimal:
        return _parse(IndexPricePublic, await self._get("/index-price")).price

    async def book(self, market: str) -> Book:
        body = await self._get(f"/markets/{market}/book")
        try:
            return Book(market, _levels(body.get("bids")), _levels(body.get("asks")))
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise ProtocolError(f"the gateway's book of {market} is malformed: {exc}") from exc

    async def trades(self, market: str) -> list[Trade]:
        body = await self._get(f"/markets/{market}/trades")
        try:
            return [_trade(t) for t in body.get("trades", [])]
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise ProtocolError(f"the gateway's trades of {market} are malformed: {exc}") from exc

    async def _get(self, path: str) -> dict[str, Any]:
        try:
            reply = await self._http.get(_API + path)
        except httpx.TimeoutException:
            raise Unavailable(f"the gateway at {self.gateway_url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"the gateway at {self.gateway_url} cannot be reached: {exc}"
            ) from None
        if reply.is_success:
            body = reply.json()
            if not isinstance(body, dict):
                raise ProtocolError(f"the gateway sent a {type(body).__name__} for {path}")
            return body
        raise _problem(reply, path)


def _parse[M: (MarketList, IndexPricePublic)](model: type[M], body: dict[str, Any]) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ProtocolError(f"the gateway's {model.__name__} does not parse: {exc}") from None


def _levels(raw: Any) -> list[Level]:
    return [Level(Decimal(str(level["price"])), int(level["quantity"])) for level in raw or []]


def _trade(raw: dict[str, Any]) -> Trade:
    at = raw.get("at") or raw.get("executed_at")
    return Trade(
        price=Decimal(str(raw["price"])),
        quantity=int(raw["quantity"]),
        side=str(raw.get("side", "")),
        at=dt.datetime.fromisoformat(at) if isinstance(at, str) else None,
    )


def _problem(reply: httpx.Response, path: str) -> TentenoneError:
    try:
        body = reply.json()
    except ValueError:
        body = {}
    code = body.get("code") if isinstance(body, dict) else None
    detail = body.get("detail") if isinstance(body, dict) else None
    # The gateway answers an unknown route "no route <path>"; a bare FastAPI "Not Found".
    if reply.status_code == 404 and str(detail).startswith(("no route", "Not Found")):
        return NotServed(f"this gateway does not serve {_API}{path}")
    cls = error_class_for_code(code) if isinstance(code, str) else None
    message = str(detail or f"the gateway answered {reply.status_code} for {path}")
    if cls is None:
        return Unavailable(message) if reply.status_code >= 500 else TentenoneError(message)
    return cls(message)
