"""Index price rules (median, staleness, outliers, range) over real HTTP sources.

The sources are the exchange adapters pointed at the local replay server
(real exchanges cannot be reached from here: see conftest.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tentenone.errors import InvalidInput
from tentenone_oracle.aggregation import (
    PRICE_AGE,
    PRICE_REJECTED,
    AggregationRules,
    IndexPriceFeed,
    NoIndexPrice,
    RejectReason,
    median,
)
from tentenone_oracle.exchanges import EXCHANGES, make_exchange_source
from tentenone_oracle.simulated import SimulatedFeed

EXPIRY = datetime(2025, 11, 28, 8, 0, tzinfo=UTC)
NOW = datetime(2025, 11, 28, 8, 0, 20, tzinfo=UTC)


def _rejected(source: str, reason: str) -> float:
    return PRICE_REJECTED.labels(source, reason)._value.get()


@pytest.fixture
async def feed(exchange_replay: Any) -> AsyncIterator[IndexPriceFeed]:
    sources = [
        make_exchange_source(n, exchange_replay.url, clock=lambda: NOW, timeout_s=2)
        for n in EXCHANGES
    ]
    index = IndexPriceFeed(sources, AggregationRules(source_timeout_s=1.0), clock=lambda: NOW)
    yield index
    await index.aclose()


async def test_latest_is_the_median(feed: IndexPriceFeed) -> None:
    index = await feed.latest()
    assert index.price == Decimal("91236.10000")
    assert {q.source for q in index.quotes} == set(EXCHANGES)
    assert index.rejected == ()
    assert index.at == NOW


async def test_price_at_expiry_is_the_median_of_candle_opens(feed: IndexPriceFeed) -> None:
    index = await feed.price_at(EXPIRY)
    assert index.price == Decimal("91210.00")
    assert index.at == EXPIRY


async def test_out_of_range_quote_rejected_and_counted(
    feed: IndexPriceFeed, exchange_replay: Any
) -> None:
    before = _rejected("bitstamp", "out_of_range")
    ticker = json.loads(exchange_replay.recorded("bitstamp_ticker.json"))
    ticker["last"] = "0"
    exchange_replay.answer("/api/v2/ticker/btcusd/", json.dumps(ticker))
    index = await feed.latest()
    # Two sources are still enough: the median of the other two.
    assert index.price == (Decimal("91236.10000") + Decimal("91237.00")) / 2
    [rejection] = index.rejected
    assert (rejection.source, rejection.reason) == ("bitstamp", RejectReason.OUT_OF_RANGE)
    assert "outside the plausible band" in rejection.detail
    assert _rejected("bitstamp", "out_of_range") == before + 1


async def test_too_few_sources_left_is_no_index_price(
    feed: IndexPriceFeed, exchange_replay: Any
) -> None:
    exchange_replay.answer("/api/v2/ticker/btcusd/", '{"last": "25000000", "timestamp": "1"}')
    exchange_replay.answer("/0/public/Ticker", "", status=502)
    with pytest.raises(NoIndexPrice) as info:
        await feed.latest()
    message = info.value.message
    assert "1 usable quote(s)" in message and "2 needed" in message
    assert "bitstamp: out_of_range" in message
    assert "kraken: unavailable" in message
    assert {"source": "kraken", "reason": "unavailable"} in info.value.details["rejected"]


async def test_stale_ticker_rejected(feed: IndexPriceFeed, exchange_replay: Any) -> None:
    exchange_replay.answer("/api/v2/ticker/btcusd/", '{"last": "91234", "timestamp": "1764316000"}')
    index = await feed.latest()
    [rejection] = index.rejected
    assert (rejection.source, rejection.reason) == ("bitstamp", RejectReason.STALE)
    # The staleness gauge shows how old the source's quote is.
    expected_age = (NOW - datetime.fromtimestamp(1764316000, UTC)).total_seconds()
    assert PRICE_AGE.labels("bitstamp")._value.get() == expected_age
    assert PRICE_AGE.labels("kraken")._value.get() == 0.0


async def test_future_dated_ticker_rejected(feed: IndexPriceFeed, exchange_replay: Any) -> None:
    exchange_replay.answer("/api/v2/ticker/btcusd/", '{"last": "91234", "timestamp": "1764317000"}')
    index = await feed.latest()
    assert [r.reason for r in index.rejected] == [RejectReason.STALE]


async def test_outlier_rejected(feed: IndexPriceFeed, exchange_replay: Any) -> None:
    before = _rejected("coinbase", "outlier")
    exchange_replay.answer(
        "/products/BTC-USD/ticker", '{"price": "95000", "time": "2025-11-28T08:00:14Z"}'
    )
    index = await feed.latest()
    assert index.price == (Decimal("91234") + Decimal("91236.10000")) / 2
    [rejection] = index.rejected
    assert (rejection.source, rejection.reason) == ("coinbase", RejectReason.OUTLIER)
    assert _rejected("coinbase", "outlier") == before + 1


async def test_slow_source_times_out(feed: IndexPriceFeed, exchange_replay: Any) -> None:
    body = exchange_replay.recorded("kraken_ticker.json")
    exchange_replay.answer("/0/public/Ticker", body, delay_s=3)
    index = await feed.latest()
    [rejection] = index.rejected
    assert (rejection.source, rejection.reason) == ("kraken", RejectReason.UNAVAILABLE)
    assert "no answer within 1.0 s" in rejection.detail


async def test_candle_far_from_the_expiry_is_stale(exchange_replay: Any) -> None:
    source = make_exchange_source("bitstamp", exchange_replay.url)
    feed = IndexPriceFeed([source], AggregationRules(min_sources=1, max_skew=timedelta(seconds=30)))
    index = await feed.price_at(EXPIRY + timedelta(seconds=30))  # same minute's candle
    assert index.price == Decimal("91208")
    await feed.aclose()
    source = make_exchange_source("bitstamp", exchange_replay.url)
    feed = IndexPriceFeed([source], AggregationRules(min_sources=1, max_skew=timedelta(seconds=30)))
    with pytest.raises(NoIndexPrice, match="stale"):
        await feed.price_at(EXPIRY + timedelta(seconds=30, microseconds=1))
    await feed.aclose()


async def test_simulated_feed_alone() -> None:
    sim = SimulatedFeed(seed=3, clock=lambda: NOW)
    feed = IndexPriceFeed([sim], AggregationRules(min_sources=1), clock=lambda: NOW)
    assert (await feed.price_at(EXPIRY)).price == sim.price_of(EXPIRY)
    assert (await feed.latest()).price == sim.price_of(NOW)


def test_bad_rules_and_setups() -> None:
    sim = SimulatedFeed()
    with pytest.raises(InvalidInput, match="min_sources"):
        AggregationRules(min_sources=0)
    with pytest.raises(InvalidInput, match="min_price"):
        AggregationRules(min_price=Decimal(0))
    with pytest.raises(InvalidInput, match="max_deviation"):
        AggregationRules(max_deviation=Decimal(1))
    with pytest.raises(InvalidInput, match="at least one source"):
        IndexPriceFeed([])
    with pytest.raises(InvalidInput, match="unique"):
        IndexPriceFeed([sim, SimulatedFeed()], AggregationRules(min_sources=1))
    with pytest.raises(InvalidInput, match="min_sources=2 but only 1"):
        IndexPriceFeed([sim])
    with pytest.raises(InvalidInput, match="median of no values"):
        median([])


@given(st.lists(st.decimals(1, 10**6, places=2), min_size=1, max_size=9))
def test_median_splits_the_values(values: list[Decimal]) -> None:
    m = median(values)
    assert sum(v < m for v in values) <= len(values) // 2
    assert sum(v > m for v in values) <= len(values) // 2
    assert min(values) <= m <= max(values)
