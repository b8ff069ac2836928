"""The quoting policy as pure functions: index, inventory, settings in; quotes out.

No I/O and no clock here, so every rule is a unit test (ADR 0065):

- ``next_anchor``: the index the quotes are built around only follows the
  live index once it moved more than ``requote_bps`` away, so small wiggles
  do not cancel and re-place the whole ladder;
- ``desired_quotes``: ``levels`` bids and asks around the anchor, the best
  ones ``spread_bps`` apart, each next level ``level_spacing_bps`` further
  out, ``size`` contracts each; the whole ladder is shifted against the
  inventory (long: lower, short: higher) by up to ``skew_bps`` at
  ``max_inventory``, and no side is quoted that would take the inventory
  past ``max_inventory``;
- ``plan``: what to cancel, shrink and place so the resting quotes equal the
  desired ones, keeping every resting quote that already has the right price;
  ``Plan.places_after_cancels`` says which places must wait for the cancels.

Prices are integer US cents on the market's tick, quantities whole
contracts on its lot. Bids round down and asks round up, so rounding only
ever widens the spread, and the best ask is always above the best bid.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

__all__ = [
    "MarketRules",
    "Plan",
    "Quote",
    "QuotePolicy",
    "RestingQuote",
    "desired_quotes",
    "next_anchor",
    "plan",
]

Side = Literal["buy", "sell"]
_BPS = 10_000


@dataclass(frozen=True, slots=True)
class QuotePolicy:
    levels: int = 3
    spread_bps: int = 20
    level_spacing_bps: int = 10
    size: int = 1_000
    max_inventory: int = 100_000
    skew_bps: int = 50
    requote_bps: int = 5

    def __post_init__(self) -> None:
        if self.levels < 1 or self.size < 1 or self.max_inventory < 1:
            raise ValueError("levels, size and max_inventory must be positive")
        if self.spread_bps < 1 or self.level_spacing_bps < 0 or self.skew_bps < 0:
            raise ValueError("spread_bps must be positive, spacing and skew not negative")
        if self.requote_bps < 0:
            raise ValueError("requote_bps must not be negative")


@dataclass(frozen=True, slots=True)
class MarketRules:
    """What the order book allows in a market (from ``list_markets``)."""

    tick_size: int = 50
    lot_size: int = 1
    min_quantity: int = 1
    max_quantity: int = 1_000_000


class Quote(NamedTuple):
    side: Side
    #: 0 is the best (nearest the index)
    level: int
    price: int
    quantity: int


class RestingQuote(NamedTuple):
    """One of the maker's open orders, as the order book lists it."""

    order_id: int
    side: Side
    price: int
    filled: int
    remaining: int


@dataclass(frozen=True, slots=True)
class Plan:
    cancel: list[RestingQuote] = field(default_factory=list)
    #: (order id, new total quantity): shrinking keeps the order's place in the queue
    amend: list[tuple[int, int]] = field(default_factory=list)
    place: list[Quote] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.cancel or self.amend or self.place)

    def places_after_cancels(self) -> tuple[list[Quote], list[Quote]]:
        """The places that can go out with the cancels, and those that must wait for them.

        A new quote at or through a quote being cancelled on the other side
        would meet it (post-only refuses it, the house never trades with
        itself); every other place is sent at once, so a re-quote inside the
        spread is one round of commands, not two.
        """
        bids = [o.price for o in self.cancel if o.side == "buy"]
        asks = [o.price for o in self.cancel if o.side == "sell"]
        top_bid, low_ask = max(bids, default=None), min(asks, default=None)
        now: list[Quote] = []
        later: list[Quote] = []
        for quote in self.place:
            meets = (
                low_ask is not None and quote.price >= low_ask
                if quote.side == "buy"
                else top_bid is not None and quote.price <= top_bid
            )
            (later if meets else now).append(quote)
        return now, later


def next_anchor(anchor: int | None, index: int, requote_bps: int) -> int:
    """The index to quote around: the old anchor until ``index`` moved past the threshold."""
    if anchor is None or abs(index - anchor) * _BPS > requote_bps * anchor:
        return index
    return anchor


def desired_quotes(
    index: int, inventory: int, policy: QuotePolicy, rules: MarketRules
) -> tuple[Quote, ...]:
    """The ladder to rest around ``index`` (cents) holding ``inventory`` contracts (+ long)."""
    if index <= 0:
        return ()
    cap = policy.max_inventory
    held = max(-cap, min(cap, inventory))
    tick = rules.tick_size
    # Every price is index * num / den, with the skew in the numerator: the
    # exact fraction, rounded once, away from the index.
    den = 2 * _BPS * cap
    skew = 2 * policy.skew_bps * held
    quotes: list[Quote] = []
    room_buy, room_sell = cap - inventory, cap + inventory
    last_bid, last_ask = None, None
    for level in range(policy.levels):
        out = (policy.spread_bps + 2 * level * policy.level_spacing_bps) * cap
        bid = index * (den - out - skew) // (den * tick) * tick
        ask = -(-index * (den + out - skew) // (den * tick)) * tick
        if last_bid is not None and bid >= last_bid:
            bid = last_bid - tick
        if last_ask is not None and ask <= last_ask:
            ask = last_ask + tick
        last_bid, last_ask = bid, ask
        buy = _size(policy.size, room_buy, rules)
        if buy and bid > 0:
            quotes.append(Quote("buy", level, bid, buy))
            room_buy -= buy
        sell = _size(policy.size, room_sell, rules)
        if sell:
            quotes.append(Quote("sell", level, ask, sell))
            room_sell -= sell
    return tuple(quotes)


def _size(size: int, room: int, rules: MarketRules) -> int:
    """``size`` on the lot, within the market's bounds and the inventory room; 0: none."""
    lot = rules.lot_size
    qty = min(max(size, rules.min_quantity), rules.max_quantity, room)
    qty -= qty % lot
    return qty if qty >= rules.min_quantity and qty > 0 else 0


def plan(desired: Iterable[Quote], resting: Sequence[RestingQuote]) -> Plan:
    """Cancel, shrink and place so that ``resting`` becomes ``desired``.

    A resting quote at a desired side and price is kept (shrunk if it is
    larger than wanted; a partly filled one is left as it is rather than
    losing its place); duplicates and quotes at other prices are cancelled.
    """
    by_slot: dict[tuple[str, int], list[RestingQuote]] = {}
    for order in resting:
        by_slot.setdefault((order.side, order.price), []).append(order)
    result = Plan()
    for quote in desired:
        found = by_slot.get((quote.side, quote.price))
        if not found:
            result.place.append(quote)
            continue
        order = found.pop(0)
        if order.remaining > quote.quantity:
            result.amend.append((order.order_id, order.filled + quote.quantity))
    for left in by_slot.values():
        result.cancel.extend(left)
    return result
