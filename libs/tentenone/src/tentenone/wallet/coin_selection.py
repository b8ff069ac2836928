"""Coin selection: branch-and-bound for a change-free match, else largest-first with change.

Branch-and-bound is Murch's algorithm (as in Bitcoin Core's ``SelectCoinsBnB``):
search the coins by effective value (value minus the fee to spend it) for a
set whose sum lands in ``[target, target + cost_of_change]``, preferring the
least waste. If none exists, take the largest coins until the target and a
change output are covered. Change below the dust limit is never made: the
surplus goes to the fee instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tentenone.wallet.errors import InsufficientFunds, InvalidWalletInput

__all__ = ["Candidate", "Selection", "fee_for_weight", "select_coins"]

_BNB_TRIES = 100_000


def fee_for_weight(weight: int, fee_rate_kvb: int) -> int:
    """Fee in sat for ``weight`` weight units at ``fee_rate_kvb`` sat per 1000 vbytes."""
    vbytes = (weight + 3) // 4
    return (vbytes * fee_rate_kvb + 999) // 1000


@dataclass(frozen=True, slots=True)
class Candidate:
    """A coin that may be spent; ``key`` identifies it to the caller (e.g. an outpoint)."""

    key: str
    value: int
    input_weight: int


@dataclass(frozen=True, slots=True)
class Selection:
    coins: tuple[Candidate, ...]
    fee: int
    change: int
    """Change amount in sat; 0 means no change output."""


def select_coins(
    candidates: Sequence[Candidate],
    *,
    target: int,
    base_weight: int,
    fee_rate_kvb: int,
    change_output_weight: int,
    change_spend_weight: int,
    dust_limit: int,
    long_term_fee_rate_kvb: int | None = None,
) -> Selection:
    """Choose coins paying ``target`` sat plus the fee at ``fee_rate_kvb``.

    ``base_weight`` is the weight of the transaction without inputs and
    without a change output (version, counts, locktime, segwit marker,
    the payment outputs). Raises ``InsufficientFunds`` if the coins cannot pay.
    """
    if target <= 0 or fee_rate_kvb <= 0:
        raise InvalidWalletInput("target and fee rate must be positive")
    long_term = fee_rate_kvb if long_term_fee_rate_kvb is None else long_term_fee_rate_kvb
    base_fee = fee_for_weight(base_weight, fee_rate_kvb)
    usable = [c for c in candidates if c.value > fee_for_weight(c.input_weight, fee_rate_kvb)]
    cost_of_change = fee_for_weight(change_output_weight, fee_rate_kvb) + fee_for_weight(
        change_spend_weight, long_term
    )
    exact = _branch_and_bound(usable, target + base_fee, cost_of_change, fee_rate_kvb, long_term)
    if exact is not None:
        total = sum(c.value for c in exact)
        return Selection(tuple(exact), total - target, 0)
    return _largest_first(
        usable, target, base_weight, fee_rate_kvb, change_output_weight, dust_limit, candidates
    )


def _effective(coin: Candidate, fee_rate_kvb: int) -> int:
    return coin.value - fee_for_weight(coin.input_weight, fee_rate_kvb)


def _branch_and_bound(
    coins: Sequence[Candidate],
    target: int,
    cost_of_change: int,
    fee_rate: int,
    long_term: int,
) -> list[Candidate] | None:
    """Depth-first search, include-first, over coins by descending effective value."""
    pool = sorted(coins, key=lambda c: _effective(c, fee_rate), reverse=True)
    values = [_effective(c, fee_rate) for c in pool]
    waste_per = [
        fee_for_weight(c.input_weight, fee_rate) - fee_for_weight(c.input_weight, long_term)
        for c in pool
    ]
    suffix = [0] * (len(pool) + 1)
    for i in reversed(range(len(pool))):
        suffix[i] = suffix[i + 1] + values[i]
    best: tuple[int, ...] | None = None
    best_waste = 0
    stack: list[tuple[int, int, int, tuple[int, ...]]] = [(0, 0, 0, ())]
    tries = 0
    while stack and tries < _BNB_TRIES:
        tries += 1
        index, value, waste, chosen = stack.pop()
        if value > target + cost_of_change:
            continue
        if value >= target:
            total_waste = waste + value - target
            if best is None or total_waste < best_waste:
                best, best_waste = chosen, total_waste
            continue
        if index >= len(pool) or value + suffix[index] < target:
            continue
        if best is not None and fee_rate > long_term and waste > best_waste:
            continue
        stack.append((index + 1, value, waste, chosen))
        stack.append((index + 1, value + values[index], waste + waste_per[index], (*chosen, index)))
    return None if best is None else [pool[i] for i in best]


def _largest_first(
    coins: Sequence[Candidate],
    target: int,
    base_weight: int,
    fee_rate: int,
    change_output_weight: int,
    dust_limit: int,
    all_candidates: Sequence[Candidate],
) -> Selection:
    chosen: list[Candidate] = []
    total = 0
    weight = base_weight
    for coin in sorted(coins, key=lambda c: c.value, reverse=True):
        chosen.append(coin)
        total += coin.value
        weight += coin.input_weight
        fee_no_change = fee_for_weight(weight, fee_rate)
        if total < target + fee_no_change:
            continue
        fee_with_change = fee_for_weight(weight + change_output_weight, fee_rate)
        change = total - target - fee_with_change
        if change >= dust_limit:
            return Selection(tuple(chosen), fee_with_change, change)
        # Change would be dust: give the surplus to the fee rather than make it.
        return Selection(tuple(chosen), total - target, 0)
    available = sum(c.value for c in all_candidates)
    needed = target + fee_for_weight(weight, fee_rate)
    raise InsufficientFunds(
        f"cannot pay {target} sat plus fees at {fee_rate} sat/kvB: {available} sat spendable, "
        f"about {needed} sat needed"
    )
