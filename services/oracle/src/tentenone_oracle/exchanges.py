"""Price sources backed by exchanges' public REST APIs (no keys needed).

Each adapter reads two endpoints: the ticker (``latest``) and one-minute
candles (``price_at``: the open of the candle starting at the requested
minute, i.e. the first trade price at or after it). Expiries fall on whole
minutes, so for an expiry this is the price at the expiry.

Adapters trust nothing in a response: a missing field, a wrong type, a
non-numeric price or an HTTP error becomes ``SourceFailed`` with a message
naming the source and what was wrong. Plausibility (range, staleness,
outliers) is judged by the aggregation, not here.

Base URLs are settings, so tests point the adapters at a local server that
replays recorded responses, and operators can use a proxy.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import httpx

from tentenone.errors import ConfigError
from tentenone_oracle.clock import Clock, utc_now
from tentenone_oracle.prices import PriceQuote, SourceFailed

__all__ = [
    "EXCHANGES",
    "BitstampSource",
    "CoinbaseSource",
    "ExchangeSource",
    "KrakenSource",
    "make_exchange_source",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_BODY = 1 << 20


class ExchangeSource(ABC):
    """Common HTTP plumbing; a subclass names its endpoints and parses their bodies."""

    default_base_url: ClassVar[str]
    source_name: ClassVar[str]

    def __init__(
        self,
        base_url: str | None = None,
        *,
        clock: Clock = utc_now,
        timeout_s: float = 5.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._base_url = (base_url or self.default_base_url).rstrip("/")
        self._clock = clock
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout_s)

    @property
    def name(self) -> str:
        return self.source_name

    async def latest(self) -> PriceQuote:
        body = await self._get_json(*self._ticker_request())
        price, observed_at = self._parse_ticker(body)
        return PriceQuote(self.name, price, observed_at)

    async def price_at(self, when: datetime) -> PriceQuote:
        minute = _floor_minute(when)
        body = await self._get_json(*self._candles_request(minute))
        return PriceQuote(self.name, self._parse_candle_open(body, minute), minute)

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    @abstractmethod
    def _ticker_request(self) -> tuple[str, dict[str, str]]: ...

    @abstractmethod
    def _parse_ticker(self, body: Any) -> tuple[Decimal, datetime]: ...

    @abstractmethod
    def _candles_request(self, minute: datetime) -> tuple[str, dict[str, str]]: ...

    @abstractmethod
    def _parse_candle_open(self, body: Any, minute: datetime) -> Decimal: ...

    async def _get_json(self, path: str, params: dict[str, str]) -> Any:
        url = f"{self._base_url}{path}"
        try:
            response = await self._client.get(url, params=params)
        except httpx.HTTPError as exc:
            raise SourceFailed(f"{self.name}: request to {url} failed: {exc!r}") from exc
        if response.status_code != 200:
            raise SourceFailed(
                f"{self.name}: {url} answered HTTP {response.status_code}",
                status=response.status_code,
            )
        if len(response.content) > _MAX_BODY:
            raise SourceFailed(f"{self.name}: {url} answered {len(response.content)} bytes")
        try:
            # Prices as Decimal straight from the text: no binary float on the way.
            return json.loads(response.content, parse_float=Decimal)
        except ValueError as exc:
            raise SourceFailed(f"{self.name}: {url} answered malformed JSON: {exc}") from exc

    def _fail(self, what: str) -> SourceFailed:
        return SourceFailed(f"{self.name}: {what}")

    def _field(self, body: Any, *keys: str | int) -> Any:
        value = body
        for key in keys:
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError):
                path = "/".join(str(k) for k in keys)
                raise self._fail(f"response has no field {path}") from None
        return value

    def _decimal(self, value: Any, what: str) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise self._fail(f"{what} is {type(value).__name__}, expected a number")
        try:
            return Decimal(value)
        except InvalidOperation:
            raise self._fail(f"{what} {str(value)[:40]!r} is not a number") from None

    def _unix(self, value: Any, what: str) -> datetime:
        number = self._decimal(value, what)
        if not number.is_finite() or number < 0 or number > 2**33:
            raise self._fail(f"{what} {number} is not a Unix time")
        return _EPOCH + timedelta(seconds=int(number))


class BitstampSource(ExchangeSource):
    """Bitstamp: ``/api/v2/ticker/{pair}/`` and ``/api/v2/ohlc/{pair}/``."""

    default_base_url = "https://www.bitstamp.net"
    source_name = "bitstamp"
    pair = "btcusd"

    def _ticker_request(self) -> tuple[str, dict[str, str]]:
        return f"/api/v2/ticker/{self.pair}/", {}

    def _parse_ticker(self, body: Any) -> tuple[Decimal, datetime]:
        price = self._decimal(self._field(body, "last"), "last")
        return price, self._unix(self._field(body, "timestamp"), "timestamp")

    def _candles_request(self, minute: datetime) -> tuple[str, dict[str, str]]:
        start = str(_unix_seconds(minute))
        return f"/api/v2/ohlc/{self.pair}/", {"step": "60", "limit": "1", "start": start}

    def _parse_candle_open(self, body: Any, minute: datetime) -> Decimal:
        candles = self._field(body, "data", "ohlc")
        if not isinstance(candles, list):
            raise self._fail("data/ohlc is not a list")
        for candle in candles:
            if self._unix(self._field(candle, "timestamp"), "candle timestamp") == minute:
                return self._decimal(self._field(candle, "open"), "candle open")
        raise self._fail(f"no candle starts at {minute.isoformat()}")


class KrakenSource(ExchangeSource):
    """Kraken: ``/0/public/Ticker`` and ``/0/public/OHLC`` (the last 720 minutes only)."""

    default_base_url = "https://api.kraken.com"
    source_name = "kraken"
    pair = "XBTUSD"

    def _ticker_request(self) -> tuple[str, dict[str, str]]:
        return "/0/public/Ticker", {"pair": self.pair}

    def _parse_ticker(self, body: Any) -> tuple[Decimal, datetime]:
        ticker = self._single_result(body)
        price = self._decimal(self._field(ticker, "c", 0), "last trade c[0]")
        # Kraken's ticker carries no time: the quote is as fresh as our request.
        return price, self._clock()

    def _candles_request(self, minute: datetime) -> tuple[str, dict[str, str]]:
        # ``since`` is exclusive: ask from the minute before to include ``minute``.
        since = str(_unix_seconds(minute) - 60)
        return "/0/public/OHLC", {"pair": self.pair, "interval": "1", "since": since}

    def _parse_candle_open(self, body: Any, minute: datetime) -> Decimal:
        candles = self._single_result(body)
        if not isinstance(candles, list):
            raise self._fail("OHLC result is not a list")
        for candle in candles:
            if self._unix(self._field(candle, 0), "candle time") == minute:
                return self._decimal(self._field(candle, 1), "candle open")
        raise self._fail(f"no candle starts at {minute.isoformat()}")

    def _single_result(self, body: Any) -> Any:
        errors = self._field(body, "error")
        if errors:
            raise self._fail(f"error {str(errors)[:200]}")
        result = self._field(body, "result")
        if not isinstance(result, dict):
            raise self._fail("result is not an object")
        # The pair's key is Kraken's own name for it (XXBTZUSD); "last" is a cursor.
        keys = [k for k in result if k != "last"]
        if len(keys) != 1:
            raise self._fail(f"expected one pair in result, got {keys[:5]}")
        return result[keys[0]]


class CoinbaseSource(ExchangeSource):
    """Coinbase Exchange: ``/products/{id}/ticker`` and ``/products/{id}/candles``."""

    default_base_url = "https://api.exchange.coinbase.com"
    source_name = "coinbase"
    product = "BTC-USD"

    def _ticker_request(self) -> tuple[str, dict[str, str]]:
        return f"/products/{self.product}/ticker", {}

    def _parse_ticker(self, body: Any) -> tuple[Decimal, datetime]:
        price = self._decimal(self._field(body, "price"), "price")
        stamp = self._field(body, "time")
        if not isinstance(stamp, str):
            raise self._fail("time is not a string")
        try:
            observed = datetime.fromisoformat(stamp)
        except ValueError:
            raise self._fail(f"time {stamp[:40]!r} is not ISO 8601") from None
        if observed.tzinfo is None:
            raise self._fail(f"time {stamp!r} has no time zone")
        return price, observed

    def _candles_request(self, minute: datetime) -> tuple[str, dict[str, str]]:
        start = minute.strftime("%Y-%m-%dT%H:%M:%SZ")
        end = (minute + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"/products/{self.product}/candles", {
            "granularity": "60",
            "start": start,
            "end": end,
        }

    def _parse_candle_open(self, body: Any, minute: datetime) -> Decimal:
        if not isinstance(body, list):
            raise self._fail("candles response is not a list")
        # Each candle: [time, low, high, open, close, volume], newest first.
        for candle in body:
            if self._unix(self._field(candle, 0), "candle time") == minute:
                return self._decimal(self._field(candle, 3), "candle open")
        raise self._fail(f"no candle starts at {minute.isoformat()}")


EXCHANGES: dict[str, type[ExchangeSource]] = {
    cls.source_name: cls for cls in (BitstampSource, KrakenSource, CoinbaseSource)
}


def make_exchange_source(
    name: str, base_url: str | None = None, *, clock: Clock = utc_now, timeout_s: float = 5.0
) -> ExchangeSource:
    try:
        cls = EXCHANGES[name]
    except KeyError:
        raise ConfigError(f"unknown exchange {name!r}; known: {sorted(EXCHANGES)}") from None
    return cls(base_url, clock=clock, timeout_s=timeout_s)


def _floor_minute(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise SourceFailed(f"datetime {when.isoformat()} has no time zone; use UTC")
    return when.astimezone(UTC).replace(second=0, microsecond=0)


def _unix_seconds(when: datetime) -> int:
    return int((when - _EPOCH) // timedelta(seconds=1))
