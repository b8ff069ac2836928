"""trade.matched bodies become one leg per trader (never one for the house)."""

from __future__ import annotations

import pytest

from tentenone.dlc.curve import Side
from tentenone.errors import InvalidInput
from tentenone_dlc.coordinator import parse_matched_trade

BODY = {
    "trade_id": 7,
    "market": "btcusd1764316800",
    "price": 5_000_000,
    "quantity": 1_000,
    "taker_side": "sell",
    "taker_trader_id": "a" * 64,
    "taker_order_id": 11,
    "taker_fee_sat": 300,
    "taker_margin_sat": 400_000,
    "maker_trader_id": "b" * 64,
    "maker_order_id": 12,
    "maker_fee_sat": 100,
    "maker_leverage": 2,
}


def test_both_legs_with_sides_and_leverage() -> None:
    taker, maker = parse_matched_trade(BODY, house=())
    assert (taker.side, taker.leverage, taker.fee_sat) == (Side.SHORT, 5, 300)
    assert (maker.side, maker.leverage, maker.fee_sat) == (Side.LONG, 2, 100)
    assert taker.trade_id == maker.trade_id == "7" and taker.order_id == "11"


def test_the_house_gets_no_contract_with_itself() -> None:
    [leg] = parse_matched_trade(BODY, house=("b" * 64,))
    assert leg.trader_pubkey == "a" * 64


@pytest.mark.parametrize("broken", [{"taker_side": "up"}, {"price": "x"}, {"trade_id": None}])
def test_a_body_that_is_not_a_fill_is_refused(broken: dict[str, object]) -> None:
    body = {**BODY, **broken}
    if broken.get("trade_id", 0) is None:
        del body["trade_id"]
    with pytest.raises(InvalidInput, match="not a fill"):
        parse_matched_trade(body, house=())


def test_an_account_that_is_neither_a_key_nor_the_house_is_refused() -> None:
    body = {**BODY, "maker_trader_id": "house"}
    with pytest.raises(InvalidInput, match="neither a trader's x-only key"):
        parse_matched_trade(body, house=())
    [leg] = parse_matched_trade(body, house=("house",))
    assert leg.trader_pubkey == "a" * 64
