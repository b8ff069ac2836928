"""Payout functions, rounding and the constant-payout ranges (PayoutCurve.md,
NumericOutcome.md)."""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tentenone.dlc.errors import ContractError
from tentenone.dlc.payout_curve import (
    FixedNumber,
    HyperbolaPiece,
    PayoutCurvePiece,
    PayoutFunction,
    PayoutPoint,
    PolynomialPiece,
    RangePayout,
    RoundingInterval,
    RoundingIntervals,
    range_payouts,
    round_payout,
)
from tentenone.dlc.tlv import Reader, Writer

TOTAL = 1_000_000


def test_rounding_picks_the_closer_multiple_and_ties_up() -> None:
    # "the closer of value - (value % R) or value - (value % R) + R, rounding up
    # in the case of a tie"
    assert round_payout(1249.0, 100, TOTAL) == 1200
    assert round_payout(1250.0, 100, TOTAL) == 1300
    assert round_payout(1250.4, 1, TOTAL) == 1250
    assert round_payout(1250.5, 1, TOTAL) == 1251


def test_rounding_never_exceeds_the_total_collateral() -> None:
    # dlcspecs PR 207: round down rather than above the total collateral
    total = TOTAL + 50  # not a multiple of the modulus
    assert round_payout(total - 10.0, 100, total) == TOTAL  # nearest is above: down
    assert round_payout(TOTAL - 10.0, 100, TOTAL) == TOTAL  # nearest is the total itself
    assert round_payout(TOTAL + 5_000.0, 100, TOTAL) == TOTAL
    assert round_payout(-50.0, 100, TOTAL) == 0
    with pytest.raises(ContractError):
        round_payout(float("nan"), 1, TOTAL)


def test_rounding_intervals_minimum_of_both_parties() -> None:
    mine = RoundingIntervals((RoundingInterval(0, 100), RoundingInterval(500, 1000)))
    theirs = RoundingIntervals((RoundingInterval(200, 10), RoundingInterval(800, 5000)))
    merged = mine.minimum(theirs)
    for outcome in (0, 199, 200, 499, 500, 799, 800, 10_000):
        expected = min(mine.modulus_at(outcome), theirs.modulus_at(outcome))
        assert merged.modulus_at(outcome) == expected
    assert RoundingIntervals().modulus_at(123) == 1


@given(st.fractions(min_value=-(2**40), max_value=2**40))
def test_fixed_numbers_are_within_half_a_unit(value: Fraction) -> None:
    number = FixedNumber.from_value(value)
    assert abs(number.to_fraction() - value) <= Fraction(1, 2**17)
    w = Writer()
    number.write(w)
    assert FixedNumber.read(Reader(w.getvalue())) == number


DOMAIN = 1023


def _point(x: int, y: int) -> PayoutPoint:
    return PayoutPoint(x, y, 0)


@st.composite
def pieces(draw: st.DrawFn, lo: int, hi: int) -> PayoutCurvePiece:
    kind = draw(st.sampled_from(["line", "curve", "hyperbola"]))
    if kind == "line" or hi - lo < 2:
        return PolynomialPiece()
    if kind == "curve":
        x = draw(st.integers(min_value=lo + 1, max_value=hi - 1))
        y = draw(st.integers(min_value=0, max_value=TOTAL))
        return PolynomialPiece((_point(x, y),))
    numbers = st.fractions(min_value=-(10**6), max_value=10**6, max_denominator=64)
    b = draw(st.fractions(min_value=-5, max_value=0, max_denominator=8))
    f1 = draw(st.integers(min_value=-50, max_value=lo - 1)) if b == 0 else draw(numbers)
    values = [f1, draw(numbers), 1, b, draw(numbers) / 1000, draw(numbers) + 1]
    return HyperbolaPiece(True, *(FixedNumber.from_value(v) for v in values))


@st.composite
def functions(draw: st.DrawFn) -> tuple[PayoutFunction, RoundingIntervals]:
    inner = draw(st.sets(st.integers(min_value=1, max_value=DOMAIN - 1), max_size=5))
    xs = [0, *sorted(inner), DOMAIN]
    ys = draw(
        st.lists(st.integers(min_value=0, max_value=TOTAL), min_size=len(xs), max_size=len(xs))
    )
    endpoints = tuple(_point(x, y) for x, y in zip(xs, ys, strict=True))
    parts = tuple(draw(pieces(a, b)) for a, b in pairwise(xs))
    begins = draw(st.sets(st.integers(min_value=0, max_value=DOMAIN), max_size=4))
    mods = st.sampled_from([1, 7, 100, 5_000])
    rounding = RoundingIntervals(tuple(RoundingInterval(b, draw(mods)) for b in sorted(begins)))
    return PayoutFunction(endpoints, parts), rounding


def _reference(function: PayoutFunction, rounding: RoundingIntervals) -> list[RangePayout]:
    """rust-dlc's way: evaluate every outcome, merge equal neighbours."""
    out: list[RangePayout] = []
    for i, piece in enumerate(function.pieces):
        left, right = function.endpoints[i], function.endpoints[i + 1]
        evaluate = piece.evaluator(left, right)
        first = left.event_outcome if i == 0 else left.event_outcome + 1
        for x in range(first, right.event_outcome + 1):
            value = round_payout(evaluate(x), rounding.modulus_at(x), TOTAL)
            if out and out[-1].offer == value:
                out[-1] = RangePayout(out[-1].start, out[-1].count + 1, value)
            else:
                out.append(RangePayout(x, 1, value))
    return out


@settings(max_examples=80, deadline=None)
@given(functions())
def test_ranges_equal_the_outcome_by_outcome_evaluation(
    case: tuple[PayoutFunction, RoundingIntervals],
) -> None:
    function, rounding = case
    try:
        function.check(DOMAIN)
    except ContractError:
        assume(False)
    assert range_payouts(function, rounding, TOTAL) == _reference(function, rounding)


def test_hyperbola_with_an_extremum_is_split_there() -> None:
    # c and d of the same sign: y = t + 1e4 / t has a minimum at t = 100
    piece = HyperbolaPiece(True, *(FixedNumber.from_value(v) for v in (0, 0, 1, 0, 1, 10_000)))
    function = PayoutFunction((_point(1, 0), _point(DOMAIN, 0)), (piece,))
    assert piece.extrema(1, DOMAIN) == [pytest.approx(100.0)]
    assert range_payouts(function, RoundingIntervals(), TOTAL) == _reference(
        function, RoundingIntervals()
    )


def _line(*points: tuple[int, int]) -> PayoutFunction:
    return PayoutFunction(
        tuple(_point(x, y) for x, y in points), tuple(PolynomialPiece() for _ in points[1:])
    )


@pytest.mark.parametrize(
    ("function", "why"),
    [
        (PayoutFunction((_point(0, 0),), ()), "num_pieces"),
        (_line((0, 0), (600, 5), (500, 9), (DOMAIN, 1)), "strictly increase"),
        (_line((1, 0), (DOMAIN, 0)), "covers"),
        (_line((0, 0), (DOMAIN - 1, 0)), "covers"),
        (
            PayoutFunction(
                (_point(0, 0), _point(DOMAIN, 0)),
                (PolynomialPiece((_point(DOMAIN, 1),)),),
            ),
            "strictly increase",
        ),
        (
            PayoutFunction(
                (_point(0, 0), _point(DOMAIN, 0)),
                (HyperbolaPiece(True, *(FixedNumber.from_value(v) for v in (0, 0, 1, 2, 3, 6))),),
            ),
            "a\\*d equal to b\\*c",
        ),
        (
            PayoutFunction(
                (_point(0, 0), _point(DOMAIN, 0)),
                (HyperbolaPiece(True, *(FixedNumber.from_value(v) for v in (500, 0, 1, 4, 0, 1))),),
            ),
            "undefined",
        ),
        (
            PayoutFunction(
                (_point(0, 0), _point(DOMAIN, 0)),
                (HyperbolaPiece(True, *(FixedNumber.from_value(v) for v in (0, 0, 1, 0, 0, 1))),),
            ),
            "divides by zero",
        ),
    ],
)
def test_invalid_payout_functions(function: PayoutFunction, why: str) -> None:
    with pytest.raises(ContractError, match=why):
        function.check(DOMAIN)


def test_rounding_intervals_must_increase() -> None:
    bad = RoundingIntervals((RoundingInterval(10, 5), RoundingInterval(10, 7)))
    with pytest.raises(ContractError, match="strictly increase"):
        bad.check()
    with pytest.raises(ContractError, match="at least 1"):
        RoundingIntervals((RoundingInterval(0, 0),)).check()


def test_too_many_ranges_are_refused_early() -> None:
    function = _line((0, 0), (DOMAIN, TOTAL))
    with pytest.raises(ContractError, match="more than 10"):
        range_payouts(function, RoundingIntervals(), TOTAL, max_ranges=10)


def test_payout_function_round_trip() -> None:
    function = PayoutFunction(
        (_point(0, 0), _point(5, 7), _point(DOMAIN, 9)),
        (
            PolynomialPiece((PayoutPoint(2, 3, 40_000),)),
            HyperbolaPiece(True, *(FixedNumber.from_value(v) for v in (-1, 2, 1, -3, 4, -5))),
        ),
    )
    w = Writer()
    function.write(w)
    assert PayoutFunction.read(Reader(w.getvalue())) == function
