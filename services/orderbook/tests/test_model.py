"""The engine against the reference model, for any sequence of commands (hypothesis)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from orderbook_model import ReferenceBook, Refused
from orderbook_strategies import CONFIG, commands, opening, resolve_owner

from tentenone_orderbook.accounts import AccountView
from tentenone_orderbook.errors import OrderbookError
from tentenone_orderbook.events import CommandResult, PriceLevel
from tentenone_orderbook.matching import MatchingEngine
from tentenone_orderbook.orders import OrderStatus, Side, can_transition


class _Observer:
    """What a consumer of the results can check without looking inside the engine."""

    def __init__(self) -> None:
        self.seq = 0
        self.levels: dict[Side, dict[int, tuple[int, int]]] = {Side.BUY: {}, Side.SELL: {}}
        self.filled: dict[int, int] = defaultdict(int)  # order id -> contracts in fills
        self.status: dict[int, OrderStatus] = {}

    def take(self, result: CommandResult) -> None:
        for d in result.deltas:
            assert d.seq == self.seq + 1, "book deltas must be numbered without gaps"
            self.seq = d.seq
            if d.quantity:
                self.levels[d.side][d.price] = (d.quantity, d.orders)
            else:
                assert d.orders == 0
                self.levels[d.side].pop(d.price, None)
        for f in result.fills:
            assert f.quantity > 0
            assert f.taker_trader_id != f.maker_trader_id, "self-trade"
            self.filled[f.taker_order_id] += f.quantity
            self.filled[f.maker_order_id] += f.quantity
            if f.maker_remaining == 0:
                self._move(f.maker_order_id, OrderStatus.FILLED)
            else:
                self._move(f.maker_order_id, OrderStatus.PARTIALLY_FILLED)
        for view in (*result.cancelled, result.order):
            # Quantity is conserved: what an order filled is exactly what its fills say.
            assert view.filled == self.filled[view.order_id]
            assert 0 <= view.filled <= view.quantity
            assert view.filled + view.remaining == view.quantity
            self._move(view.order_id, view.status)

    def _move(self, order_id: int, status: OrderStatus) -> None:
        old = self.status.get(order_id, OrderStatus.NEW)
        assert old == status or can_transition(old, status), f"{old!r} -> {status!r}"
        self.status[order_id] = status

    def depth(self, side: Side) -> tuple[PriceLevel, ...]:
        prices = sorted(self.levels[side], reverse=side is Side.BUY)
        return tuple(PriceLevel(p, *self.levels[side][p]) for p in prices)


def _run(engine: MatchingEngine, cmd: Any) -> tuple[Any, str | None]:
    try:
        return engine.apply(cmd), None
    except OrderbookError as exc:
        return None, exc.code


def _check_invariants(engine: MatchingEngine, model: ReferenceBook, seen: _Observer) -> None:
    depth = engine.depth()
    bid, ask = engine.best_bid(), engine.best_ask()
    assert bid is None or ask is None or bid < ask, "crossed book"
    assert (depth.bids, depth.asks) == model.depth()
    assert (depth.bids, depth.asks) == (seen.depth(Side.BUY), seen.depth(Side.SELL))
    assert depth.seq == seen.seq == model.seq
    state = engine.snapshot()
    assert list(state.orders) == model.book()
    assert list(state.accounts) == model.accounts()
    assert engine.coordinator_position == model.coordinator_position()
    assert sum(a.position for a in state.accounts) == 0, "every fill has two sides"
    for a in state.accounts:
        reserved = sum(o.reserved_margin_sat for o in state.orders if o.trader_id == a.trader_id)
        assert a.reserved_sat == reserved
    for o in state.orders:
        assert o.filled == seen.filled[o.order_id]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cmds=commands)
def test_engine_equals_reference_model(cmds: list[Any]) -> None:
    engine, model, seen = MatchingEngine(CONFIG), ReferenceBook(CONFIG), _Observer()
    for raw in [*opening, *cmds]:
        cmd = resolve_owner(raw, model.book())
        try:
            expected, expected_code = model.apply(cmd), None
        except Refused as refused:
            expected, expected_code = None, refused.code
        before = engine.snapshot()
        got, code = _run(engine, cmd)
        assert code == expected_code, cmd
        if code is not None:
            assert engine.snapshot() == before, "a refused command changed the state"
            continue
        assert got == expected, cmd
        if isinstance(got, CommandResult):
            seen.take(got)
        else:
            assert isinstance(got, AccountView)
        _check_invariants(engine, model, seen)
