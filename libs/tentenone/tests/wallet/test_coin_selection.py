from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tentenone.wallet import Candidate, InsufficientFunds, fee_for_weight, select_coins

IN_W = 272  # P2WPKH input
CHANGE_W = 124  # P2WPKH output
BASE_W = 42 + 124
DUST = 294


def _select(values: list[int], target: int, rate: int = 2000):
    return select_coins(
        [Candidate(f"c{i}", v, IN_W) for i, v in enumerate(values)],
        target=target,
        base_weight=BASE_W,
        fee_rate_kvb=rate,
        change_output_weight=CHANGE_W,
        change_spend_weight=IN_W,
        dust_limit=DUST,
    )


def test_exact_match_needs_no_change() -> None:
    rate = 2000
    target = 50_000
    fee = fee_for_weight(BASE_W + IN_W, rate)
    # One coin that pays target + fee exactly; a large one that would need change.
    selection = _select([1_000_000, target + fee, 10_000], target, rate)
    assert [c.key for c in selection.coins] == ["c1"]
    assert selection.change == 0 and selection.fee == fee


def test_falls_back_to_change_when_no_exact_match() -> None:
    selection = _select([1_000_000], 50_000)
    assert selection.change > DUST
    assert sum(c.value for c in selection.coins) == 50_000 + selection.fee + selection.change


def test_dust_change_goes_to_fee() -> None:
    rate = 1000
    fee = fee_for_weight(BASE_W + IN_W + CHANGE_W, rate)
    coin = 50_000 + fee + DUST - 1 + 300  # change would be just below dust + change cost window
    selection = _select([coin], 50_000, rate)
    assert selection.change == 0 or selection.change >= DUST
    assert sum(c.value for c in selection.coins) == 50_000 + selection.fee + selection.change


def test_insufficient_funds_is_typed_and_explains() -> None:
    with pytest.raises(InsufficientFunds, match="spendable") as info:
        _select([1000, 2000], 50_000)
    assert info.value.code == "wallet_insufficient_funds"


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.integers(min_value=1, max_value=2_000_000), min_size=1, max_size=12),
    target=st.integers(min_value=1000, max_value=3_000_000),
    rate=st.integers(min_value=1000, max_value=50_000),
)
def test_selection_always_balances_and_never_makes_dust(
    values: list[int], target: int, rate: int
) -> None:
    try:
        selection = _select(values, target, rate)
    except InsufficientFunds:
        usable = [v for v in values if v > fee_for_weight(IN_W, rate)]
        assert sum(usable) < target + fee_for_weight(BASE_W + IN_W * len(usable), rate)
        return
    spent = sum(c.value for c in selection.coins)
    assert spent == target + selection.fee + selection.change
    assert selection.change == 0 or selection.change >= DUST
    weight = BASE_W + IN_W * len(selection.coins) + (CHANGE_W if selection.change else 0)
    assert selection.fee >= fee_for_weight(weight, rate)
    assert len({c.key for c in selection.coins}) == len(selection.coins)
