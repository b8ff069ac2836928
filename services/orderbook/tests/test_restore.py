"""An engine rebuilt from its persisted state equals the one it was, now and for any future."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from orderbook_strategies import CONFIG, commands, opening, resolve_owner

from tentenone_orderbook.errors import OrderbookError
from tentenone_orderbook.matching import MatchingEngine


def _apply(engine: MatchingEngine, cmd: Any) -> Any:
    try:
        return engine.apply(cmd)
    except OrderbookError as exc:
        return exc.code


def _same(a: MatchingEngine, b: MatchingEngine) -> None:
    assert a.snapshot() == b.snapshot()
    assert a.depth() == b.depth()
    assert a.coordinator_position == b.coordinator_position
    assert (a.best_bid(), a.best_ask()) == (b.best_bid(), b.best_ask())
    for view in a.snapshot().orders:
        assert a.orders_of(view.trader_id) == b.orders_of(view.trader_id)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=commands, after=commands, cut=st.integers(0, 3))
def test_rebuilt_engine_behaves_identically(before: list[Any], after: list[Any], cut: int) -> None:
    original = MatchingEngine(CONFIG)
    for cmd in [*opening, *before]:
        _apply(original, resolve_owner(cmd, original.snapshot().orders))
    rebuilt = MatchingEngine(CONFIG, original.snapshot())
    _same(original, rebuilt)
    # Rebuilding a rebuilt engine changes nothing either.
    _same(rebuilt, MatchingEngine(CONFIG, rebuilt.snapshot()))
    for cmd in after:
        cmd = resolve_owner(cmd, original.snapshot().orders)
        assert _apply(original, cmd) == _apply(rebuilt, cmd)
    _same(original, rebuilt)


def test_rebuild_after_many_cancels_keeps_queue_order() -> None:
    """Lazily deleted queue entries must not leak into the rebuilt book's order."""
    from tentenone_orderbook.orders import CancelOrder, DeclareMargin, PlaceOrder, Side

    e = MatchingEngine(CONFIG)
    e.declare_margin(DeclareMargin("t0", 10**9))
    ids = [
        e.place(PlaceOrder("t0", Side.SELL, 2, 1, price=6_000_000)).order.order_id
        for _ in range(60)
    ]
    for oid in ids[::2]:
        e.cancel(CancelOrder("t0", oid))
    r = MatchingEngine(CONFIG, e.snapshot())
    _same(e, r)
    assert [o.order_id for o in r.snapshot().orders] == ids[1::2]
