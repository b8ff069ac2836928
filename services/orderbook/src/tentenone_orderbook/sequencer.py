"""The single writer: commands in arrival order, applied to the engines, committed in batches.

RPC handlers run concurrently; each submits its command here and waits.
One task takes whatever has queued up (at most ``batch_max``), applies the
commands to the markets' engines one by one, and writes everything they
changed (orders, fills, accounts, counters, transition log, outbox events)
in one transaction. Only after the commit does any caller get its reply:
what a caller was told is on disk (group commit). If the commit fails, the
engines are rebuilt from the database, which still holds the last commit,
and the batch's callers get ``Unavailable`` (placing again with the same
client order id is safe).

A ``dlc.released`` from the DLC service is a command too (``release``): the
trader's side of the fill stops counting in the accounts, once per
``(fill, trader)`` (ADR 0106).

Idempotency (ADR 0062): a place with a ``client_order_id`` already used by
the trader, in the database or earlier in the same batch, replies with that
order and changes nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from tentenone.errors import TentenoneError, Unavailable
from tentenone.store import Database, utcnow
from tentenone.wire import orderbook as wire
from tentenone.wire.dlc_lifecycle import DlcReleased
from tentenone_orderbook import metrics, repository
from tentenone_orderbook.errors import OrderbookError
from tentenone_orderbook.events import CommandResult
from tentenone_orderbook.ledger import Batch, Ledger
from tentenone_orderbook.markets import Markets, UnknownMarket
from tentenone_orderbook.matching import MatchingEngine
from tentenone_orderbook.models import MarketStatus
from tentenone_orderbook.orders import (
    AmendOrder,
    CancelOrder,
    OrderType,
    PlaceOrder,
    Side,
    TimeInForce,
)
from tentenone_orderbook.releases import legs_to_release
from tentenone_orderbook.settings import OrderbookSettings
from tentenone_orderbook.views import (
    account_row,
    book_snapshot,
    order_id_text,
    order_public,
    order_view,
    trade_id_text,
)

__all__ = ["Sequencer"]

_log = logging.getLogger(__name__)
_RECOVER_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)
#: the fills ``release`` commands name, by id, and the (fill, trader) pairs released already
type _Releases = tuple[dict[str, dict[str, Any]], set[tuple[str, str]]]


@dataclass
class _Item:
    kind: str  # place | cancel | amend | roll | snapshot | release
    request: Any
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Sequencer:
    def __init__(
        self,
        db: Database,
        settings: OrderbookSettings,
        epoch: int,
        on_fenced: Callable[[], None] = lambda: None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._db = db
        self._settings = settings
        self._epoch = epoch
        self._on_fenced = on_fenced
        self._clock = clock
        self._house = frozenset(settings.house_traders)
        self.markets = Markets(settings)
        self.ledger = Ledger()
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        # Held while a batch is applied and committed, and by readers of the engines,
        # so a reader never sees a change that is not committed yet.
        self.lock = asyncio.Lock()
        self._broken: TentenoneError | None = None

    # ----------------------------------------------------------------- state

    async def load(self) -> None:
        """Rebuild every market's engine from the database (what was last committed)."""
        self.markets.clear()
        self.ledger.clear()
        async with self._db.transaction() as session:
            for row in await repository.load_markets(session):
                status = MarketStatus(row.status)
                if status is not MarketStatus.OPEN:
                    continue  # closed markets hold no resting orders
                state, known = await repository.load_market(session, row, self._house)
                engine = MatchingEngine(self._settings.market_config(row.market_id), state)
                self.markets.add(row.market_id, row.expiry, status, engine)
                self.ledger.load(row.market_id, known)
        _log.info(
            "order book loaded",
            extra={"markets": len(self.markets.all()), "live_orders": len(self.ledger)},
        )

    # --------------------------------------------------------------- commands

    async def place(self, request: wire.PlaceOrderRequest) -> wire.PlaceOrderReply:
        result: wire.PlaceOrderReply = await self._submit("place", request)
        return result

    async def cancel(self, request: wire.CancelOrderRequest) -> wire.OrderPublic:
        result: wire.OrderPublic = await self._submit("cancel", request)
        return result

    async def amend(self, request: wire.AmendOrderRequest) -> wire.OrderPublic:
        result: wire.OrderPublic = await self._submit("amend", request)
        return result

    async def release(self, event: DlcReleased) -> None:
        """Undo the trader's side of a fill whose DLC was released; a repeat does nothing."""
        await self._submit("release", event)

    async def roll(self) -> None:
        """Open the markets now due and close those whose trading ended."""
        await self._submit("roll", None)

    async def publish_snapshots(self) -> None:
        """A ``book.snapshot`` per open market, in sequence with its deltas."""
        await self._submit("snapshot", None)

    async def open_markets(self) -> None:
        """The first roll, before the writer task runs (so a first order finds its market)."""
        item = _Item("roll", None)
        await self._process([item])
        await item.future

    async def _submit(self, kind: str, request: Any) -> Any:
        if self._broken is not None:
            raise Unavailable(f"the order book cannot write: {self._broken.message}")
        item = _Item(kind, request)
        self._queue.put_nowait(item)
        return await item.future

    # ------------------------------------------------------------------ reads

    async def book(self, request: wire.BookRequest) -> wire.BookSnapshot:
        async with self.lock:
            market = self.markets.get(request.market)
            return book_snapshot(market.market_id, market.engine.depth(request.depth))

    async def market_list(self) -> wire.MarketList:
        s = self._settings
        async with self.lock:
            return wire.MarketList(
                markets=[
                    wire.MarketPublic(
                        market=m.market_id,
                        expiry=m.expiry,
                        status="open" if m.status is MarketStatus.OPEN else "closed",
                        tick_size=s.tick_size,
                        lot_size=s.lot_size,
                        min_quantity=s.min_quantity,
                        max_quantity=s.max_quantity,
                        min_leverage=s.min_leverage,
                        max_leverage=s.max_leverage,
                        maker_fee_bps=s.maker_fee_bps,
                        taker_fee_bps=s.taker_fee_bps,
                        price_band_bps=s.price_band_bps,
                        best_bid=m.engine.best_bid(),
                        best_ask=m.engine.best_ask(),
                    )
                    for m in self.markets.all()
                ]
            )

    # ------------------------------------------------------------ the writer

    async def run(self) -> None:
        """Take queued commands in batches until cancelled."""
        while True:
            items = [await self._queue.get()]
            while len(items) < self._settings.batch_max and not self._queue.empty():
                items.append(self._queue.get_nowait())
            await self._process(items)

    async def _process(self, items: list[_Item]) -> None:
        started = asyncio.get_running_loop().time()
        async with self.lock:
            batch = Batch(self._clock())
            try:
                # One transaction for the look-ups the commands need and what they
                # changed: each transaction is round trips to the database.
                async with self._db.transaction() as session:
                    outcomes = await self._apply_all(session, items, batch)
                    await self._write(session, batch)
            except repository.FencedOut as exc:
                self._broken = exc
                _fail(items, exc)
                _log.error("fenced out: another replica is the writer now; stopping")
                self._on_fenced()
                return
            except Exception as exc:
                _log.exception("committing a batch of %d commands failed", len(items))
                _fail(items, Unavailable(f"the order book could not commit: {exc!r:.200}"))
                await self._recover()
                return
        for item, outcome in zip(items, outcomes, strict=True):
            if item.future.done():
                continue  # the caller went away
            if isinstance(outcome, BaseException):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)
        metrics.BATCH_SIZE.observe(len(items))
        metrics.BATCH_SECONDS.observe(asyncio.get_running_loop().time() - started)

    async def _write(self, session: AsyncSession, batch: Batch) -> None:
        now = batch.now
        accounts = [
            account_row(m, self.markets.get(m).engine.account(t), now)
            for m, t in sorted(batch.accounts)
        ]
        markets = []
        for market_id in sorted(batch.markets):
            m = self.markets.get(market_id)
            markets.append(
                {
                    "market_id": market_id,
                    "seq": m.engine.seq,
                    "next_order_id": m.engine.next_order_id,
                    "next_trade_id": m.engine.next_trade_id,
                    "status": int(m.status),
                    "updated_at": now,
                }
            )
        for market_id, expiry in batch.new_markets:
            await repository.insert_market(session, market_id, expiry, now)
        await repository.write_batch(session, batch, self._epoch, accounts, markets)

    async def _recover(self) -> None:
        """Rebuild from the database after a failed commit; refuse commands until it works."""
        for attempt, delay in enumerate((*_RECOVER_BACKOFF_S, None), start=1):
            try:
                await self.load()
                self._broken = None
                return
            except Exception as exc:
                self._broken = Unavailable(f"rebuilding from the database failed: {exc!r:.200}")
                _log.warning("rebuild attempt %d failed: %r", attempt, exc)
                if delay is None:
                    return  # the next command retries through _submit's error; roll retries
                await asyncio.sleep(delay)

    async def _apply_all(
        self, session: AsyncSession, items: list[_Item], batch: Batch
    ) -> list[Any]:
        places = [i.request for i in items if i.kind == "place" and i.request.client_order_id]
        known: dict[tuple[str, str], dict[str, Any]] = {}
        if places:
            known = await repository.find_client_orders(
                session, {(r.trader_id, r.client_order_id) for r in places}
            )
        releases = [
            (i.request.trade_id, i.request.trader_pubkey) for i in items if i.kind == "release"
        ]
        found: _Releases = ({}, set())
        if releases:
            found = await repository.find_releases(session, releases)
        outcomes: list[Any] = []
        for item in items:
            try:
                if item.kind == "release":
                    self._release(item.request, batch, found)
                    outcomes.append(None)
                    continue
                outcomes.append(self._apply(item, batch, known))
            except TentenoneError as exc:
                outcomes.append(exc)
        return outcomes

    def _apply(
        self, item: _Item, batch: Batch, known: dict[tuple[str, str], dict[str, Any]]
    ) -> Any:
        if item.kind == "place":
            return self._place(item.request, batch, known)
        if item.kind == "cancel":
            return self._cancel(item.request, batch)
        if item.kind == "amend":
            return self._amend(item.request, batch)
        if item.kind == "roll":
            return self._roll(batch)
        if item.kind == "snapshot":
            return self._snapshots(batch)
        raise ValueError(f"unknown command kind {item.kind!r}")

    def _place(
        self,
        req: wire.PlaceOrderRequest,
        batch: Batch,
        known: dict[tuple[str, str], dict[str, Any]],
    ) -> wire.PlaceOrderReply:
        if req.client_order_id is not None:
            duplicate = self._duplicate(req, batch, known)
            if duplicate is not None:
                return duplicate
        try:
            market = self.markets.open_for_trading(req.market)
            result = market.engine.place(_place_command(req))
        except OrderbookError as exc:
            self.ledger.rejected(
                batch, req.market, req.trader_id, req.client_order_id, None, exc.code, exc.message
            )
            metrics.REJECTED.labels(exc.code).inc()
            raise
        self.ledger.placed(batch, market.market_id, result)
        if req.client_order_id is not None:
            known[(req.trader_id, req.client_order_id)] = {
                "market_id": market.market_id,
                "in_batch": result.order.order_id,
            }
        metrics.PLACED.labels(result.order.order_type.value).inc()
        metrics.FILLS.inc(len(result.fills))
        return wire.PlaceOrderReply(
            order=self._public(market.market_id, result.order.order_id, batch),
            fills=[
                wire.FillPublic(
                    trade_id=trade_id_text(market.market_id, f.trade_id),
                    price=f.price,
                    quantity=f.quantity,
                    liquidity="taker",
                    fee_sat=f.taker_fee_sat,
                    margin_sat=f.taker_margin_sat,
                )
                for f in result.fills
            ],
        )

    def _duplicate(
        self,
        req: wire.PlaceOrderRequest,
        batch: Batch,
        known: dict[tuple[str, str], dict[str, Any]],
    ) -> wire.PlaceOrderReply | None:
        assert req.client_order_id is not None
        row = known.get((req.trader_id, req.client_order_id))
        if row is None:
            return None
        if "in_batch" in row:  # placed earlier in this batch
            order = self._public(row["market_id"], row["in_batch"], batch)
        else:
            order = order_public(
                row["market_id"], order_view(row), row["created_at"], row["updated_at"]
            )
        metrics.DUPLICATES.inc()
        return wire.PlaceOrderReply(order=order, fills=[], duplicate=True)

    def _cancel(self, req: wire.CancelOrderRequest, batch: Batch) -> wire.OrderPublic:
        market = self.markets.get(req.market)
        result = market.engine.cancel(CancelOrder(req.trader_id, req.order_id))
        self.ledger.cancelled(batch, market.market_id, [result.order], result.deltas)
        return self._public(market.market_id, req.order_id, batch)

    def _amend(self, req: wire.AmendOrderRequest, batch: Batch) -> wire.OrderPublic:
        try:
            market = self.markets.open_for_trading(req.market)
            result = market.engine.amend(
                AmendOrder(req.trader_id, req.order_id, req.quantity, req.price)
            )
        except OrderbookError as exc:
            self.ledger.rejected(
                batch, req.market, req.trader_id, None, req.order_id, exc.code, exc.message
            )
            raise
        if result.deltas or result.fills:
            self.ledger.amended(batch, market.market_id, result)
            return self._public(market.market_id, req.order_id, batch)
        return self._public_of(market.market_id, result)

    def _roll(self, batch: Batch) -> None:
        now = batch.now
        for market in self.markets.to_close(now):
            cancelled, deltas = market.engine.cancel_all()
            self.ledger.cancelled(batch, market.market_id, cancelled, deltas)
            market.status = MarketStatus.CLOSED
            batch.markets.add(market.market_id)
            _log.info(
                "market closed", extra={"market": market.market_id, "cancelled": len(cancelled)}
            )
        for market_id, expiry in self.markets.to_open(now):
            engine = MatchingEngine(self._settings.market_config(market_id))
            self.markets.add(market_id, expiry, MarketStatus.OPEN, engine)
            batch.new_markets.append((market_id, expiry))
            batch.markets.add(market_id)
            _log.info("market opened", extra={"market": market_id, "expiry": expiry.isoformat()})

    def _release(self, event: DlcReleased, batch: Batch, found: _Releases) -> None:
        fills, done = found
        key = (event.trade_id, event.trader_pubkey)
        if key in done:
            return  # delivered again: applied once already
        fill = fills.get(event.trade_id)
        legs = legs_to_release(fill, event.trader_pubkey, self._house) if fill else []
        if fill is None or not legs:
            _log.warning(
                "dlc.released names no fill of this trader; nothing to undo",
                extra={"trade": event.trade_id, "trader": event.trader_pubkey},
            )
            return
        done.add(key)
        market_id: str = fill["market_id"]
        try:
            engine = self.markets.get(market_id).engine
        except UnknownMarket:
            engine = None  # a closed market not loaded: its accounts no longer matter
        for leg in legs:
            if engine is not None:
                engine.release_fill(leg.trader_id, leg.position, leg.margin_sat, leg.fee_sat)
                batch.accounts.add((market_id, leg.trader_id))
        mine = legs[0]
        batch.releases.append(
            {
                "fill_id": event.trade_id,
                "trader_id": event.trader_pubkey,
                "market_id": market_id,
                "order_id": mine.order_id,
                "reason": event.reason[:500],
                "created_at": batch.now,
            }
        )
        batch.events.append(
            wire.FillReleased(
                trade_id=event.trade_id,
                market=market_id,
                trader_id=event.trader_pubkey,
                order_id=order_id_text(market_id, mine.order_id),
                side="long" if mine.position > 0 else "short",
                quantity=abs(mine.position),
                margin_sat=mine.margin_sat,
                fee_sat=mine.fee_sat,
                reason=event.reason,
            )
        )
        _log.info(
            "fill released: its DLC was not signed",
            extra={"trade": event.trade_id, "trader": event.trader_pubkey, "why": event.reason},
        )

    def _snapshots(self, batch: Batch) -> None:
        depth = self._settings.snapshot_depth
        for market in self.markets.all():
            if market.status is MarketStatus.OPEN:
                snap = book_snapshot(market.market_id, market.engine.depth(depth))
                batch.events.append(wire.BookSnapshotEvent(**snap.model_dump()))

    # --------------------------------------------------------------- helpers

    def _public(self, market_id: str, order_id: int, batch: Batch) -> wire.OrderPublic:
        """The order as this batch leaves it."""
        row = batch.order_row(order_id_text(market_id, order_id))
        assert row is not None, "every order a command touches has a row in the batch"
        return order_public(market_id, order_view(row), row["created_at"], row["updated_at"])

    def _public_of(self, market_id: str, result: CommandResult) -> wire.OrderPublic:
        """An order a command left unchanged, as last committed."""
        known = self.ledger.known(market_id, result.order.order_id)
        assert known is not None, "an unchanged order is a live one"
        return order_public(market_id, result.order, known.created_at, known.updated_at)


def _place_command(req: wire.PlaceOrderRequest) -> PlaceOrder:
    return PlaceOrder(
        req.trader_id,
        Side(req.side),
        req.quantity,
        req.leverage,
        req.price,
        OrderType(req.order_type),
        TimeInForce(req.time_in_force),
        req.client_order_id,
        req.available_margin_sat,
    )


def _fail(items: list[_Item], exc: BaseException) -> None:
    for item in items:
        if not item.future.done():
            item.future.set_exception(exc)
