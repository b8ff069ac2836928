"""What an order commits the trader to, shown before it is sent.

The figures come from the DLC library's payout curve (``tentenone.dlc.curve``),
the same one the contract will be built from, so the screen and the contract
cannot disagree: the margin is the trader's collateral, the liquidation price
the edge of the flat part of the trader's payout (beyond it the trader's
payout is zero and the position cannot lose more).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tentenone.dlc.curve import InverseFuture, Side, build_inverse_future
from tentenone.dlc.errors import ContractError
from tentenone.errors import InvalidInput

__all__ = ["OrderPreview", "pnl_sat", "preview"]

#: the coordinator's leverage does not move the trader's own liquidation price;
#: 1x keeps the coordinator's side solvent across the whole price domain
_COORDINATOR_LEVERAGE = 1


@dataclass(frozen=True, slots=True)
class OrderPreview:
    side: str
    quantity: int
    price: Decimal
    leverage: int
    margin_sat: int
    #: whole USD; None when this side cannot be liquidated (a 1x short)
    liquidation_price: int | None


def preview(side: str, quantity: int, price: Decimal, leverage: int) -> OrderPreview:
    """The margin and liquidation price of ``quantity`` contracts at ``price``, ``leverage``x.

    Raises ``InvalidInput`` naming the value that makes no contract.
    """
    if side not in ("buy", "sell"):
        raise InvalidInput(f"side must be buy or sell, not {side!r}")
    if not 1 <= leverage <= 10:
        raise InvalidInput(f"leverage must be 1 to 10, not {leverage}")
    if quantity <= 0:
        raise InvalidInput(f"quantity must be a positive number of USD contracts, not {quantity}")
    if price <= 0:
        raise InvalidInput(f"price must be positive, not {price}")
    trader_long = side == "buy"
    # The coordinator offers the contract; the trader accepts it.
    position = InverseFuture(
        offer_side=Side.SHORT if trader_long else Side.LONG,
        quantity=quantity,
        entry_price=price,
        offer_leverage=_COORDINATOR_LEVERAGE,
        accept_leverage=leverage,
    )
    try:
        curve = build_inverse_future(position)
    except ContractError as exc:
        raise InvalidInput(f"no contract for these values: {exc}") from exc
    # The offerer's payout is flat (all to the offerer) below low_flat_end when the
    # offerer is short, and above high_flat_start when it is long.
    liquidation = curve.low_flat_end if trader_long else curve.high_flat_start
    return OrderPreview(
        side=side,
        quantity=quantity,
        price=price,
        leverage=leverage,
        margin_sat=position.margin(leverage),
        liquidation_price=liquidation,
    )


def pnl_sat(side: str, quantity: int, entry: Decimal, mark: Decimal) -> int:
    """The P&L of a position at ``mark`` before the clamp: ``quantity * (1/entry - 1/mark)`` BTC.

    Positive for a long when the price rose; the contract clamps it to the
    margins, which :func:`preview`'s liquidation price shows.
    """
    if entry <= 0 or mark <= 0:
        raise InvalidInput(f"prices must be positive: entry {entry}, mark {mark}")
    gain = Decimal(quantity) * (1 / entry - 1 / mark) * 100_000_000
    return int(gain if side in ("buy", "long") else -gain)
