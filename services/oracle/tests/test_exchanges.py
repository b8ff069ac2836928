"""Exchange adapters against a local server replaying recorded responses.

Real exchanges cannot be reached from here (no internet): see conftest.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tentenone.errors import ConfigError
from tentenone_oracle.exchanges import (
    EXCHANGES,
    ExchangeSource,
    make_exchange_source,
)
from tentenone_oracle.prices import PriceSource, SourceFailed

EXPIRY = datetime(2025, 11, 28, 8, 0, tzinfo=UTC)
NOW = datetime(2025, 11, 28, 8, 0, 20, tzinfo=UTC)


@pytest.fixture
async def sources(exchange_replay: Any) -> AsyncIterator[dict[str, ExchangeSource]]:
    made = {
        name: make_exchange_source(name, exchange_replay.url, clock=lambda: NOW, timeout_s=2)
        for name in EXCHANGES
    }
    yield made
    for source in made.values():
        await source.aclose()


async def test_latest_from_each_recorded_ticker(sources: dict[str, ExchangeSource]) -> None:
    quotes = {name: await s.latest() for name, s in sources.items()}
    assert quotes["bitstamp"].price == Decimal("91234")
    assert quotes["bitstamp"].observed_at == datetime(2025, 11, 28, 8, 0, 15, tzinfo=UTC)
    assert quotes["kraken"].price == Decimal("91236.10000")
    assert quotes["kraken"].observed_at == NOW  # Kraken's ticker has no time
    assert quotes["coinbase"].price == Decimal("91237.00")
    assert quotes["coinbase"].observed_at == datetime(2025, 11, 28, 8, 0, 14, 318234, tzinfo=UTC)
    for name, quote in quotes.items():
        assert quote.source == name
        assert isinstance(sources[name], PriceSource)


async def test_price_at_is_the_open_of_the_minute_candle(
    sources: dict[str, ExchangeSource], exchange_replay: Any
) -> None:
    quotes = {name: await s.price_at(EXPIRY) for name, s in sources.items()}
    assert {n: q.price for n, q in quotes.items()} == {
        "bitstamp": Decimal("91208"),
        "kraken": Decimal("91211.5"),
        "coinbase": Decimal("91210.00"),
    }
    assert all(q.observed_at == EXPIRY for q in quotes.values())
    asked = dict(exchange_replay.requests)
    assert asked["/api/v2/ohlc/btcusd/"] == {"step": "60", "limit": "1", "start": "1764316800"}
    assert asked["/0/public/OHLC"] == {"pair": "XBTUSD", "interval": "1", "since": "1764316740"}
    assert asked["/products/BTC-USD/candles"] == {
        "granularity": "60",
        "start": "2025-11-28T08:00:00Z",
        "end": "2025-11-28T08:01:00Z",
    }


async def test_no_candle_for_the_minute(sources: dict[str, ExchangeSource]) -> None:
    later = datetime(2025, 11, 28, 9, 0, tzinfo=UTC)
    for source in sources.values():
        with pytest.raises(SourceFailed, match="no candle starts at 2025-11-28T09:00"):
            await source.price_at(later)


@pytest.mark.parametrize(
    ("path", "body", "status", "match"),
    [
        ("/api/v2/ticker/btcusd/", "{}", 200, "no field last"),
        ("/api/v2/ticker/btcusd/", '{"last": "abc", "timestamp": "1"}', 200, "not a number"),
        ("/api/v2/ticker/btcusd/", '{"last": true, "timestamp": "1"}', 200, "expected a number"),
        ("/api/v2/ticker/btcusd/", '{"last": "1", "timestamp": "-5"}', 200, "not a Unix time"),
        ("/api/v2/ticker/btcusd/", "<html>busy</html>", 200, "malformed JSON"),
        ("/api/v2/ticker/btcusd/", '{"error": "x"}', 503, "HTTP 503"),
        ("/0/public/Ticker", '{"error": ["EGeneral:Too many requests"]}', 200, "Too many"),
        ("/0/public/Ticker", '{"error": [], "result": {}}', 200, "expected one pair"),
        ("/0/public/Ticker", '{"error": [], "result": []}', 200, "not an object"),
        ("/products/BTC-USD/ticker", '{"price": "1", "time": "yesterday"}', 200, "ISO 8601"),
        (
            "/products/BTC-USD/ticker",
            '{"price": "1", "time": "2025-11-28T08:00:00"}',
            200,
            "no time zone",
        ),
    ],
)
async def test_malformed_answers_are_source_failures(
    sources: dict[str, ExchangeSource],
    exchange_replay: Any,
    path: str,
    body: str,
    status: int,
    match: str,
) -> None:
    exchange_replay.answer(path, body, status)
    name = {"/api": "bitstamp", "/0/p": "kraken", "/pro": "coinbase"}[
        next(k for k in ("/api", "/0/p", "/pro") if path.startswith(k))
    ]
    with pytest.raises(SourceFailed, match=match) as info:
        await sources[name].latest()
    assert info.value.message.startswith(f"{name}: ")


async def test_unreachable_source_is_a_source_failure() -> None:
    # Port 9 (discard) on loopback: nothing listens there on the test machines.
    source = make_exchange_source("bitstamp", "http://127.0.0.1:9", timeout_s=1)
    with pytest.raises(SourceFailed, match=r"request to .* failed"):
        await source.latest()
    await source.aclose()


async def test_decimal_prices_keep_every_digit(
    sources: dict[str, ExchangeSource], exchange_replay: Any
) -> None:
    # A JSON number with more digits than a binary float holds.
    exchange_replay.answer(
        "/products/BTC-USD/candles", "[[1764316800, 1, 2, 91210.123456789012345, 3, 4]]"
    )
    quote = await sources["coinbase"].price_at(EXPIRY)
    assert quote.price == Decimal("91210.123456789012345")


def test_unknown_exchange_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown exchange 'mtgox'"):
        make_exchange_source("mtgox")
