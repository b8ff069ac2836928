"""Undoing a fill whose DLC was released: which accounts it moved, and by how much.

The DLC service publishes ``dlc.released`` (trade, trader, reason) for a
trader's side of a fill that was never signed. That side never became a
position, so the trader's account stops counting it; when the other side was
the house (which has no DLC of its own), the house's account too. A trader
on the other side has its own DLC and its own release, if any.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["Leg", "legs_to_release"]


class Leg(NamedTuple):
    """What one side of a fill added to its trader's account."""

    trader_id: str
    order_id: int
    position: int  # signed: + bought, - sold
    margin_sat: int
    fee_sat: int


def _leg(fill: dict[str, Any], role: str, taker_sign: int) -> Leg:
    sign = taker_sign if role == "taker" else -taker_sign
    return Leg(
        fill[f"{role}_trader_id"],
        fill[f"{role}_order_id"],
        sign * fill["quantity"],
        fill[f"{role}_margin_sat"],
        fill[f"{role}_fee_sat"],
    )


def legs_to_release(fill: dict[str, Any], trader_id: str, house: frozenset[str]) -> list[Leg]:
    """The trader's side of ``fill`` first, then the house's if it was the other side.

    Empty when the trader is not a side of the fill (nothing to undo).
    """
    taker_sign = 1 if fill["taker_side"] == "buy" else -1
    if fill["taker_trader_id"] == trader_id:
        roles = ("taker", "maker")
    elif fill["maker_trader_id"] == trader_id:
        roles = ("maker", "taker")
    else:
        return []
    mine, other = (_leg(fill, role, taker_sign) for role in roles)
    return [mine, other] if other.trader_id in house else [mine]
