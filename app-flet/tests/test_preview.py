"""The ticket's margin and liquidation price agree with the inverse future's formulas."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest

from tentenone.errors import InvalidInput
from tentenone_app.preview import pnl_sat, preview
from tentenone_app.settings import AppSettings
from tentenone_app.views.settings import absence_text


@pytest.mark.parametrize("leverage", [1, 2, 3, 5, 7, 10])
@pytest.mark.parametrize("price", [Decimal("90000"), Decimal("31234.56")])
def test_long_and_short(leverage: int, price: Decimal) -> None:
    quantity = 1500
    notional = Fraction(quantity * 100_000_000) / Fraction(price)
    margin = math.ceil(notional / leverage)
    # A long loses its margin where q/entry - q/p = -margin: p = entry * L / (L + 1).
    long_liq = Fraction(price) * leverage / (leverage + 1)
    buy = preview("buy", quantity, price, leverage)
    assert buy.margin_sat == margin
    assert buy.liquidation_price is not None
    assert abs(buy.liquidation_price - long_liq) <= 1
    sell = preview("sell", quantity, price, leverage)
    assert sell.margin_sat == margin
    if leverage == 1:
        assert sell.liquidation_price is None
    else:
        assert sell.liquidation_price is not None
        short_liq = Fraction(price) * leverage / (leverage - 1)
        assert abs(sell.liquidation_price - short_liq) <= 1


@pytest.mark.parametrize(
    ("side", "quantity", "price", "leverage", "word"),
    [
        ("hold", 10, Decimal(90000), 2, "side"),
        ("buy", 0, Decimal(90000), 2, "quantity"),
        ("buy", 10, Decimal(0), 2, "price"),
        ("buy", 10, Decimal(90000), 11, "leverage"),
    ],
)
def test_bad_values_are_named(
    side: str, quantity: int, price: Decimal, leverage: int, word: str
) -> None:
    with pytest.raises(InvalidInput, match=word):
        preview(side, quantity, price, leverage)


def test_pnl_signs() -> None:
    assert pnl_sat("buy", 1000, Decimal(50000), Decimal(100000)) == 1_000_000
    assert pnl_sat("sell", 1000, Decimal(50000), Decimal(100000)) == -1_000_000


def test_absence_is_shown_in_days() -> None:
    settings = AppSettings()
    text = absence_text(settings.to_self_delay_blocks, settings.block_interval_s)
    assert "2,016 blocks" in text and "14 days" in text
