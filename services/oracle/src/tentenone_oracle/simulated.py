"""A simulated BTC/USD feed for the devnet and demos: a seeded, reproducible random walk.

The log-price is a Gaussian random walk with one step per simulated second,
reflected into a price band so a long-running demo stays plausible. A
speed-up factor makes simulated time run faster than the wall clock, so a
demo with expiries every few minutes sees realistic moves between them.

Reproducible means: the price at an instant depends only on the seed, the
parameters and the instant, never on when or how often it was asked. So a
restarted oracle, or a second process with the same settings, sees the same
price for the same instant. To get the walk's value at step ``n`` without
replaying every step before it, the walk is built as a Brownian bridge over a
fixed horizon of 2**48 steps: the value at the midpoint of an interval is drawn
conditioned on its two ends, from a normal variate keyed by a hash of (seed,
interval). Reaching one step takes 48 such draws; every query of the same step
takes the same draws.
"""

from __future__ import annotations

import hashlib
import math
import struct
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from statistics import NormalDist

from tentenone.errors import InvalidInput
from tentenone_oracle.clock import Clock, utc_now
from tentenone_oracle.prices import PriceQuote, SourceFailed

__all__ = ["DEFAULT_ORIGIN", "SimulatedFeed"]

DEFAULT_ORIGIN = datetime(2025, 1, 1, tzinfo=UTC)
_DEPTH = 48
_HORIZON = 1 << _DEPTH
# The origin sits mid-horizon so instants before it have prices too.
_ORIGIN_STEP = _HORIZON >> 1
_SECONDS_PER_YEAR = 365.25 * 86400
_TAG = hashlib.sha256(b"tentenone/simulated-feed/v1").digest()
_NORMAL = NormalDist()
_CENT = Decimal("0.01")


class SimulatedFeed:
    """A ``PriceSource`` whose price is a pure function of (seed, parameters, instant)."""

    def __init__(
        self,
        *,
        seed: int = 1,
        start_price: Decimal = Decimal(90_000),
        annual_volatility: float = 0.6,
        speedup: float = 1.0,
        origin: datetime = DEFAULT_ORIGIN,
        band: tuple[Decimal, Decimal] = (Decimal(10_000), Decimal(500_000)),
        clock: Clock = utc_now,
        name: str = "simulated",
    ) -> None:
        low, high = band
        if not 0 < low < start_price < high:
            raise InvalidInput(
                f"simulated feed needs 0 < band low < start price < band high, "
                f"got {low} < {start_price} < {high}"
            )
        if not (math.isfinite(speedup) and speedup > 0):
            raise InvalidInput(f"speedup must be a positive number, got {speedup!r}")
        if not (math.isfinite(annual_volatility) and annual_volatility >= 0):
            raise InvalidInput(f"volatility must be >= 0, got {annual_volatility!r}")
        if origin.tzinfo is None:
            raise InvalidInput("origin must be timezone-aware (UTC)")
        self._seed = seed
        self._log_start = math.log(start_price)
        self._log_band = (math.log(low), math.log(high))
        self._sigma = annual_volatility / math.sqrt(_SECONDS_PER_YEAR)
        self._speedup = speedup
        self._origin = origin
        self._clock = clock
        self._name = name
        self._w_origin = self._walk(_ORIGIN_STEP)

    @property
    def name(self) -> str:
        return self._name

    def price_of(self, when: datetime) -> Decimal:
        """The simulated price at ``when``, to the cent."""
        step = self._step(when)
        log_price = self._log_start + self._sigma * (self._walk(step) - self._w_origin)
        return Decimal(math.exp(_reflect(log_price, *self._log_band))).quantize(_CENT)

    async def latest(self) -> PriceQuote:
        now = self._clock()
        return PriceQuote(self._name, self.price_of(now), now)

    async def price_at(self, when: datetime) -> PriceQuote:
        return PriceQuote(self._name, self.price_of(when), when)

    async def aclose(self) -> None:
        return None

    def _step(self, when: datetime) -> int:
        if when.tzinfo is None:
            raise InvalidInput(f"datetime {when.isoformat()} has no time zone; use UTC")
        elapsed_us = (when - self._origin) // timedelta(microseconds=1)
        step = _ORIGIN_STEP + math.floor(elapsed_us * self._speedup / 1_000_000)
        if not 0 <= step < _HORIZON:
            raise SourceFailed(f"{when.isoformat()} is beyond the simulated feed's horizon")
        return step

    def _walk(self, n: int) -> float:
        """The walk's value at step ``n``: W(0) = 0, unit variance per step."""
        lo, hi = 0, _HORIZON
        w_lo, w_hi = 0.0, self._normal(0, 0) * math.sqrt(_HORIZON)
        while hi - lo > 1:
            mid = (lo + hi) >> 1
            # Brownian bridge: W(mid) | W(lo), W(hi) ~ N(mean of ends, (hi - lo) / 4).
            w_mid = (w_lo + w_hi) / 2 + self._normal(lo, hi) * math.sqrt((hi - lo) / 4)
            if n < mid:
                hi, w_hi = mid, w_mid
            else:
                lo, w_lo = mid, w_mid
        return w_lo if n == lo else w_hi

    def _normal(self, lo: int, hi: int) -> float:
        digest = hashlib.sha256(_TAG + struct.pack(">qQQ", self._seed, lo, hi)).digest()
        # 53 random bits, centred in their cell so the uniform is never 0 or 1.
        u = ((int.from_bytes(digest[:8], "big") >> 11) + 0.5) / (1 << 53)
        return _NORMAL.inv_cdf(u)


def _reflect(x: float, low: float, high: float) -> float:
    """``x`` folded into ``[low, high]`` as a path reflecting off both walls would be."""
    width = high - low
    m = (x - low) % (2 * width)
    return low + (2 * width - m if m > width else m)
