"""The quoting loop: list, plan, cancel, shrink, place; on every price and every second.

Each cycle asks the order book for the open markets and for the maker's own
resting orders (those whose client order id has the maker's prefix), reads
its inventory, and makes the book hold what ``quoting.desired_quotes`` says
(ADR 0066). Nothing is remembered between cycles but the anchor price: the
order book is the record of what rests, so a restart (even after kill -9)
starts from what is really there and never places a second ladder.

A place carries a fresh client order id; when the reply is lost (timeout,
broker gone) the same id is sent again before anything else happens, so a
retry can only ever give the same order.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from tentenone.bus import Bus
from tentenone.errors import TentenoneError, Unavailable
from tentenone.store import utcnow
from tentenone.wire import orderbook as wire
from tentenone.wire.oracle import IndexPrice, NoArguments, rpc_methods
from tentenone_maker import metrics
from tentenone_maker.quoting import (
    MarketRules,
    Plan,
    Quote,
    RestingQuote,
    desired_quotes,
    next_anchor,
    plan,
)
from tentenone_maker.settings import MakerSettings

__all__ = ["IndexFeed", "Maker"]

_log = logging.getLogger(__name__)
_PLACE_ATTEMPTS = 3
#: the order book lists at most this many orders per call
_LIST_LIMIT = 500
_STOP_LIST_TIMEOUT_S = 2.0
#: refusals that only a non-house account gets
_NOT_HOUSE = frozenset({"insufficient_margin", "exposure_limit_exceeded"})


class IndexFeed:
    """The newest index price seen, by its own timestamp (late deliveries never win)."""

    def __init__(self) -> None:
        self.price: int | None = None
        self.at: dt.datetime | None = None

    def offer(self, index: IndexPrice) -> bool:
        """Keep ``index`` if it is newer than what is held; True if it was kept."""
        if index.price_cents <= 0 or (self.at is not None and index.at <= self.at):
            return False
        self.price, self.at = index.price_cents, index.at
        metrics.INDEX_PRICE.set(index.price_cents)
        return True

    def age_s(self, now: dt.datetime) -> float | None:
        return None if self.at is None else (now - self.at).total_seconds()


def _code(exc: TentenoneError) -> str:
    return str(getattr(exc, "remote_code", None) or exc.code)


class Maker:
    def __init__(
        self,
        bus: Bus,
        settings: MakerSettings,
        positions: Callable[[], Awaitable[dict[str, int]]],
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._bus = bus
        self._settings = settings
        self._policy = settings.policy()
        self._positions = positions
        self._clock = clock
        self.feed = IndexFeed()
        self._started = clock()
        self.anchor: int | None = None
        self.quoting = False
        #: monotonic time the last cycle ended (at first: when the maker was made)
        self.last_cycle = time.monotonic()
        self.cycles = 0
        self._wake = asyncio.Event()
        self._index_spec = rpc_methods(settings.oracle)["get_index_price"]

    def wake(self) -> None:
        self._wake.set()

    def on_price(self, index: IndexPrice) -> None:
        if index.oracle == self._settings.oracle and self.feed.offer(index):
            self.wake()

    # -- the loop -------------------------------------------------------------

    async def run(self) -> None:
        while True:
            self._wake.clear()
            started = time.monotonic()
            try:
                await self.cycle()
            except TentenoneError as exc:
                _log.warning("maker cycle failed: %s", exc, extra={"code": _code(exc)})
            else:
                self.last_cycle = time.monotonic()
                self.cycles += 1
                metrics.CYCLE_SECONDS.observe(self.last_cycle - started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.interval_s)

    async def cycle(self) -> None:
        """One reconcile of every market against the current index and inventory."""
        fresh, age = await self._freshness()
        if self._awaiting_first_index():
            return
        markets = await self._rpc(wire.LIST_MARKETS, wire.ListMarketsRequest())
        rules = {
            m.market: MarketRules(m.tick_size, m.lot_size, m.min_quantity, m.max_quantity)
            for m in markets.markets
            if m.status == "open"
        }
        mine = await self.resting()
        inventory = await self._positions()
        jobs = [
            self._reconcile(market, market_rules, mine.get(market, []), inventory.get(market, 0))
            for market, market_rules in rules.items()
        ]
        jobs += [
            self._apply(market, Plan(cancel=orders), "closed")
            for market, orders in mine.items()
            if market not in rules
        ]
        await asyncio.gather(*jobs)
        if fresh != self.quoting:
            # Logged once the cycle's commands are answered: the book is as said.
            _log.info(
                "maker %s",
                "quoting" if fresh else "pulled its quotes: the index is stale",
                extra={"feed_age_s": age, "anchor": self.anchor, "markets": len(rules)},
            )
        self.quoting = fresh

    async def _freshness(self) -> tuple[bool, float | None]:
        """Is the index fresh enough to quote (and its age); moves the anchor if so."""
        if self.feed.price is None:
            await self._bootstrap_price()
        age = self.feed.age_s(self._clock())
        metrics.FEED_AGE.set(-1 if age is None else age)
        fresh = age is not None and age <= self._settings.stale_after_s
        if fresh:
            assert self.feed.price is not None
            self.anchor = next_anchor(self.anchor, self.feed.price, self._policy.requote_bps)
        else:
            self.anchor = None  # quote around the new index at once when it comes back
        metrics.QUOTING.set(1 if fresh else 0)
        return fresh, age

    def _awaiting_first_index(self) -> bool:
        """No index seen since the start, and the start is not yet ``stale_after_s`` old.

        What rests was quoted by the last run while its index was fresh. Pulled
        before this run hears the oracle, the same ladder would be placed again
        a moment later, under new ids and behind everyone at its prices; so the
        book is left as it is until an index comes or the wait is itself stale.
        """
        waited = (self._clock() - self._started).total_seconds()
        return self.feed.at is None and waited <= self._settings.stale_after_s

    async def _reconcile(
        self, market: str, rules: MarketRules, resting: list[RestingQuote], held: int
    ) -> None:
        metrics.INVENTORY.labels(market).set(held)
        desired: tuple[Quote, ...] = ()
        if self.anchor is not None:
            desired = desired_quotes(self.anchor, held, self._policy, rules)
        todo = plan(desired, resting)
        metrics.RESTING.labels(market).set(len(resting) + len(todo.place) - len(todo.cancel))
        await self._apply(market, todo, "requote" if desired else "stale")

    async def resting(self, timeout_s: float | None = None) -> dict[str, list[RestingQuote]]:
        """The maker's open quotes per market, as the order book has them."""
        listed = await self._rpc(
            wire.LIST_ORDERS,
            wire.ListOrdersRequest(
                trader_id=self._settings.trader_id, open_only=True, limit=_LIST_LIMIT
            ),
            timeout_s,
        )
        prefix = self._settings.client_id_prefix
        mine: dict[str, list[RestingQuote]] = {}
        for order in listed.orders:
            if order.price is None or not (order.client_order_id or "").startswith(prefix):
                continue
            if order.status not in ("open", "partially_filled"):
                continue
            mine.setdefault(order.market, []).append(
                RestingQuote(order.order_id, order.side, order.price, order.filled, order.remaining)
            )
        return mine

    async def pull_all(self) -> None:
        """Cancel every quote of the maker (on a graceful stop).

        Asked briefly: an order book that does not answer at once is likely
        stopping too (the demo stops it first), and then its quotes wait for
        the next start's reconcile.
        """
        mine = await self.resting(min(_STOP_LIST_TIMEOUT_S, self._settings.rpc_timeout_s))
        await asyncio.gather(
            *(self._apply(market, Plan(cancel=orders), "stop") for market, orders in mine.items())
        )

    # -- commands ---------------------------------------------------------------

    async def _apply(self, market: str, todo: Plan, reason: str) -> None:
        # One round: cancels, shrinks and the places that cannot meet a cancelled
        # quote; then the places that could (a move wider than the spread).
        now, later = todo.places_after_cancels()
        await asyncio.gather(
            *(self._cancel(market, o.order_id, reason) for o in todo.cancel),
            *(self._amend(market, oid, qty) for oid, qty in todo.amend),
            *(self._place(market, quote) for quote in now),
        )
        await asyncio.gather(*(self._place(market, quote) for quote in later))

    async def _cancel(self, market: str, order_id: int, reason: str) -> None:
        req = wire.CancelOrderRequest(
            market=market, trader_id=self._settings.trader_id, order_id=order_id
        )
        if await self._command(wire.CANCEL_ORDER, req):
            metrics.CANCELLED.labels(reason).inc()

    async def _amend(self, market: str, order_id: int, quantity: int) -> None:
        req = wire.AmendOrderRequest(
            market=market, trader_id=self._settings.trader_id, order_id=order_id, quantity=quantity
        )
        if await self._command(wire.AMEND_ORDER, req):
            metrics.AMENDED.inc()

    async def _place(self, market: str, quote: Quote) -> None:
        settings = self._settings
        req = wire.PlaceOrderRequest(
            market=market,
            trader_id=settings.trader_id,
            side=quote.side,
            quantity=quote.quantity,
            leverage=settings.leverage,
            order_type="limit",
            price=quote.price,
            time_in_force=settings.time_in_force,
            client_order_id=f"{settings.client_id_prefix}{uuid.uuid4().hex[:24]}",
        )
        for attempt in range(1, _PLACE_ATTEMPTS + 1):
            try:
                await self._rpc(wire.PLACE_ORDER, req)
            except Unavailable as exc:
                # The reply is lost, not necessarily the order: same id again.
                if attempt == _PLACE_ATTEMPTS:
                    raise
                _log.info("place of %s unanswered (%s); again", req.client_order_id, exc)
                continue
            except TentenoneError as exc:
                self._refused(quote, exc)
                return
            metrics.PLACED.inc()
            return

    def _refused(self, quote: Quote, exc: TentenoneError) -> None:
        code = _code(exc)
        metrics.REJECTED.labels(code).inc()
        if code in _NOT_HOUSE:
            # The order book treats the account as a trader: a setting is wrong.
            _log.warning(
                "quote refused with %s: is %r one of the order book's house_traders?",
                code,
                self._settings.trader_id,
            )
        else:
            _log.info("quote %s refused: %s", quote, exc, extra={"code": code})

    async def _command(self, spec: Any, req: Any) -> bool:
        """Cancel or amend; a refusal (the order filled meanwhile) is counted, not raised."""
        try:
            await self._rpc(spec, req)
        except Unavailable:
            raise
        except TentenoneError as exc:
            metrics.REJECTED.labels(_code(exc)).inc()
            _log.info("%s of order %s refused: %s", spec.name, req.order_id, exc)
            return False
        return True

    async def _rpc(self, spec: Any, req: Any, timeout_s: float | None = None) -> Any:
        timeout = self._settings.rpc_timeout_s if timeout_s is None else timeout_s
        return await self._bus.request(spec, req, timeout_s=timeout)

    async def _bootstrap_price(self) -> None:
        """Before the first price event: ask the oracle, so quoting starts at once."""
        try:
            index = await self._bus.request(
                self._index_spec,
                NoArguments(),
                timeout_s=min(2.0, self._settings.rpc_timeout_s),
            )
        except TentenoneError as exc:
            _log.info("no index price from %s yet: %s", self._settings.oracle, exc)
            return
        self.feed.offer(index)
