"""Multi-oracle combinations (MultiOracle.md)."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tentenone.dlc.decomposition import group_by_ignoring_digits, prefix_interval
from tentenone.dlc.errors import ContractError
from tentenone.dlc.multi_oracle import oracle_combinations, outcome_combinations


@pytest.mark.parametrize(("n", "t"), [(1, 1), (3, 2), (5, 3), (5, 5), (6, 1)])
def test_oracle_combinations_are_all_t_subsets_in_order(n: int, t: int) -> None:
    combos = oracle_combinations(n, t)
    assert len(combos) == math.comb(n, t)
    assert combos == sorted(combos)
    assert all(len(set(c)) == t and list(c) == sorted(c) for c in combos)


def test_bad_thresholds_are_refused() -> None:
    for n, t in [(3, 0), (3, 4)]:
        with pytest.raises(ContractError):
            oracle_combinations(n, t)


NB_DIGITS = 8


@st.composite
def contracts(draw: st.DrawFn) -> tuple[list[tuple[int, int]], int, int, bool]:
    """A partition of the 8-digit domain into CET ranges, and error bounds."""
    cuts = draw(st.sets(st.integers(min_value=1, max_value=2**NB_DIGITS - 1), max_size=20))
    bounds = [0, *sorted(cuts), 2**NB_DIGITS]
    max_error_exp = draw(st.integers(min_value=1, max_value=6))
    min_support_exp = draw(st.integers(min_value=0, max_value=max_error_exp - 1))
    ranges = [(a, b - 1) for a, b in pairwise(bounds)]
    return ranges, max_error_exp, min_support_exp, draw(st.booleans())


@settings(max_examples=40, deadline=None)
@given(contracts())
def test_two_oracles_with_bounded_error(case: tuple[list[tuple[int, int]], int, int, bool]) -> None:
    """Over every (primary, secondary) outcome pair: each is covered at most once;
    every pair differing by at most minSupport is covered; pairs in different
    prefixes never differ by maxError or more."""
    ranges, max_error_exp, min_support_exp, maximize = case
    size = 2**NB_DIGITS
    cover = [bytearray(size) for _ in range(size)]
    for start, end in ranges:
        for prefix in group_by_ignoring_digits(start, end, 2, NB_DIGITS):
            for primary, secondary in outcome_combinations(
                NB_DIGITS, prefix, max_error_exp, min_support_exp, maximize, 2
            ):
                xs = prefix_interval(primary, 2, NB_DIGITS)
                ys = prefix_interval(secondary, 2, NB_DIGITS)
                if primary != secondary:
                    assert max(xs[1] - ys[0], ys[1] - xs[0]) < 2**max_error_exp
                for x in range(xs[0], xs[1] + 1):
                    row = cover[x]
                    for y in range(ys[0], ys[1] + 1):
                        row[y] += 1
    assert max(max(row) for row in cover) == 1
    support = 2**min_support_exp
    for x in range(size):
        for y in range(max(0, x - support), min(size, x + support + 1)):
            assert cover[x][y] == 1, f"difference {abs(x - y)} at ({x}, {y}) not supported"


@pytest.mark.parametrize("threshold", [2, 3, 4])
def test_n_of_n_multipliers(threshold: int) -> None:
    """Small non-middle intervals give 2^(n-1) tuples, middle ones 1, large ones
    2^n - 1 (MultiOracle.md "n-of-n Oracles with Bounded Error")."""
    n = 12
    middle = (0, 1, 0, 1, 0, 1, 1, 0, 1, 1, 0)  # far from the maxError block edges
    edge = (0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0)  # at a block's left edge
    large = (0, 1, 1)
    assert len(outcome_combinations(n, middle, 6, 2, True, threshold)) == 1
    assert len(outcome_combinations(n, edge, 6, 2, True, threshold)) == 2 ** (threshold - 1)
    assert len(outcome_combinations(n, large, 6, 2, True, threshold)) == 2**threshold - 1
    for combo in outcome_combinations(n, edge, 6, 2, False, threshold):
        assert len(combo) == threshold


def test_parameters_are_checked() -> None:
    with pytest.raises(ContractError):
        outcome_combinations(8, (0, 1), 2, 2, True, 2)  # minSupport must be < maxError
    with pytest.raises(ContractError):
        outcome_combinations(8, (0, 1), 9, 2, True, 2)  # maxError beyond the digits
