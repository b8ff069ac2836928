from __future__ import annotations

import itertools
import math
import statistics
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tentenone.errors import InvalidInput
from tentenone_oracle.prices import PriceSource, SourceFailed
from tentenone_oracle.simulated import DEFAULT_ORIGIN, SimulatedFeed

T0 = datetime(2025, 11, 28, 8, 0, tzinfo=UTC)
SECOND_SIGMA = 0.6 / math.sqrt(365.25 * 86400)


def test_reproducible_whatever_the_query_order() -> None:
    times = [T0 + timedelta(seconds=s) for s in (0, 7, 3600, -86400, 1, 10**6)]
    a = SimulatedFeed(seed=42)
    forward = [a.price_of(t) for t in times]
    b = SimulatedFeed(seed=42)
    backward = [b.price_of(t) for t in reversed(times)]
    assert forward == list(reversed(backward))
    assert forward != [SimulatedFeed(seed=43).price_of(t) for t in times]


def test_starts_at_the_start_price() -> None:
    feed = SimulatedFeed(seed=5, start_price=Decimal(50_000))
    assert feed.price_of(DEFAULT_ORIGIN) == Decimal("50000.00")


def test_moves_like_the_configured_volatility() -> None:
    feed = SimulatedFeed(seed=9)
    prices = [float(feed.price_of(T0 + timedelta(seconds=60 * i))) for i in range(401)]
    returns = [math.log(b / a) for a, b in itertools.pairwise(prices)]
    expected = SECOND_SIGMA * math.sqrt(60)
    assert 0.8 * expected < statistics.stdev(returns) < 1.2 * expected


def test_speedup_makes_time_run_faster() -> None:
    slow = SimulatedFeed(seed=9)
    fast = SimulatedFeed(seed=9, speedup=60)
    # One wall second at 60x is one simulated minute.
    for i in range(5):
        wall = DEFAULT_ORIGIN + timedelta(seconds=i)
        assert fast.price_of(wall) == slow.price_of(DEFAULT_ORIGIN + timedelta(minutes=i))


@settings(max_examples=50)
@given(st.integers(0, 10**9), st.integers(-(10**9), 10**9))
def test_always_inside_the_band(seed: int, seconds: int) -> None:
    feed = SimulatedFeed(
        seed=seed,
        start_price=Decimal(60_000),
        band=(Decimal(20_000), Decimal(200_000)),
        speedup=1000,
    )
    price = feed.price_of(DEFAULT_ORIGIN + timedelta(seconds=seconds))
    assert Decimal(20_000) <= price <= Decimal(200_000)


def test_beyond_the_horizon_is_a_source_failure() -> None:
    feed = SimulatedFeed(speedup=10**6)
    with pytest.raises(SourceFailed, match="horizon"):
        feed.price_of(DEFAULT_ORIGIN + timedelta(days=365 * 5))


async def test_a_price_source() -> None:
    feed = SimulatedFeed(seed=1, clock=lambda: T0)
    assert isinstance(feed, PriceSource)
    latest = await feed.latest()
    assert (latest.source, latest.price, latest.observed_at) == ("simulated", feed.price_of(T0), T0)
    at = await feed.price_at(T0 - timedelta(hours=1))
    assert at.observed_at == T0 - timedelta(hours=1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"start_price": Decimal(5)}, "band low < start price"),
        ({"band": (Decimal(0), Decimal(10**6))}, "0 < band low"),
        ({"speedup": 0.0}, "speedup"),
        ({"speedup": math.inf}, "speedup"),
        ({"annual_volatility": -1.0}, "volatility"),
        ({"origin": datetime(2025, 1, 1)}, "timezone"),
    ],
)
def test_bad_parameters(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        SimulatedFeed(**kwargs)  # type: ignore[arg-type]
