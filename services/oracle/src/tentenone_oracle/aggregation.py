"""The index price: several sources, each quote checked, the median of the survivors.

Rules, in order (ADR 0072):

1. Ask every source at once, each under a timeout; a source that fails is out
   (reason ``unavailable``).
2. A quote outside the plausible band ``[min_price, max_price]`` (or not a
   finite number) is out (``out_of_range``). This is the alert case: a source
   that reports nonsense is worth a human look.
3. A quote too old, or too far from the instant asked for, is out (``stale``).
4. The median of what is left; a quote further than ``max_deviation`` from it
   is out (``outlier``), and the median is taken again over the rest.
5. Fewer than ``min_sources`` quotes left: no index price (``NoIndexPrice``,
   its message lists every source's reason). The caller keeps the event
   pending and tries again.

Every rejection increments ``tentenone_oracle_price_rejected_total{source,
reason}``; every ``latest`` quote sets ``tentenone_oracle_price_age_seconds{source}``.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from prometheus_client import Counter, Gauge

from tentenone.errors import InvalidInput, TentenoneError, Unavailable
from tentenone_oracle.clock import Clock, utc_now
from tentenone_oracle.prices import PriceQuote, PriceSource

__all__ = [
    "PRICE_AGE",
    "PRICE_REJECTED",
    "AggregationRules",
    "IndexPrice",
    "IndexPriceFeed",
    "NoIndexPrice",
    "RejectReason",
    "Rejection",
    "median",
]

PRICE_REJECTED = Counter(
    "tentenone_oracle_price_rejected_total",
    "Quotes the index price left out, by source and reason (alert on out_of_range)",
    ["source", "reason"],
)
PRICE_AGE = Gauge(
    "tentenone_oracle_price_age_seconds",
    "Age of each source's latest quote when last asked (staleness)",
    ["source"],
)

type _SourceCall = Callable[[PriceSource], Awaitable[PriceQuote]]
type _StaleCheck = Callable[[PriceQuote], Rejection | None]

# A quote dated this far in our future means one of the clocks is wrong.
_FUTURE_TOLERANCE = timedelta(seconds=5)


class NoIndexPrice(Unavailable):
    """Too few sources gave a usable quote; the message says why each was left out."""

    code = "oracle_no_index_price"


class RejectReason(enum.StrEnum):
    UNAVAILABLE = "unavailable"
    OUT_OF_RANGE = "out_of_range"
    STALE = "stale"
    OUTLIER = "outlier"


@dataclass(frozen=True, slots=True)
class Rejection:
    source: str
    reason: RejectReason
    detail: str


@dataclass(frozen=True, slots=True)
class IndexPrice:
    """The median price at ``at``, the quotes it came from and the ones left out."""

    price: Decimal
    at: datetime
    quotes: tuple[PriceQuote, ...]
    rejected: tuple[Rejection, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class AggregationRules:
    min_sources: int = 2
    #: ``latest``: a quote older than this is stale.
    max_age: timedelta = timedelta(seconds=60)
    #: ``price_at``: a quote further than this from the instant asked for is stale.
    max_skew: timedelta = timedelta(seconds=60)
    max_deviation: Decimal = Decimal("0.02")
    min_price: Decimal = Decimal(1)
    max_price: Decimal = Decimal(10_000_000)
    source_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.min_sources < 1:
            raise InvalidInput(f"min_sources must be at least 1, got {self.min_sources}")
        if not 0 < self.min_price < self.max_price:
            raise InvalidInput(
                f"need 0 < min_price < max_price, got {self.min_price}, {self.max_price}"
            )
        if not 0 < self.max_deviation < 1:
            raise InvalidInput(f"max_deviation must be in (0, 1), got {self.max_deviation}")
        if self.source_timeout_s <= 0 or self.max_age <= timedelta(0):
            raise InvalidInput("source timeout and max age must be positive")


def median(values: Sequence[Decimal]) -> Decimal:
    if not values:
        raise InvalidInput("median of no values")
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


class IndexPriceFeed:
    """Applies ``AggregationRules`` to a set of sources."""

    def __init__(
        self,
        sources: Sequence[PriceSource],
        rules: AggregationRules | None = None,
        clock: Clock = utc_now,
    ) -> None:
        if not sources:
            raise InvalidInput("an index price needs at least one source")
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise InvalidInput(f"price source names must be unique, got {names}")
        self._sources = tuple(sources)
        self._rules = rules or AggregationRules()
        if self._rules.min_sources > len(sources):
            raise InvalidInput(
                f"min_sources={self._rules.min_sources} but only {len(sources)} sources"
            )
        self._clock = clock

    @property
    def sources(self) -> tuple[PriceSource, ...]:
        return self._sources

    @property
    def rules(self) -> AggregationRules:
        return self._rules

    async def latest(self) -> IndexPrice:
        """The index price now."""
        now = self._clock()
        quotes = await self._ask(lambda s: s.latest())
        for quote in quotes:
            if isinstance(quote, PriceQuote):
                # Staleness as each source reports it, used or not.
                age = (now - quote.observed_at).total_seconds()
                PRICE_AGE.labels(quote.source).set(max(0.0, age))
        return self._aggregate(now, quotes, lambda q: self._stale_latest(q, now))

    async def price_at(self, when: datetime) -> IndexPrice:
        """The index price at ``when`` (a past instant: an expiry)."""
        quotes = await self._ask(lambda s: s.price_at(when))
        return self._aggregate(when, quotes, lambda q: self._stale_at(q, when))

    async def aclose(self) -> None:
        for source in self._sources:
            await source.aclose()

    async def _ask(self, call: _SourceCall) -> list[PriceQuote | Rejection]:
        async def one(source: PriceSource) -> PriceQuote | Rejection:
            try:
                async with asyncio.timeout(self._rules.source_timeout_s):
                    quote = await call(source)
            except TimeoutError:
                detail = f"no answer within {self._rules.source_timeout_s} s"
                return Rejection(source.name, RejectReason.UNAVAILABLE, detail)
            except TentenoneError as exc:
                return Rejection(source.name, RejectReason.UNAVAILABLE, exc.message)
            if quote.source != source.name:
                raise InvalidInput(f"source {source.name!r} labelled its quote {quote.source!r}")
            return quote

        return list(await asyncio.gather(*(one(s) for s in self._sources)))

    def _aggregate(
        self,
        at: datetime,
        answers: list[PriceQuote | Rejection],
        stale: _StaleCheck,
    ) -> IndexPrice:
        rejected = [a for a in answers if isinstance(a, Rejection)]
        fresh: list[PriceQuote] = []
        for quote in (a for a in answers if isinstance(a, PriceQuote)):
            problem = self._out_of_range(quote) or stale(quote)
            if problem is None:
                fresh.append(quote)
            else:
                rejected.append(problem)
        kept = fresh
        if fresh:
            mid = median([q.price for q in fresh])
            kept = []
            for quote in fresh:
                deviation = abs(quote.price - mid) / mid
                if deviation > self._rules.max_deviation:
                    detail = f"{quote.price} is {deviation:.2%} from the median {mid}"
                    rejected.append(Rejection(quote.source, RejectReason.OUTLIER, detail))
                else:
                    kept.append(quote)
        for r in rejected:
            PRICE_REJECTED.labels(r.source, r.reason.value).inc()
        if len(kept) < self._rules.min_sources:
            reasons = "; ".join(f"{r.source}: {r.reason.value} ({r.detail})" for r in rejected)
            raise NoIndexPrice(
                f"{len(kept)} usable quote(s) for {at.isoformat()}, "
                f"{self._rules.min_sources} needed; {reasons or 'no sources answered'}",
                rejected=[{"source": r.source, "reason": r.reason.value} for r in rejected],
            )
        return IndexPrice(median([q.price for q in kept]), at, tuple(kept), tuple(rejected))

    def _out_of_range(self, quote: PriceQuote) -> Rejection | None:
        price = quote.price
        if not price.is_finite() or not self._rules.min_price <= price <= self._rules.max_price:
            detail = (
                f"{price} outside the plausible band "
                f"[{self._rules.min_price}, {self._rules.max_price}]"
            )
            return Rejection(quote.source, RejectReason.OUT_OF_RANGE, detail)
        return None

    def _stale_latest(self, quote: PriceQuote, now: datetime) -> Rejection | None:
        age = now - quote.observed_at
        if age > self._rules.max_age or age < -_FUTURE_TOLERANCE:
            detail = f"quoted at {quote.observed_at.isoformat()}, {age.total_seconds():.1f} s old"
            return Rejection(quote.source, RejectReason.STALE, detail)
        return None

    def _stale_at(self, quote: PriceQuote, when: datetime) -> Rejection | None:
        if abs(quote.observed_at - when) > self._rules.max_skew:
            detail = f"quoted at {quote.observed_at.isoformat()}, asked for {when.isoformat()}"
            return Rejection(quote.source, RejectReason.STALE, detail)
        return None
