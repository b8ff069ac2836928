"""Bad input: a typed error with a stable reason code, and no state change."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tentenone.errors import (
    ConflictError,
    InvalidInput,
    NotFound,
    TentenoneError,
    error_class_for_code,
)
from tentenone_orderbook.errors import InvalidEngineState, OrderbookError
from tentenone_orderbook.margin import margin_sat
from tentenone_orderbook.market import MarketConfig
from tentenone_orderbook.matching import MatchingEngine
from tentenone_orderbook.orders import (
    AmendOrder,
    CancelOrder,
    DeclareMargin,
    OrderStatus,
    OrderType,
    PlaceOrder,
    Side,
    TimeInForce,
)

P = 6_000_000
CONFIG = MarketConfig("BTCUSD-VALID", lot_size=10, min_quantity=20, max_quantity=1_000_000)
GOOD = PlaceOrder("a", Side.BUY, 100, 2, price=P)


@pytest.fixture
def engine() -> MatchingEngine:
    e = MatchingEngine(CONFIG)
    e.declare_margin(DeclareMargin("a", 10**10))
    e.place(PlaceOrder("a", Side.SELL, 100, 2, price=P + 500))
    e.place(GOOD)
    return e


BAD_PLACES: list[tuple[dict[str, Any], str]] = [
    ({"quantity": 0}, "quantity_not_positive"),
    ({"quantity": -100}, "quantity_not_positive"),
    ({"quantity": 105}, "quantity_off_lot"),
    ({"quantity": 10}, "quantity_below_minimum"),
    ({"quantity": 1_000_010}, "quantity_above_maximum"),
    ({"quantity": "100"}, "invalid_field_type"),
    ({"quantity": 100.0}, "invalid_field_type"),
    ({"quantity": True}, "invalid_field_type"),
    ({"price": P + 1}, "price_off_tick"),
    ({"price": 0}, "price_not_positive"),
    ({"price": -50}, "price_not_positive"),
    ({"price": 10**13}, "price_above_maximum"),
    ({"price": None}, "price_required"),
    ({"price": "6000000"}, "invalid_field_type"),
    ({"leverage": 0}, "leverage_out_of_range"),
    ({"leverage": 11}, "leverage_out_of_range"),
    ({"leverage": 2.0}, "invalid_field_type"),
    ({"side": "buy"}, "invalid_field_type"),
    ({"side": None}, "invalid_field_type"),
    ({"time_in_force": "gtc"}, "invalid_field_type"),
    ({"order_type": "limit"}, "invalid_field_type"),
    ({"order_type": OrderType.MARKET}, "price_not_allowed"),
    ({"order_type": OrderType.MARKET, "price": None}, "invalid_time_in_force"),
    ({"trader_id": ""}, "invalid_field_type"),
    ({"trader_id": None}, "invalid_field_type"),
    ({"trader_id": "x" * 65}, "text_too_long"),
    ({"client_order_id": ""}, "invalid_field_type"),
    ({"client_order_id": "c" * 65}, "text_too_long"),
    ({"client_order_id": 12}, "invalid_field_type"),
    ({"trader_id": "nobody"}, "insufficient_margin"),
    ({"price": P + 500, "time_in_force": TimeInForce.POST_ONLY}, "post_only_would_take"),
    (
        {"price": P + 500, "quantity": 200, "time_in_force": TimeInForce.FOK},
        "fill_or_kill_unfilled",
    ),
]


@pytest.mark.parametrize(("change", "code"), BAD_PLACES, ids=[c for _, c in BAD_PLACES])
def test_bad_place_is_refused_with_its_code_and_changes_nothing(
    engine: MatchingEngine, change: dict[str, Any], code: str
) -> None:
    before = engine.snapshot()
    with pytest.raises(OrderbookError) as info:
        engine.place(replace(GOOD, **change))
    assert info.value.code == code
    assert engine.snapshot() == before
    assert engine.accounts() == list(before.accounts)
    assert engine.account("nobody").declared_sat == 0


def test_errors_belong_to_the_project_hierarchy() -> None:
    e = MatchingEngine(CONFIG)
    with pytest.raises(InvalidInput) as info:
        e.place(replace(GOOD, quantity=0))
    err = info.value
    assert isinstance(err, TentenoneError) and err.http_status == 422
    assert err.to_dict() == {
        "code": "quantity_not_positive",
        "message": "quantity must be positive, not 0",
        "details": {"field": "quantity", "value": 0},
    }
    assert error_class_for_code("quantity_not_positive") is type(err)
    with pytest.raises(NotFound):
        e.cancel(CancelOrder("a", 1))
    with pytest.raises(ConflictError):
        e.place(GOOD)  # no margin declared


BAD_AMENDS: list[tuple[dict[str, Any], str]] = [
    ({"quantity": None, "price": None}, "amend_empty"),
    ({"quantity": 0}, "quantity_not_positive"),
    ({"quantity": 15}, "quantity_off_lot"),
    ({"quantity": 2_000_000}, "quantity_above_maximum"),
    ({"quantity": "50"}, "invalid_field_type"),
    ({"price": P + 7}, "price_off_tick"),
    ({"price": 1.5}, "invalid_field_type"),
    ({"order_id": 999}, "order_not_found"),
    ({"order_id": "2"}, "invalid_field_type"),
    ({"trader_id": "b"}, "order_not_found"),
    ({"trader_id": 3}, "invalid_field_type"),
]


@pytest.mark.parametrize(("change", "code"), BAD_AMENDS, ids=[c for _, c in BAD_AMENDS])
def test_bad_amend_is_refused(engine: MatchingEngine, change: dict[str, Any], code: str) -> None:
    before = engine.snapshot()
    with pytest.raises(OrderbookError) as info:
        engine.amend(replace(AmendOrder("a", 2, quantity=50), **change))
    assert info.value.code == code
    assert engine.snapshot() == before


@pytest.mark.parametrize(
    ("cmd", "code"),
    [
        (CancelOrder("a", 999), "order_not_found"),
        (CancelOrder("b", 1), "order_not_found"),
        (CancelOrder("a", "1"), "invalid_field_type"),  # type: ignore[arg-type]
        (CancelOrder("a", None), "invalid_field_type"),  # type: ignore[arg-type]
        (DeclareMargin("a", -1), "margin_out_of_range"),
        (DeclareMargin("a", 21 * 10**14 + 1), "margin_out_of_range"),
        (DeclareMargin("a", 1.0), "invalid_field_type"),  # type: ignore[arg-type]
        (DeclareMargin("", 1), "invalid_field_type"),
        ("place", "invalid_field_type"),
        (None, "invalid_field_type"),
        (GOOD.__class__, "invalid_field_type"),
    ],
)
def test_bad_commands_are_refused(engine: MatchingEngine, cmd: Any, code: str) -> None:
    before = engine.snapshot()
    with pytest.raises(OrderbookError) as info:
        engine.apply(cmd)
    assert info.value.code == code
    assert engine.snapshot() == before


def test_each_command_method_checks_its_command_type(engine: MatchingEngine) -> None:
    before = engine.snapshot()
    for method, wrong in (
        (engine.place, CancelOrder("a", 1)),
        (engine.cancel, GOOD),
        (engine.amend, GOOD),
        (engine.declare_margin, GOOD),
    ):
        with pytest.raises(OrderbookError, match="expected a"):
            method(wrong)  # type: ignore[operator]
    with pytest.raises(OrderbookError):
        engine.depth(-1)
    assert engine.snapshot() == before


def test_an_error_message_names_the_field_and_the_limit() -> None:
    e = MatchingEngine(CONFIG)
    with pytest.raises(OrderbookError) as info:
        e.place(replace(GOOD, leverage=25))
    assert info.value.message == "leverage 25 is outside 1..10"
    assert info.value.details == {"field": "leverage", "value": 25, "min": 1, "max": 10}


def _crossing_bid(bid: Any) -> Any:
    return bid._replace(price=P + 1000, reserved_margin_sat=margin_sat(100, P + 1000, 2))


@pytest.mark.parametrize(
    "spoil",
    [
        lambda s: s._replace(market_id="OTHER"),
        lambda s: s._replace(seq=-1),
        lambda s: s._replace(next_order_id=1),
        lambda s: s._replace(orders=(s.orders[0]._replace(reserved_margin_sat=1), *s.orders[1:])),
        lambda s: s._replace(orders=(s.orders[0]._replace(price=P + 1), *s.orders[1:])),
        lambda s: s._replace(orders=(s.orders[0]._replace(status=OrderStatus.FILLED),)),
        lambda s: s._replace(orders=(s.orders[0], _crossing_bid(s.orders[1]))),
        lambda s: s._replace(orders=(*s.orders, s.orders[0])),
        lambda s: s._replace(orders=tuple(reversed(s.orders))),
        lambda s: s._replace(accounts=()),
        lambda s: s._replace(accounts=(s.accounts[0]._replace(reserved_sat=0),)),
        lambda s: s._replace(accounts=s.accounts * 2),
        lambda s: tuple(s),
    ],
)
def test_an_inconsistent_state_is_refused(engine: MatchingEngine, spoil: Any) -> None:
    with pytest.raises(InvalidEngineState):
        MatchingEngine(CONFIG, spoil(engine.snapshot()))
