"""The product curve: coverage, collateral, monotonicity, clamps, CET count."""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tentenone.dlc.cets import CetPlan, plan_cets
from tentenone.dlc.contract import ContractEvent, SingleContractInfo, SingleOracleInfo
from tentenone.dlc.curve import (
    SATS_PER_BTC,
    CurveContract,
    InverseFuture,
    Party,
    Side,
    build_inverse_future,
)
from tentenone.dlc.decomposition import prefix_interval
from tentenone.dlc.errors import ContractError

DIGITS = 20
MAX_PRICE = 2**DIGITS - 1


def _plan(contract: CurveContract, announcement: Any) -> CetPlan:
    info = SingleContractInfo(
        contract.total_collateral,
        ContractEvent(contract.descriptor, SingleOracleInfo(announcement)),
    )
    return plan_cets(info)


def _exact_offer_payout(position: InverseFuture, contract: CurveContract, price: int) -> Fraction:
    q = Fraction(position.quantity * SATS_PER_BTC)
    pnl = q / Fraction(position.entry_price) - q / price
    if position.offer_side is Side.SHORT:
        pnl = -pnl
    fee = position.fee if position.fee_payer is Party.ACCEPTER else -position.fee
    value = contract.offer_collateral + pnl + fee
    return min(max(value, Fraction(0)), Fraction(contract.total_collateral))


positions = st.builds(
    InverseFuture,
    offer_side=st.sampled_from(list(Side)),
    quantity=st.integers(min_value=10, max_value=5_000_000),
    entry_price=st.fractions(min_value=1_000, max_value=400_000, max_denominator=100),
    offer_leverage=st.sampled_from([1, 2, Fraction(5, 2), 3, 5, 10]),
    accept_leverage=st.sampled_from([2, 3, 5, 10]),
    fee=st.integers(min_value=0, max_value=2_000),
    fee_payer=st.sampled_from(list(Party)),
    max_cets=st.integers(min_value=200, max_value=3_000),
)


@settings(max_examples=25, deadline=None)
@given(position=positions)
def test_curve_properties(position: InverseFuture, announcement_factory: Any) -> None:
    contract = build_inverse_future(position)
    plan = _plan(contract, announcement_factory(DIGITS))
    total = contract.total_collateral

    # every outcome 0..2^20-1 is covered exactly once by the CETs' digit prefixes
    intervals = sorted(
        (*prefix_interval(tuple(int(d) for d in e.oracles[0].messages), 2, DIGITS), e.cet_index)
        for e in plan.entries
    )
    assert intervals[0][0] == 0 and intervals[-1][1] == MAX_PRICE
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(intervals))

    # payouts always sum to the total collateral and stay within it
    assert all(p.offer + p.accept == total for p in plan.payouts)
    assert all(0 <= p.offer <= total for p in plan.payouts)

    # CET payouts in price order are monotone (the curve between the clamps)
    cet_order = list(dict.fromkeys(i[2] for i in intervals))
    offers = [plan.payouts[c].offer for c in cet_order]
    increasing = position.offer_side is Side.LONG
    assert offers == sorted(offers, reverse=not increasing)

    # flat beyond the liquidation prices, at exactly 0 and the total collateral
    low, high = (0, total) if increasing else (total, 0)
    assert offers[0] == low
    if contract.high_flat_start is not None:
        assert offers[-1] == high

    # between the clamps the payout is the exact P&L up to the rounding modulus
    modulus = contract.descriptor.rounding_intervals.intervals[1].rounding_mod
    by_start = {i[0]: i for i in intervals}
    starts = sorted(by_start)
    for price in (contract.low_flat_end + 1, (contract.low_flat_end + MAX_PRICE) // 2, MAX_PRICE):
        start = max(s for s in starts if s <= price)
        paid = plan.payouts[by_start[start][2]].offer
        assert abs(paid - _exact_offer_payout(position, contract, price)) <= modulus


def test_5x_20_digit_contract_has_cets_in_the_low_thousands(
    announcement_factory: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    position = InverseFuture(Side.LONG, 10_000, 50_000, 5, 5)
    contract = build_inverse_future(position)
    plan = _plan(contract, announcement_factory(DIGITS))
    with capsys.disabled():
        print(
            f"\n5x long, 10000 USD at 50000, 20 digits: {len(plan.payouts)} CETs, "
            f"{len(plan.entries)} adaptor signatures"
        )
    assert 1_000 <= len(plan.payouts) <= 4_000


def test_margins_and_liquidation_prices() -> None:
    contract = build_inverse_future(InverseFuture(Side.LONG, 10_000, 50_000, 5, 5))
    # margin = notional / leverage = 0.2 BTC / 5
    assert contract.offer_collateral == contract.accept_collateral == 4_000_000
    # long liquidates at E*L/(L+1), short at E*L/(L-1)
    assert contract.low_flat_end == 41_666
    assert contract.high_flat_start == 62_500


def test_fee_moves_liquidation_price_of_the_payer() -> None:
    free = build_inverse_future(InverseFuture(Side.LONG, 10_000, 50_000, 5, 5))
    paid = build_inverse_future(
        InverseFuture(Side.LONG, 10_000, 50_000, 5, 5, fee=100_000, fee_payer=Party.OFFERER)
    )
    assert paid.low_flat_end > free.low_flat_end


def test_short_never_liquidated_at_1x_runs_to_the_end_of_the_domain() -> None:
    contract = build_inverse_future(InverseFuture(Side.LONG, 10_000, 50_000, 5, 1))
    assert contract.high_flat_start is None


@pytest.mark.parametrize(
    "position",
    [
        InverseFuture(Side.LONG, 0, 50_000, 5, 5),
        InverseFuture(Side.LONG, 10, 1, 5, 5),
        InverseFuture(Side.LONG, 10, 50_000, Fraction(1, 2), 5),
        InverseFuture(Side.LONG, 10, 50_000, 5, 5, fee=-1),
        InverseFuture(Side.LONG, 10, 50_000, 5, 5, rounding_mod=0),
        InverseFuture(Side.LONG, 10_000, 50_000, 5, 5, nb_digits=10),
    ],
)
def test_bad_positions_are_refused(position: InverseFuture) -> None:
    with pytest.raises(ContractError):
        build_inverse_future(position)
