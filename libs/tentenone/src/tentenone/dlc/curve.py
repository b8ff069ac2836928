"""The product's payout curve: a BTC/USD inverse future as a numeric DLC.

A position of ``quantity`` USD contracts entered at ``entry_price`` gains, for
the long side, ``quantity * (1/entry - 1/price)`` BTC at settlement price
``price``. Each side posts a margin of ``notional / leverage`` (rounded up to
the satoshi); the offerer's payout is its margin plus its P&L, plus or minus
the fee, clamped to ``[0, total_collateral]``: flat beyond both liquidation
prices, so nobody can lose more than their margin.

As a payout function (offerer's view, outcome = price in whole USD):

- a constant piece from 0 to the last price of the low clamp,
- a hyperbola ``payout = f_2 + d / price`` (``a = 1``, ``b = c = f_1 = 0``,
  ``d = -/+ quantity * 1e8`` for a long/short offerer) up to the last price
  before the high clamp (or the end of the domain),
- a one-outcome line to the high clamp value and a constant piece after it.

Rounding intervals use ``rounding_mod`` between the liquidation prices and 1
on the flat parts (so a winner gets the full collateral to the satoshi);
rounding never exceeds the total collateral (NumericOutcome.md with dlcspecs
PR 207). With the default modulus, ``total_collateral / max_cets``, the curve
has about ``max_cets`` CETs whatever the position size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from tentenone.dlc.contract import NumericOutcomeContractDescriptor
from tentenone.dlc.errors import ContractError
from tentenone.dlc.payout_curve import (
    FixedNumber,
    HyperbolaPiece,
    PayoutCurvePiece,
    PayoutFunction,
    PayoutPoint,
    PolynomialPiece,
    RoundingInterval,
    RoundingIntervals,
)

__all__ = ["CurveContract", "InverseFuture", "Party", "Side", "build_inverse_future"]

SATS_PER_BTC = 100_000_000
_ZERO = FixedNumber(True, 0)
_ONE = FixedNumber(True, 1)


class Side(StrEnum):
    LONG = "long"
    SHORT = "short"


class Party(StrEnum):
    OFFERER = "offerer"
    ACCEPTER = "accepter"


Number = int | Fraction | Decimal


@dataclass(frozen=True, slots=True)
class InverseFuture:
    """A position as both parties agreed it.

    ``fee`` (satoshis) is paid by ``fee_payer`` to the other party out of the
    payer's side of every outcome.
    """

    offer_side: Side
    quantity: int
    entry_price: Number
    offer_leverage: Number
    accept_leverage: Number
    fee: int = 0
    fee_payer: Party = Party.ACCEPTER
    nb_digits: int = 20
    rounding_mod: int | None = None
    max_cets: int = 2000

    def check(self) -> None:
        if self.quantity <= 0:
            raise ContractError(f"quantity must be positive, got {self.quantity}")
        if Fraction(self.entry_price) < 2:
            raise ContractError(f"entry price {self.entry_price} is below 2 USD")
        for name, lev in (("offer", self.offer_leverage), ("accept", self.accept_leverage)):
            if Fraction(lev) < 1:
                raise ContractError(f"{name} leverage {lev} is below 1")
        if self.fee < 0:
            raise ContractError(f"fee cannot be negative, got {self.fee}")
        if not 1 <= self.nb_digits <= 63:
            raise ContractError(f"nb_digits must be within 1..63, got {self.nb_digits}")
        if self.rounding_mod is not None and self.rounding_mod < 1:
            raise ContractError(f"rounding_mod must be at least 1, got {self.rounding_mod}")
        if self.max_cets < 1:
            raise ContractError("max_cets must be at least 1")

    @property
    def notional(self) -> Fraction:
        """The position's value in satoshis at the entry price."""
        return Fraction(self.quantity * SATS_PER_BTC) / Fraction(self.entry_price)

    def margin(self, leverage: Number) -> int:
        return math.ceil(self.notional / Fraction(leverage))


@dataclass(frozen=True, slots=True)
class CurveContract:
    """What the offer needs: the descriptor and each side's collateral.

    ``low_flat_end``: prices ``<= low_flat_end`` pay the low clamp;
    ``high_flat_start``: prices ``>= high_flat_start`` pay the high clamp
    (None when that side never liquidates within the domain).
    """

    descriptor: NumericOutcomeContractDescriptor
    offer_collateral: int
    accept_collateral: int
    low_flat_end: int
    high_flat_start: int | None

    @property
    def total_collateral(self) -> int:
        return self.offer_collateral + self.accept_collateral


class _Curve:
    """``f_2 + d / price`` exactly, with the clamp values at low and high prices."""

    def __init__(self, f2: Fraction, d: int, total: int) -> None:
        self.f2, self.d, self.total = f2, d, total
        self.increasing = d < 0
        self.low_clamp = 0 if self.increasing else total
        self.high_clamp = total if self.increasing else 0

    def value(self, price: int) -> Fraction:
        return self.f2 + Fraction(self.d, price)

    def at_low_clamp(self, price: int) -> bool:
        v = self.value(price)
        return v <= 0 if self.increasing else v >= self.total

    def at_high_clamp(self, price: int) -> bool:
        v = self.value(price)
        return v >= self.total if self.increasing else v <= 0


def _last_true(predicate: Callable[[int], bool], lo: int, hi: int) -> int:
    """The largest x in [lo, hi] with predicate(x) (predicate monotone, true at lo)."""
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if predicate(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _point(price: int, payout: Fraction | int) -> PayoutPoint:
    fixed = FixedNumber.from_value(payout)
    return PayoutPoint(price, fixed.integer, fixed.extra_precision)


def build_inverse_future(position: InverseFuture) -> CurveContract:
    position.check()
    offer_margin = position.margin(position.offer_leverage)
    accept_margin = position.margin(position.accept_leverage)
    total = offer_margin + accept_margin
    q = position.quantity * SATS_PER_BTC
    long_offer = position.offer_side is Side.LONG
    fee = position.fee if position.fee_payer is Party.ACCEPTER else -position.fee
    pnl_at_entry = Fraction(q) / Fraction(position.entry_price)
    f2_exact = offer_margin + fee + (pnl_at_entry if long_offer else -pnl_at_entry)
    f2 = FixedNumber.from_value(f2_exact)
    d = -q if long_offer else q
    curve = _Curve(f2.to_fraction(), d, total)
    max_price = 2**position.nb_digits - 1
    if not curve.at_low_clamp(1) or curve.at_low_clamp(max_price):
        raise ContractError("the position has no liquidation-free price range in the domain")
    low_end = _last_true(curve.at_low_clamp, 1, max_price)
    high_start: int | None = None
    if curve.at_high_clamp(max_price):
        high_start = _last_true(lambda p: not curve.at_high_clamp(p), low_end, max_price) + 1
    curve_end = max_price if high_start is None else high_start - 1
    if curve_end <= low_end:
        raise ContractError("the position liquidates both sides at the same price")
    endpoints = [_point(0, curve.low_clamp), _point(low_end, curve.low_clamp)]
    pieces: list[PayoutCurvePiece] = [PolynomialPiece()]
    hyperbola = HyperbolaPiece(True, _ZERO, f2, _ONE, _ZERO, _ZERO, FixedNumber(d > 0, abs(d)))
    pieces.append(hyperbola)
    endpoints.append(_point(curve_end, curve.value(curve_end)))
    if high_start is not None:
        pieces.append(PolynomialPiece())
        endpoints.append(_point(high_start, curve.high_clamp))
        if high_start < max_price:
            pieces.append(PolynomialPiece())
            endpoints.append(_point(max_price, curve.high_clamp))
    rounding_mod = position.rounding_mod or max(1, math.ceil(total / position.max_cets))
    intervals = [RoundingInterval(0, 1), RoundingInterval(low_end + 1, rounding_mod)]
    if high_start is not None:
        intervals.append(RoundingInterval(high_start, 1))
    descriptor = NumericOutcomeContractDescriptor(
        position.nb_digits,
        PayoutFunction(tuple(endpoints), tuple(pieces)),
        RoundingIntervals(tuple(intervals)),
    )
    return CurveContract(descriptor, offer_margin, accept_margin, low_end, high_start)
