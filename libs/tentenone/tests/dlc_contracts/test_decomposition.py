"""Digit decomposition and CET compression (NumericOutcomeCompression.md)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tentenone.dlc.decomposition import (
    compose,
    decompose,
    group_by_ignoring_digits,
    prefix_interval,
)
from tentenone.dlc.errors import ContractError


def _digits(text: str) -> tuple[int, ...]:
    return tuple(int(c) for c in text.rstrip("_"))


def test_spec_concrete_example_base_10() -> None:
    # NumericOutcomeCompression.md, [135677, 138621]: 5677, 8621 and the
    # groupings listed there, all prefixed by 13
    groups = """5677 5678 5679 568_ 569_ 57__ 58__ 59__ 6___ 7___
        80__ 81__ 82__ 83__ 84__ 85__ 860_ 861_ 8620 8621"""
    expected = [(1, 3, *_digits(g)) for g in groups.split()]
    assert group_by_ignoring_digits(135677, 138621, 10, 6) == expected
    assert len(expected) == 20


def test_spec_concrete_example_base_2() -> None:
    # The example lists 8620 and 8621 apart (14 signatures, before the
    # "endpoint optimization" is introduced); with it they share 1000011010110_.
    groups = """01011000101101 0101100010111_ 0101100011____ 01011001______ 0101101_______
        010111________ 011___________ 100000________ 1000010_______ 100001100_____
        10000110100___ 100001101010__ 10000110101100 10000110101101"""
    expected = [_digits(g) for g in groups.split()[:-2]] + [_digits("1000011010110_")]
    assert group_by_ignoring_digits(5677, 8621, 2, 14) == expected


def test_spec_endpoint_and_total_optimizations() -> None:
    # [2200, 4999]: "replace the first two rows with a single 22__ and the last 3 rows with 4___"
    expected = [(2, d) for d in range(2, 10)] + [(3,), (4,)]
    assert group_by_ignoring_digits(2200, 4999, 10, 4) == expected
    # total optimization: only the shared prefix
    assert group_by_ignoring_digits(1200, 1299, 10, 4) == [(1, 2)]
    assert group_by_ignoring_digits(7, 7, 10, 4) == [(0, 0, 0, 7)]


@st.composite
def intervals(draw: st.DrawFn) -> tuple[int, int, int, int]:
    base = draw(st.integers(min_value=2, max_value=16))
    nb_digits = draw(st.integers(min_value=1, max_value=12 if base == 2 else 5))
    top = base**nb_digits - 1
    a = draw(st.integers(min_value=0, max_value=top))
    b = draw(st.integers(min_value=0, max_value=top))
    return min(a, b), max(a, b), base, nb_digits


@settings(max_examples=300, deadline=None)
@given(intervals())
def test_compression_covers_exactly_with_maximal_blocks(case: tuple[int, int, int, int]) -> None:
    start, end, base, nb_digits = case
    prefixes = group_by_ignoring_digits(start, end, base, nb_digits)
    blocks = [prefix_interval(p, base, nb_digits) for p in prefixes]
    # exactly [start, end], in order, no overlap, no gap
    assert blocks[0][0] == start and blocks[-1][1] == end
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(blocks))
    # each block is maximal: its parent block would leave the interval, so no
    # cover with fewer aligned blocks exists
    for prefix in prefixes:
        if prefix:
            lo, hi = prefix_interval(prefix[:-1], base, nb_digits)
            assert lo < start or hi > end


@settings(max_examples=300, deadline=None)
@given(base=st.integers(min_value=2, max_value=36), data=st.data())
def test_decompose_compose_round_trip(base: int, data: st.DataObject) -> None:
    nb_digits = data.draw(st.integers(min_value=1, max_value=20))
    value = data.draw(st.integers(min_value=0, max_value=base**nb_digits - 1))
    digits = decompose(value, base, nb_digits)
    assert len(digits) == nb_digits and all(0 <= d < base for d in digits)
    assert compose(digits, base) == value


def test_whole_domain_is_the_empty_prefix() -> None:
    assert group_by_ignoring_digits(0, 1023, 2, 10) == [()]


@pytest.mark.parametrize(
    "args",
    [(5, 4, 2, 10), (0, 1024, 2, 10), (-1, 3, 2, 10), (0, 3, 1, 10)],
)
def test_out_of_domain_intervals_are_refused(args: tuple[int, int, int, int]) -> None:
    with pytest.raises(ContractError):
        group_by_ignoring_digits(*args)
