"""Payout functions of dlcspecs PayoutCurve.md and rounding of NumericOutcome.md.

A :class:`PayoutFunction` is the offerer's payout over the outcome domain,
made of polynomial and hyperbola pieces joined at endpoints. :func:`range_payouts`
turns it into the list of constant-payout outcome ranges that become CETs.

Arithmetic is IEEE-754 double precision in the same operation order as
rust-dlc (which generated the test vectors), so both sides of a contract
compute the same rounded payouts; NumericOutcome.md tolerates a one-modulus
difference at verification for the rare case where they do not.

Semantics fixed here (ADR 0032):

- A piece owns the outcomes in ``(left endpoint, right endpoint]``; the first
  piece also owns its left endpoint. Hyperbola pieces are evaluated at their
  endpoints too (their endpoint payouts only describe the curve).
- Rounding: the nearer multiple of the modulus, ties up; never above the total
  collateral (round down instead, dlcspecs PR 207); then clamped to
  ``[0, total_collateral]``.
- Constant payout ranges are found by galloping and binary search on pieces
  that are monotone (lines, and hyperbolas split at their extrema); curved
  polynomial pieces are evaluated outcome by outcome.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from typing import Self

from tentenone.dlc.errors import ContractError, DecodeError
from tentenone.dlc.tlv import Reader, Writer

__all__ = [
    "MAX_POINTWISE_SPAN",
    "FixedNumber",
    "HyperbolaPiece",
    "PayoutCurvePiece",
    "PayoutFunction",
    "PayoutPoint",
    "PolynomialPiece",
    "RangePayout",
    "RoundingInterval",
    "RoundingIntervals",
    "range_payouts",
    "round_payout",
]

_PRECISION = 1 << 16
#: Curved polynomial pieces are evaluated per outcome; wider ones are refused.
MAX_POINTWISE_SPAN = 1 << 22
#: Outcomes evaluated one by one around a hyperbola's extremum.
_EXTREMUM_WINDOW = 256


@dataclass(frozen=True, slots=True)
class PayoutPoint:
    """A point ``(event_outcome, outcome_payout + extra_precision / 2^16)``."""

    event_outcome: int
    outcome_payout: int
    extra_precision: int = 0

    def write(self, w: Writer) -> None:
        w.u64(self.event_outcome, "event_outcome")
        w.u64(self.outcome_payout, "outcome_payout")
        w.u16(self.extra_precision, "extra_precision")

    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls(r.u64("event_outcome"), r.u64("outcome_payout"), r.u16("extra_precision"))

    @property
    def payout(self) -> float:
        return float(self.outcome_payout) + float(self.extra_precision) / float(_PRECISION)

    @property
    def exact_payout(self) -> Fraction:
        return self.outcome_payout + Fraction(self.extra_precision, _PRECISION)


@dataclass(frozen=True, slots=True)
class FixedNumber:
    """A hyperbola parameter: ``sign`` (True is positive), ``u64`` integer part
    and ``u16`` fraction in 1/2^16, as this spec version serializes it."""

    positive: bool
    integer: int
    extra_precision: int = 0

    def write(self, w: Writer) -> None:
        w.flag(self.positive)
        w.u64(self.integer, "integer")
        w.u16(self.extra_precision, "extra_precision")

    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls(r.flag("sign"), r.u64("integer"), r.u16("extra_precision"))

    def to_float(self) -> float:
        magnitude = float(self.integer) + float(self.extra_precision) / float(_PRECISION)
        return magnitude if self.positive else -magnitude

    def to_fraction(self) -> Fraction:
        magnitude = self.integer + Fraction(self.extra_precision, _PRECISION)
        return magnitude if self.positive else -magnitude

    @classmethod
    def from_value(cls, value: Fraction | int) -> Self:
        """The nearest representable number (ties away from zero)."""
        scaled = abs(Fraction(value)) * _PRECISION
        units = math.floor(scaled + Fraction(1, 2))
        return cls(value >= 0, units // _PRECISION, units % _PRECISION)


@dataclass(frozen=True, slots=True)
class PolynomialPiece:
    """Lagrange interpolation through the endpoints and ``midpoints``.

    With no midpoints it is the line between the endpoints."""

    TYPE = 0
    midpoints: tuple[PayoutPoint, ...] = ()

    def write(self, w: Writer) -> None:
        w.bigsize(self.TYPE)
        w.bigsize(len(self.midpoints))
        for point in self.midpoints:
            point.write(w)

    @classmethod
    def read_data(cls, r: Reader) -> Self:
        n = r.count("num_pts", 18)
        return cls(tuple(PayoutPoint.read(r) for _ in range(n)))

    def check(self, left: PayoutPoint, right: PayoutPoint) -> None:
        xs = [left.event_outcome, *(p.event_outcome for p in self.midpoints), right.event_outcome]
        if any(a >= b for a, b in pairwise(xs)):
            raise ContractError("polynomial piece points must strictly increase in outcome")

    def evaluator(self, left: PayoutPoint, right: PayoutPoint) -> Callable[[int], float]:
        points = (left, *self.midpoints, right)
        if len(points) == 2:
            return _line(left, right)
        return _lagrange(points)

    def is_monotone(self) -> bool:
        return not self.midpoints


def _line(left: PayoutPoint, right: PayoutPoint) -> Callable[[int], float]:
    x0, y0, y1 = float(left.event_outcome), left.payout, right.payout
    if y0 == y1:
        return lambda _x: y1
    slope = (y1 - y0) / (float(right.event_outcome) - x0)
    return lambda x: (float(x) - x0) * slope + y0


def _lagrange(points: tuple[PayoutPoint, ...]) -> Callable[[int], float]:
    xs = [float(p.event_outcome) for p in points]
    ys = [p.payout for p in points]
    n = len(points)

    def evaluate(outcome: int) -> float:
        x = float(outcome)
        result = 0.0
        for i in range(n):
            term = ys[i]
            for j in range(n):
                if i != j:
                    term *= (x - xs[j]) / (xs[i] - xs[j])
            result += term
        return result

    return evaluate


@dataclass(frozen=True, slots=True)
class HyperbolaPiece:
    """``(f_1, f_2) + ((a, b), (c, d)) * (t, 1/t)``, the branch chosen by
    ``use_positive_piece``. For ``payout = d / outcome + f_2`` set
    ``a = 1, b = c = f_1 = 0``."""

    TYPE = 1
    use_positive_piece: bool
    translate_outcome: FixedNumber
    translate_payout: FixedNumber
    a: FixedNumber
    b: FixedNumber
    c: FixedNumber
    d: FixedNumber

    def write(self, w: Writer) -> None:
        w.bigsize(self.TYPE)
        w.flag(self.use_positive_piece)
        for number in self._numbers():
            number.write(w)

    def _numbers(self) -> tuple[FixedNumber, ...]:
        return (self.translate_outcome, self.translate_payout, self.a, self.b, self.c, self.d)

    @classmethod
    def read_data(cls, r: Reader) -> Self:
        positive = r.flag("use_positive_piece")
        f1, f2, a, b, c, d = (FixedNumber.read(r) for _ in range(6))
        return cls(positive, f1, f2, a, b, c, d)

    def check(self, left: PayoutPoint, right: PayoutPoint) -> None:
        """PayoutCurve.md: "a*d MUST be not equal b*c" and the curve "MUST be
        defined for every event_outcome (without division by zero)"."""
        if left.event_outcome >= right.event_outcome:
            raise ContractError("hyperbola piece endpoints must strictly increase")
        f1, a, b, c, d = (
            n.to_fraction() for n in (self.translate_outcome, self.a, self.b, self.c, self.d)
        )
        if a * d == b * c:
            raise ContractError("hyperbola piece has a*d equal to b*c")
        if a == 0:
            raise ContractError("hyperbola piece has a = 0 (its formula divides by 2a)")
        ab = a * b
        if ab > 0:
            # sqrt((x - f_1)^2 - 4ab) is undefined near f_1: check the outcomes nearest to it
            near = {
                min(max(x, left.event_outcome), right.event_outcome)
                for x in (math.floor(f1), math.ceil(f1))
            }
            if any((x - f1) ** 2 < 4 * ab for x in near):
                raise ContractError(
                    "hyperbola piece is undefined for some outcome (sqrt of negative)"
                )
        elif ab == 0 and not self._away_from_zero(left.event_outcome, right.event_outcome, f1):
            raise ContractError("hyperbola piece divides by zero for some outcome")

    def _away_from_zero(self, lo: int, hi: int, f1: Fraction) -> bool:
        """With ab = 0, t + sqrt(t^2) is zero for t <= 0 and t - sqrt(t^2) for t >= 0."""
        return lo > f1 if self.use_positive_piece else hi < f1

    def evaluator(self, left: PayoutPoint, right: PayoutPoint) -> Callable[[int], float]:
        del left, right
        f1, f2, a, b, c, d = (n.to_float() for n in self._numbers())
        positive = self.use_positive_piece

        def evaluate(outcome: int) -> float:
            t = float(outcome) - f1
            root = math.sqrt(t * t - 4.0 * a * b)
            u = t + root if positive else t - root
            return c * u / (2.0 * a) + 2.0 * a * d / u + f2

        return evaluate

    def extrema(self, lo: int, hi: int) -> list[float]:
        """Outcomes strictly inside ``(lo, hi)`` where the payout turns.

        With ``t`` the curve parameter (``x = f_1 + a t + b/t``), the slope is
        ``(c t^2 - d) / (a t^2 - b)``: it changes sign only at ``t^2 = d/c``.
        """
        f1, _f2, a, b, c, d = (n.to_float() for n in self._numbers())
        if c == 0.0 or d / c <= 0.0:
            return []
        t_lo, t_hi = (self._t(x, f1, a, b) for x in (lo, hi))
        out = []
        for t in (math.sqrt(d / c), -math.sqrt(d / c)):
            if min(t_lo, t_hi) < t < max(t_lo, t_hi):
                out.append(f1 + a * t + b / t)
        return sorted(out)

    def _t(self, x: int, f1: float, a: float, b: float) -> float:
        t = float(x) - f1
        root = math.sqrt(max(t * t - 4.0 * a * b, 0.0))
        return ((t + root) if self.use_positive_piece else (t - root)) / (2.0 * a)


PayoutCurvePiece = PolynomialPiece | HyperbolaPiece


def _read_piece(r: Reader) -> PayoutCurvePiece:
    start = r.offset
    piece_type = r.bigsize("payout_curve_piece")
    if piece_type == PolynomialPiece.TYPE:
        return PolynomialPiece.read_data(r)
    if piece_type == HyperbolaPiece.TYPE:
        return HyperbolaPiece.read_data(r)
    raise DecodeError(
        f"payout_curve_piece: unknown type {piece_type} at offset {start}",
        field="payout_curve_piece",
    )


@dataclass(frozen=True, slots=True)
class PayoutFunction:
    """``payout_function``: ``len(pieces) + 1`` endpoints with pieces between."""

    endpoints: tuple[PayoutPoint, ...]
    pieces: tuple[PayoutCurvePiece, ...]

    def write(self, w: Writer) -> None:
        if len(self.endpoints) != len(self.pieces) + 1:
            raise ContractError("a payout function needs one more endpoint than pieces")
        w.bigsize(len(self.pieces))
        self.endpoints[0].write(w)
        for piece, endpoint in zip(self.pieces, self.endpoints[1:], strict=True):
            piece.write(w)
            endpoint.write(w)

    @classmethod
    def read(cls, r: Reader) -> Self:
        n = r.count("num_pieces", 19)
        endpoints = [PayoutPoint.read(r)]
        pieces: list[PayoutCurvePiece] = []
        for _ in range(n):
            pieces.append(_read_piece(r))
            endpoints.append(PayoutPoint.read(r))
        return cls(tuple(endpoints), tuple(pieces))

    def check(self, max_outcome: int) -> None:
        """PayoutCurve.md requirements, and coverage of ``[0, max_outcome]``
        (Messaging.md: "a single payout is defined for any possible outcome")."""
        if not self.pieces or len(self.endpoints) != len(self.pieces) + 1:
            raise ContractError("num_pieces MUST be at least 1")
        xs = [e.event_outcome for e in self.endpoints]
        if any(a >= b for a, b in pairwise(xs)):
            raise ContractError("payout function endpoints MUST strictly increase")
        if xs[0] != 0 or xs[-1] != max_outcome:
            raise ContractError(
                f"payout function covers [{xs[0]}, {xs[-1]}], the event needs [0, {max_outcome}]"
            )
        for piece, left, right in self._segments():
            piece.check(left, right)

    def _segments(self) -> Iterator[tuple[PayoutCurvePiece, PayoutPoint, PayoutPoint]]:
        for i, piece in enumerate(self.pieces):
            yield piece, self.endpoints[i], self.endpoints[i + 1]


@dataclass(frozen=True, slots=True)
class RoundingInterval:
    begin_interval: int
    rounding_mod: int


@dataclass(frozen=True, slots=True)
class RoundingIntervals:
    """``rounding_intervals``: from ``begin_interval`` on, payouts are rounded to
    multiples of ``rounding_mod``; before the first interval the modulus is 1."""

    intervals: tuple[RoundingInterval, ...] = ()

    def write(self, w: Writer) -> None:
        w.bigsize(len(self.intervals))
        for interval in self.intervals:
            w.u64(interval.begin_interval, "begin_interval")
            w.u64(interval.rounding_mod, "rounding_mod")

    @classmethod
    def read(cls, r: Reader) -> Self:
        n = r.count("num_rounding_intervals", 16)
        return cls(
            tuple(
                RoundingInterval(r.u64("begin_interval"), r.u64("rounding_mod")) for _ in range(n)
            )
        )

    def check(self) -> None:
        begins = [i.begin_interval for i in self.intervals]
        if any(a >= b for a, b in pairwise(begins)):
            raise ContractError("rounding intervals: begin_interval MUST strictly increase")
        if any(i.rounding_mod < 1 for i in self.intervals):
            raise ContractError("rounding intervals: rounding_mod must be at least 1")

    def modulus_at(self, outcome: int) -> int:
        modulus = 1
        for interval in self.intervals:
            if interval.begin_interval > outcome:
                break
            modulus = interval.rounding_mod
        return modulus

    def next_change_after(self, outcome: int) -> int | None:
        """The first ``begin_interval`` strictly after ``outcome``, if any."""
        for interval in self.intervals:
            if interval.begin_interval > outcome:
                return interval.begin_interval
        return None

    def minimum(self, other: RoundingIntervals) -> RoundingIntervals:
        """NumericOutcome.md: "the rounding to be used at a given event_outcome
        is the minimum of both party's rounding moduli"."""
        begins = sorted({0} | {i.begin_interval for i in (*self.intervals, *other.intervals)})
        merged: list[RoundingInterval] = []
        for begin in begins:
            modulus = min(self.modulus_at(begin), other.modulus_at(begin))
            if not merged or merged[-1].rounding_mod != modulus:
                merged.append(RoundingInterval(begin, modulus))
        return RoundingIntervals(tuple(merged))


def round_payout(value: float, modulus: int, total_collateral: int) -> int:
    """NumericOutcome.md rounding: "the closer of value - (value % R) or
    value - (value % R) + R, rounding up in the case of a tie"; never above the
    total collateral (round down instead); then clamped to [0, total]."""
    if not math.isfinite(value):
        raise ContractError(f"payout function evaluates to {value}")
    mod = float(modulus)
    rem = math.fmod(value, mod)
    if rem < 0.0:
        rem += mod
    down = _round_half_away(value - rem)
    result = _round_half_away(value + mod - rem) if rem >= mod / 2.0 else down
    if result > total_collateral:
        result = down
    return min(max(result, 0), total_collateral)


def _round_half_away(value: float) -> int:
    floor = math.floor(value)
    return floor + 1 if value - floor >= 0.5 else floor


@dataclass(frozen=True, slots=True)
class RangePayout:
    """Outcomes ``[start, start + count - 1]`` all pay the offerer ``offer``."""

    start: int
    count: int
    offer: int

    @property
    def end(self) -> int:
        return self.start + self.count - 1


def range_payouts(
    function: PayoutFunction,
    rounding: RoundingIntervals,
    total_collateral: int,
    *,
    max_ranges: int | None = None,
) -> list[RangePayout]:
    """The maximal constant-payout outcome ranges of the rounded, clamped function.

    More than ``max_ranges`` ranges raise :class:`ContractError` as soon as seen.
    """
    ranges: list[RangePayout] = _LimitedList(max_ranges)
    for index, (piece, left, right) in enumerate(function._segments()):
        evaluate = piece.evaluator(left, right)
        first = left.event_outcome if index == 0 else left.event_outcome + 1

        def rounded(x: int, evaluate: Callable[[int], float] = evaluate) -> int:
            return round_payout(evaluate(x), rounding.modulus_at(x), total_collateral)

        for lo, hi, monotone in _monotone_spans(piece, first, right.event_outcome, rounding):
            if monotone:
                _scan_monotone(rounded, lo, hi, ranges)
            else:
                _scan_pointwise(rounded, lo, hi, ranges)
    return ranges


class _LimitedList(list[RangePayout]):
    """A list that refuses to grow past its limit (None: no limit)."""

    def __init__(self, limit: int | None) -> None:
        super().__init__()
        self._limit = limit

    def append(self, item: RangePayout) -> None:
        if self._limit is not None and len(self) >= self._limit:
            raise ContractError(f"the payout curve has more than {self._limit} CETs")
        super().append(item)


def _monotone_spans(
    piece: PayoutCurvePiece, lo: int, hi: int, rounding: RoundingIntervals
) -> Iterator[tuple[int, int, bool]]:
    """Split ``[lo, hi]`` where the rounding modulus changes and around extrema."""
    if lo > hi:
        return
    cuts: list[tuple[int, int, bool]] = []
    if isinstance(piece, PolynomialPiece) and not piece.is_monotone():
        if hi - lo + 1 > MAX_POINTWISE_SPAN:
            raise ContractError(
                f"curved polynomial piece spans {hi - lo + 1} outcomes, "
                f"at most {MAX_POINTWISE_SPAN} are supported"
            )
        cuts.append((lo, hi, False))
    elif isinstance(piece, HyperbolaPiece):
        start = lo
        for x in piece.extrema(lo, hi):
            w_lo = max(start, math.floor(x) - _EXTREMUM_WINDOW)
            w_hi = min(hi, math.ceil(x) + _EXTREMUM_WINDOW)
            if w_lo > start:
                cuts.append((start, w_lo - 1, True))
            if w_lo <= w_hi:
                cuts.append((w_lo, w_hi, False))
            start = max(start, w_hi + 1)
        if start <= hi:
            cuts.append((start, hi, True))
    else:
        cuts.append((lo, hi, True))
    for c_lo, c_hi, monotone in cuts:
        yield from _split_by_rounding(c_lo, c_hi, monotone, rounding)


def _split_by_rounding(
    lo: int, hi: int, monotone: bool, rounding: RoundingIntervals
) -> Iterator[tuple[int, int, bool]]:
    while lo <= hi:
        change = rounding.next_change_after(lo)
        end = hi if change is None else min(hi, change - 1)
        yield lo, end, monotone
        lo = end + 1


def _push(ranges: list[RangePayout], start: int, end: int, offer: int) -> None:
    if ranges and ranges[-1].offer == offer and ranges[-1].end == start - 1:
        last = ranges[-1]
        ranges[-1] = RangePayout(last.start, last.count + end - start + 1, offer)
    else:
        ranges.append(RangePayout(start, end - start + 1, offer))


def _scan_pointwise(
    rounded: Callable[[int], int], lo: int, hi: int, ranges: list[RangePayout]
) -> None:
    for x in range(lo, hi + 1):
        _push(ranges, x, x, rounded(x))


def _scan_monotone(
    rounded: Callable[[int], int], lo: int, hi: int, ranges: list[RangePayout]
) -> None:
    """Gallop then bisect for the last outcome of each constant run."""
    x = lo
    while x <= hi:
        value = rounded(x)
        step, last_same = 1, x
        while last_same + step <= hi and rounded(last_same + step) == value:
            last_same += step
            step *= 2
        bound = min(hi, last_same + step)  # first outcome known (or assumed) different
        if bound > last_same and rounded(bound) == value:
            last_same = bound
        else:
            lo_b, hi_b = last_same, bound
            while hi_b - lo_b > 1:
                mid = (lo_b + hi_b) // 2
                if rounded(mid) == value:
                    lo_b = mid
                else:
                    hi_b = mid
            last_same = lo_b
        _push(ranges, x, last_same, value)
        x = last_same + 1
