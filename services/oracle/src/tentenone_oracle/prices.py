"""Price quotes and the interface every price source implements.

A source answers two questions: the price now (``latest``, for the index price
the maker and the gateway show) and the price at a past instant (``price_at``,
for the attestation at maturity: the first price at or after the expiry).
Sources raise ``SourceFailed`` when they cannot answer; judging whether an
answer is plausible is the aggregation's job (``aggregation.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from tentenone.errors import Unavailable

__all__ = ["PriceQuote", "PriceSource", "SourceFailed"]


class SourceFailed(Unavailable):
    """A price source gave no usable answer (network, HTTP status, malformed body)."""

    code = "oracle_price_source_failed"


@dataclass(frozen=True, slots=True)
class PriceQuote:
    """One source's BTC/USD price and the instant it is the price of."""

    source: str
    price: Decimal
    observed_at: datetime


@runtime_checkable
class PriceSource(Protocol):
    """A BTC/USD price source; ``name`` labels its quotes, metrics and rejections."""

    @property
    def name(self) -> str: ...

    async def latest(self) -> PriceQuote:
        """The most recent price the source has."""
        ...

    async def price_at(self, when: datetime) -> PriceQuote:
        """The first price at or after ``when`` (``when`` is in the past)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
