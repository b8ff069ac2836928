"""Margin and fees of an inverse BTC/USD future, in whole satoshis.

A contract is worth 1 USD; its value in bitcoin is ``1 / price``. With the
price in US cents:

    notional_sat = quantity * 100 / price_cents * 1e8 = quantity * 10**10 / price_cents
    margin_sat   = notional_sat / leverage
    fee_sat      = notional_sat * bps / 10_000 = quantity * bps * 10**6 / price_cents

Rounding: margin and fee are rounded up to the next satoshi, so the trader
always puts up (and pays) at least the exact amount and the coordinator is
never short by a rounding.
"""

from __future__ import annotations

from typing import Final

__all__ = ["SAT_PER_USD_CENT_NUMERATOR", "fee_sat", "margin_sat", "notional_sat"]

#: quantity * 10**10 / price_cents is the notional in satoshis.
SAT_PER_USD_CENT_NUMERATOR: Final = 10**10
_FEE_NUMERATOR: Final = 10**6


def notional_sat(quantity: int, price_cents: int) -> int:
    """Value of ``quantity`` contracts at ``price_cents``, rounded up."""
    return -(-quantity * SAT_PER_USD_CENT_NUMERATOR // price_cents)


def margin_sat(quantity: int, price_cents: int, leverage: int) -> int:
    """Margin of ``quantity`` contracts at ``price_cents`` and ``leverage``, rounded up."""
    return -(-quantity * SAT_PER_USD_CENT_NUMERATOR // (price_cents * leverage))


def fee_sat(quantity: int, price_cents: int, bps: int) -> int:
    """Fee of ``bps`` basis points of the notional, rounded up."""
    return -(-quantity * bps * _FEE_NUMERATOR // price_cents)
