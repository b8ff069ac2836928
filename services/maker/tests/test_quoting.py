"""The quoting policy: pure functions, no service."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tentenone_maker.quoting import (
    MarketRules,
    Quote,
    QuotePolicy,
    RestingQuote,
    desired_quotes,
    next_anchor,
    plan,
)

INDEX = 9_000_000  # 90,000.00 USD
RULES = MarketRules(tick_size=50, lot_size=1, min_quantity=1, max_quantity=1_000_000)
POLICY = QuotePolicy(levels=3, spread_bps=20, level_spacing_bps=10, size=1_000)


def _side(quotes: tuple[Quote, ...], side: str) -> list[Quote]:
    return [q for q in quotes if q.side == side]


def test_a_flat_book_is_symmetric_around_the_index() -> None:
    quotes = desired_quotes(INDEX, 0, POLICY, RULES)
    bids, asks = _side(quotes, "buy"), _side(quotes, "sell")
    # 10 bps each side of 90,000 is 90 USD; then 10 bps (90 USD) further per level.
    assert [q.price for q in bids] == [8_991_000, 8_982_000, 8_973_000]
    assert [q.price for q in asks] == [9_009_000, 9_018_000, 9_027_000]
    assert {q.quantity for q in quotes} == {1_000}
    assert [q.level for q in bids] == [0, 1, 2]


def test_long_inventory_shifts_every_quote_down_and_short_up() -> None:
    policy = QuotePolicy(levels=2, spread_bps=20, size=10, max_inventory=1_000, skew_bps=50)
    flat = desired_quotes(INDEX, 0, policy, RULES)
    long = desired_quotes(INDEX, 500, policy, RULES)
    short = desired_quotes(INDEX, -500, policy, RULES)
    for f, lo, sh in zip(flat, long, short, strict=True):
        assert lo.price < f.price < sh.price
    # Half the limit: half of 50 bps, 22.50 USD at 90,000 (rounded away from the index).
    assert flat[0].price - long[0].price == 22_500
    assert short[1].price - flat[1].price == 22_500


def test_skew_is_capped_at_the_inventory_limit_and_that_side_stops() -> None:
    policy = QuotePolicy(levels=2, size=10, max_inventory=1_000, skew_bps=50)
    at_limit = desired_quotes(INDEX, 1_000, policy, RULES)
    beyond = desired_quotes(INDEX, 5_000, policy, RULES)
    assert _side(at_limit, "buy") == [] and _side(beyond, "buy") == []
    assert _side(at_limit, "sell") == _side(beyond, "sell")
    short = desired_quotes(INDEX, -1_000, policy, RULES)
    assert _side(short, "sell") == [] and len(_side(short, "buy")) == 2


def test_sizes_stop_at_the_inventory_room() -> None:
    policy = QuotePolicy(levels=3, size=100, max_inventory=1_000)
    bids = _side(desired_quotes(INDEX, 850, policy, RULES), "buy")
    assert [q.quantity for q in bids] == [100, 50]


def test_sizes_follow_the_lot_and_the_market_bounds() -> None:
    rules = MarketRules(tick_size=50, lot_size=10, min_quantity=20, max_quantity=500)
    assert {q.quantity for q in desired_quotes(INDEX, 0, QuotePolicy(size=1_234), rules)} == {500}
    assert {q.quantity for q in desired_quotes(INDEX, 0, QuotePolicy(size=37), rules)} == {30}
    assert {q.quantity for q in desired_quotes(INDEX, 0, QuotePolicy(size=5), rules)} == {20}


def test_levels_never_share_a_tick() -> None:
    rules = MarketRules(tick_size=10_000)  # 100 USD ticks, wider than the spacing
    quotes = desired_quotes(INDEX, 0, QuotePolicy(levels=4, level_spacing_bps=1), rules)
    bids = [q.price for q in _side(quotes, "buy")]
    asks = [q.price for q in _side(quotes, "sell")]
    assert bids == sorted(set(bids), reverse=True) and asks == sorted(set(asks))
    assert all(p % 10_000 == 0 for p in bids + asks)


@given(
    index=st.integers(100, 10**10),
    inventory=st.integers(-2_000, 2_000),
    levels=st.integers(1, 5),
    spread=st.integers(1, 500),
    spacing=st.integers(0, 100),
    skew=st.integers(0, 500),
    tick=st.sampled_from([1, 50, 100, 10_000]),
)
def test_any_ladder_is_uncrossed_on_tick_and_within_the_limit(
    index: int, inventory: int, levels: int, spread: int, spacing: int, skew: int, tick: int
) -> None:
    policy = QuotePolicy(
        levels=levels,
        spread_bps=spread,
        level_spacing_bps=spacing,
        size=300,
        max_inventory=1_000,
        skew_bps=skew,
    )
    quotes = desired_quotes(index, inventory, policy, MarketRules(tick_size=tick))
    bids = [q.price for q in _side(quotes, "buy")]
    asks = [q.price for q in _side(quotes, "sell")]
    if bids and asks:
        assert max(bids) < min(asks)
    assert all(p > 0 and p % tick == 0 for p in bids + asks)
    assert inventory + sum(q.quantity for q in _side(quotes, "buy")) <= max(1_000, inventory)
    assert inventory - sum(q.quantity for q in _side(quotes, "sell")) >= min(-1_000, inventory)


def test_the_anchor_moves_only_past_the_threshold() -> None:
    assert next_anchor(None, INDEX, 5) == INDEX
    assert next_anchor(INDEX, INDEX + 4_500, 5) == INDEX  # exactly 5 bps: stays
    assert next_anchor(INDEX, INDEX + 4_501, 5) == INDEX + 4_501
    assert next_anchor(INDEX, INDEX - 4_501, 5) == INDEX - 4_501
    assert next_anchor(INDEX, INDEX + 1, 0) == INDEX + 1


def _resting(oid: int, side: str, price: int, remaining: int, filled: int = 0) -> RestingQuote:
    return RestingQuote(oid, side, price, filled, remaining)  # type: ignore[arg-type]


def test_plan_keeps_what_matches_and_replaces_the_rest() -> None:
    desired = [Quote("buy", 0, 100, 10), Quote("buy", 1, 90, 10), Quote("sell", 0, 110, 10)]
    resting = [
        _resting(1, "buy", 100, 10),  # kept
        _resting(2, "buy", 100, 10),  # a duplicate: cancelled
        _resting(3, "buy", 95, 10),  # off the ladder: cancelled
        _resting(4, "sell", 110, 30),  # too big: shrunk to 10 open
        _resting(5, "sell", 110, 4, filled=6),  # a second one at 110: cancelled
    ]
    todo = plan(desired, resting)
    assert [o.order_id for o in todo.cancel] == [2, 3, 5]
    assert todo.amend == [(4, 10)]
    assert todo.place == [Quote("buy", 1, 90, 10)]


def test_plan_leaves_a_partly_filled_quote_and_shrinks_with_its_fills() -> None:
    desired = [Quote("buy", 0, 100, 10), Quote("sell", 0, 110, 10)]
    todo = plan(desired, [_resting(1, "buy", 100, 3, filled=7), _resting(2, "sell", 110, 12, 5)])
    assert todo.amend == [(2, 15)] and not todo.cancel and not todo.place


def test_an_empty_ladder_cancels_everything_and_a_matching_book_does_nothing() -> None:
    resting = [_resting(1, "buy", 100, 10), _resting(2, "sell", 110, 10)]
    assert plan((), resting).cancel == resting
    desired = [Quote("buy", 0, 100, 10), Quote("sell", 0, 110, 10)]
    assert not plan(desired, resting)


def test_only_places_that_meet_a_cancelled_quote_wait_for_the_cancels() -> None:
    resting = [_resting(1, "buy", 100, 10), _resting(2, "sell", 110, 10)]
    # A small move up: new bid 105 and ask 115 meet nothing being cancelled.
    small = plan([Quote("buy", 0, 105, 10), Quote("sell", 0, 115, 10)], resting)
    assert small.places_after_cancels() == (small.place, [])
    # A move wider than the spread: the new bid at 110 would meet the old ask.
    wide = plan([Quote("buy", 0, 110, 10), Quote("sell", 0, 120, 10)], resting)
    assert wide.places_after_cancels() == ([Quote("sell", 0, 120, 10)], [Quote("buy", 0, 110, 10)])
    down = plan([Quote("buy", 0, 80, 10), Quote("sell", 0, 100, 10)], resting)
    assert down.places_after_cancels() == ([Quote("buy", 0, 80, 10)], [Quote("sell", 0, 100, 10)])
