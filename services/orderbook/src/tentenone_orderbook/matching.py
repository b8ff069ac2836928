"""The matching engine of one market: pure, single-threaded, in memory, no I/O.

Commands go in (place, amend, cancel, declare margin); plain values come out
(the order after the command, fills, book deltas with a sequence number,
orders removed by self-trade prevention). A command is either refused with a
typed error before anything changes, or applied whole: every check (fields,
post-only, fill-or-kill, margin, exposure) runs against a plan of the fills
made without touching the book, so an accepted command cannot fail half-way.

Rules (docs/adr/0060-matching-engine.md):

- price-time priority; a fill is at the resting order's price;
- self-trade prevention cancels the resting order: an incoming order that
  meets a resting order of the same owner (or two house accounts: the
  coordinator never trades with itself) cancels that resting order and
  keeps matching;
- a market order is IOC or FOK and takes liquidity only within
  ``price_band_bps`` of the best opposite price at its arrival;
- amend sets a new total quantity and/or price; a pure size reduction keeps
  the order's place in the queue, anything else re-enters at the back and
  may match like a new order;
- margin (rounded up) is reserved for resting orders at their price and
  committed for fills at the fill price; a trader's reserved plus committed
  margin must stay within the margin they declared;
- the coordinator's exposure: assuming every resting and incoming trader
  order traded against it, its net position must stay within
  ``max_exposure`` contracts on either side.

What the engine returns are immutable values (``OrderView``, ``Fill``,
``BookDelta``); inside, a resting order is a small mutable record
(``book.Resting``) changed in place by fills and amends.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, Final, NamedTuple, NoReturn

from tentenone_orderbook.accounts import Account, AccountView
from tentenone_orderbook.book import BookSide, Level, Resting
from tentenone_orderbook.errors import (
    AmendBelowFilled,
    AmendEmpty,
    ExposureLimitExceeded,
    FillOrKillUnfilled,
    InsufficientMargin,
    InvalidEngineState,
    InvalidFieldType,
    InvalidTimeInForce,
    LeverageOutOfRange,
    MarginOutOfRange,
    OrderNotFound,
    PostOnlyWouldTake,
    PriceAboveMaximum,
    PriceNotAllowed,
    PriceNotPositive,
    PriceOffTick,
    PriceRequired,
    QuantityAboveMaximum,
    QuantityBelowMinimum,
    QuantityNotPositive,
    QuantityOffLot,
    TextTooLong,
)
from tentenone_orderbook.events import BookDelta, BookDepth, CommandResult, Fill
from tentenone_orderbook.margin import SAT_PER_USD_CENT_NUMERATOR
from tentenone_orderbook.market import MAX_MARGIN_SAT, MAX_TEXT_LENGTH, MarketConfig
from tentenone_orderbook.orders import (
    AmendOrder,
    CancelOrder,
    CancelReason,
    DeclareMargin,
    OrderStatus,
    OrderType,
    OrderView,
    PlaceOrder,
    Side,
    TimeInForce,
)

__all__ = ["Command", "EngineState", "MatchingEngine"]

Command = PlaceOrder | AmendOrder | CancelOrder | DeclareMargin

_K: Final = SAT_PER_USD_CENT_NUMERATOR
_FEE: Final = 10**6
_BPS: Final = 10_000
# NamedTuple's generated __new__ re-packs its arguments in Python; building
# the tuple and calling tuple.__new__ directly halves the cost of each event.
_new = tuple.__new__

# Enum members read through their class are attribute lookups on a Python
# metaclass that the interpreter cannot specialise (~5x a global load); the
# hot paths compare against these module constants instead.
_BUY, _SELL = Side.BUY, Side.SELL
_LIMIT, _MARKET = OrderType.LIMIT, OrderType.MARKET
_GTC, _IOC, _FOK, _POST_ONLY = (
    TimeInForce.GTC,
    TimeInForce.IOC,
    TimeInForce.FOK,
    TimeInForce.POST_ONLY,
)
_OPEN, _PARTIAL = OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED
_FILLED, _CANCELLED = OrderStatus.FILLED, OrderStatus.CANCELLED
_REQUESTED = CancelReason.REQUESTED
_MAX_TEXT: Final = MAX_TEXT_LENGTH
_by_priority = attrgetter("priority")

# One planned step: (resting order, quantity taken, taker margin).
# Quantity 0: self-trade prevention cancels that resting order.
_Step = tuple[Resting, int, int]
_NO_STEPS: Final[list[_Step]] = []


class EngineState(NamedTuple):
    """Everything needed to rebuild an engine exactly: what the service persists."""

    market_id: str
    seq: int  # last book delta's sequence number
    next_order_id: int
    next_trade_id: int
    orders: tuple[OrderView, ...]  # resting orders in priority order
    accounts: tuple[AccountView, ...]  # non-blank accounts by trader id


class MatchingEngine:
    """Order book and matching for one market. Not thread-safe: one writer per market."""

    def __init__(self, config: MarketConfig, state: EngineState | None = None) -> None:
        self.config = config
        self._bids = BookSide(Side.BUY)
        self._asks = BookSide(Side.SELL)
        self._live: dict[int, Resting] = {}  # every resting order by id
        self._accounts: dict[str, Account] = {}
        self._seq = 0
        self._next_order_id = 1
        self._next_trade_id = 1
        self._position = 0  # the coordinator's net position: -(sum of trader positions)
        self._open_buy = 0  # open quantity of traders' (not house) resting buys
        self._open_sell = 0
        self._handlers: dict[type[Any], Callable[[Any], CommandResult | AccountView]] = {
            PlaceOrder: self.place,
            AmendOrder: self.amend,
            CancelOrder: self.cancel,
            DeclareMargin: self.declare_margin,
        }
        if state is not None:
            self._restore(state)

    # ------------------------------------------------------------------ queries

    @property
    def seq(self) -> int:
        return self._seq

    @property
    def next_order_id(self) -> int:
        return self._next_order_id

    @property
    def next_trade_id(self) -> int:
        return self._next_trade_id

    @property
    def coordinator_position(self) -> int:
        return self._position

    def best_bid(self) -> int | None:
        return self._bids.best_price()

    def best_ask(self) -> int | None:
        return self._asks.best_price()

    def order(self, order_id: int) -> OrderView | None:
        """A live (resting) order, or None."""
        r = self._live.get(order_id) if type(order_id) is int else None
        return r.view() if r is not None else None

    def orders_of(self, trader_id: str) -> list[OrderView]:
        """The trader's live orders by order id."""
        return [r.view() for _, r in sorted(self._live.items()) if r.trader_id == trader_id]

    def account(self, trader_id: str) -> AccountView:
        acct = self._accounts.get(trader_id)
        if acct is None:
            acct = Account(trader_id, trader_id in self.config.house_traders)
        return acct.view()

    def accounts(self) -> list[AccountView]:
        return [a.view() for _, a in sorted(self._accounts.items()) if not a.is_blank()]

    def depth(self, levels: int | None = None) -> BookDepth:
        """Aggregated book, best first, ``levels`` per side (all when None)."""
        if levels is not None and (type(levels) is not int or levels < 0):
            raise InvalidFieldType(
                "levels must be a non-negative int or None", field="levels", value=levels
            )
        return BookDepth(self._seq, self._bids.depth(levels), self._asks.depth(levels))

    def snapshot(self) -> EngineState:
        return EngineState(
            self.config.market_id,
            self._seq,
            self._next_order_id,
            self._next_trade_id,
            tuple(r.view() for r in sorted(self._live.values(), key=_by_priority)),
            tuple(self.accounts()),
        )

    # ----------------------------------------------------------------- commands

    def apply(self, command: Command) -> CommandResult | AccountView:
        """Run any command (the service's and a replay's single entry point)."""
        handler = self._handlers.get(type(command))
        if handler is None:
            raise InvalidFieldType(
                f"unknown command type {type(command).__name__}",
                field="command",
                value=type(command).__name__,
            )
        return handler(command)

    def place(self, cmd: PlaceOrder) -> CommandResult:
        if type(cmd) is not PlaceOrder:
            _wrong_command(cmd, PlaceOrder)
        cfg = self.config
        trader_id = cmd.trader_id
        if type(trader_id) is not str or not 0 < len(trader_id) <= _MAX_TEXT:
            _bad_text(trader_id, "trader_id")
        side = cmd.side
        if side is _BUY:
            opp = self._asks
        elif side is _SELL:
            opp = self._bids
        else:
            raise InvalidFieldType("side must be a Side", field="side", value=side)
        qty = cmd.quantity
        if (
            type(qty) is not int
            or qty < cfg.min_quantity
            or qty > cfg.max_quantity
            or qty % cfg.lot_size
        ):
            _bad_quantity(cfg, qty, "quantity")
        lev = cmd.leverage
        if type(lev) is not int or lev < cfg.min_leverage or lev > cfg.max_leverage:
            _bad_leverage(cfg, lev)
        tif = cmd.time_in_force
        if type(tif) is not TimeInForce:
            raise InvalidFieldType(
                "time_in_force must be a TimeInForce", field="time_in_force", value=tif
            )
        price = cmd.price
        otype = cmd.order_type
        limit: int | None
        if otype is _LIMIT:
            if (
                type(price) is not int
                or price <= 0
                or price > cfg.max_price
                or price % cfg.tick_size
            ):
                _bad_price(cfg, price, "price")
            limit = price
        elif otype is _MARKET:
            if price is not None:
                raise PriceNotAllowed("a market order has no price", field="price", value=price)
            if tif is not _IOC and tif is not _FOK:
                raise InvalidTimeInForce(
                    f"a market order is ioc or fok, not {tif}", field="time_in_force", value=tif
                )
            limit = self._band_limit(side, opp)
        else:
            raise InvalidFieldType(
                "order_type must be an OrderType", field="order_type", value=otype
            )
        coid = cmd.client_order_id
        if coid is not None and (type(coid) is not str or not 0 < len(coid) <= _MAX_TEXT):
            _bad_text(coid, "client_order_id")
        declared = cmd.available_margin_sat
        if declared is not None:
            _check_margin(declared, "available_margin_sat")

        account = self._accounts.get(trader_id)
        known = account is not None
        if account is None:
            account = Account(trader_id, trader_id in cfg.house_traders)
        keys = opp.keys
        if limit is not None and keys and keys[-1] >= opp.sign * limit:
            if tif is _POST_ONLY:
                _post_only(limit, opp)
            steps, taken, take_margin = self._plan(account, opp, limit, qty, lev)
        else:
            steps, taken, take_margin = _NO_STEPS, 0, 0
        if tif is _FOK and taken < qty:
            raise FillOrKillUnfilled(
                f"fill-or-kill for {qty} contracts: only {taken} can fill now",
                quantity=qty,
                fillable=taken,
            )
        rests = tif is _GTC or tif is _POST_ONLY
        rest = qty - taken if rests else 0
        # Only a limit order rests, so ``limit`` is its price here.
        reserve = -(-rest * _K // (limit * lev)) if rest else 0  # type: ignore[operator]
        if not account.house:
            # _check_risk's two sums, inline on the hot path; it raises with the details.
            need, added = take_margin + reserve, taken + rest
            if declared is None:
                free = account.declared_sat - account.committed_sat - account.reserved_sat
            else:
                free = declared - account.reserved_sat
            if side is _BUY:
                worst = self._open_buy + added - self._position
            else:
                worst = self._open_sell + added + self._position
            if need > free or worst > cfg.max_exposure:
                self._check_risk(account, side, need, added, 0, 0, declared)

        # Accepted: nothing below raises.
        if not known:
            self._accounts[trader_id] = account
        if declared is not None:
            account.declared_sat = declared
            account.committed_sat = 0
        oid = self._next_order_id
        self._next_order_id = oid + 1
        if rest and not steps:  # the usual case: nothing to match, it all rests
            return self._rest_whole(cmd, oid, account, reserve)
        return self._accept(cmd, oid, qty, 0, account, opp, steps, reserve, [])

    def cancel(self, cmd: CancelOrder) -> CommandResult:
        if type(cmd) is not CancelOrder:
            _wrong_command(cmd, CancelOrder)
        oid = cmd.order_id
        r = self._live.get(oid) if type(oid) is int else None
        if r is None or r.trader_id != cmd.trader_id:
            r = self._owned(cmd.trader_id, oid)  # raises the right error
        # _unrest and _tidy inline: a cancel is a third of the traffic.
        side, price, rem = r.side, r.price, r.remaining
        book = self._bids if side is _BUY else self._asks
        level = book.levels[price]
        r.active = False
        del self._live[oid]
        level.quantity -= rem
        level.count -= 1
        account = r.account
        account.reserved_sat -= r.reserved_sat
        if not account.house:
            if side is _BUY:
                self._open_buy -= rem
            else:
                self._open_sell -= rem
        book.tidy(level)
        self._seq = seq = self._seq + 1
        delta = _new(BookDelta, (seq, side, price, level.quantity, level.count))
        qty = r.quantity
        view = _new(
            OrderView,
            (
                oid,
                r.trader_id,
                r.client_order_id,
                side,
                _LIMIT,
                r.time_in_force,
                price,
                qty,
                qty - rem,
                rem,
                r.leverage,
                _CANCELLED,
                r.priority,
                0,  # it holds no margin any more
                _REQUESTED,
            ),
        )
        r.reserved_sat = 0
        return _new(CommandResult, (view, (), (delta,), ()))

    def amend(self, cmd: AmendOrder) -> CommandResult:
        if type(cmd) is not AmendOrder:
            _wrong_command(cmd, AmendOrder)
        cfg = self.config
        _check_text(cmd.trader_id, "trader_id")
        new_qty, new_price = cmd.quantity, cmd.price
        if new_qty is None and new_price is None:
            raise AmendEmpty(
                "an amend needs a new quantity or a new price", field="quantity", value=None
            )
        if new_qty is not None:
            _check_quantity(cfg, new_qty, "quantity")
        if new_price is not None:
            _check_price(cfg, new_price, "price")
        r = self._owned(cmd.trader_id, cmd.order_id)
        filled = r.quantity - r.remaining
        qty = r.quantity if new_qty is None else new_qty
        price = r.price if new_price is None else new_price
        if qty <= filled:
            raise AmendBelowFilled(
                f"order {r.order_id} has {filled} contracts filled: "
                f"a new quantity must be above that, not {qty}",
                field="quantity",
                value=qty,
                filled=filled,
            )
        if price == r.price and qty <= r.quantity:
            if qty == r.quantity:
                return CommandResult(r.view(), (), (), ())
            return self._reduce(r, qty)
        return self._replace(r, qty, price)

    def declare_margin(self, cmd: DeclareMargin) -> AccountView:
        """Set the trader's free collateral; their fills from now on count against it."""
        if type(cmd) is not DeclareMargin:
            _wrong_command(cmd, DeclareMargin)
        _check_text(cmd.trader_id, "trader_id")
        amount = cmd.available_sat
        _check_margin(amount, "available_sat")
        account = self._accounts.get(cmd.trader_id)
        if account is None:
            account = Account(cmd.trader_id, cmd.trader_id in self.config.house_traders)
            self._accounts[cmd.trader_id] = account
        account.declared_sat = amount
        account.committed_sat = 0
        return account.view()

    def release_fill(
        self, trader_id: str, position: int, margin_sat: int, fee_sat: int
    ) -> AccountView:
        """Undo one side of a fill whose DLC was never signed (``dlc.released``).

        ``position`` is what the fill added to the trader's position (signed).
        The fill's margin stops counting against the trader's declaration.
        When a later declaration reset ``committed_sat`` the fill is not in it
        any more; subtracting anyway (floored at zero) frees at most the coins
        the release unlocks in the trader's wallet, so free margin never
        exceeds what the trader holds.
        """
        account = self._accounts.get(trader_id)
        if account is None:
            account = Account(trader_id, trader_id in self.config.house_traders)
            self._accounts[trader_id] = account
        account.position -= position
        account.committed_sat = max(0, account.committed_sat - margin_sat)
        account.fees_sat -= fee_sat
        if not account.house:
            self._position += position  # the coordinator held the opposite
        return account.view()

    def cancel_all(self) -> tuple[tuple[OrderView, ...], tuple[BookDelta, ...]]:
        """Close the market: cancel every resting order (reason ``market_closed``)."""
        cancelled: list[OrderView] = []
        deltas: list[BookDelta] = []
        for book in (self._bids, self._asks):
            for key in reversed(list(book.keys)):
                level = book.levels[key * book.sign]
                for o in [o for o in level.orders if o.active]:
                    self._unrest(o, level)
                    cancelled.append(o.view(_CANCELLED, CancelReason.MARKET_CLOSED))
                deltas.append(self._tidy(book, level))
        return tuple(cancelled), tuple(deltas)

    # ---------------------------------------------------------------- internals

    def _owned(self, trader_id: str, order_id: int) -> Resting:
        if type(trader_id) is not str or not 0 < len(trader_id) <= _MAX_TEXT:
            _bad_text(trader_id, "trader_id")
        if type(order_id) is not int:
            raise InvalidFieldType("order_id must be an int", field="order_id", value=order_id)
        r = self._live.get(order_id)
        # Another trader's order answers like a missing one: ids are not probed.
        if r is None or r.trader_id != trader_id:
            raise OrderNotFound(
                f"no open order {order_id} of trader {trader_id!r} in {self.config.market_id}",
                order_id=order_id,
            )
        return r

    def _band_limit(self, side: Side, opp: BookSide) -> int | None:
        """The worst price a market order may take: the touch it meets, plus the band."""
        best = opp.best_price()
        if best is None:
            return None
        band = self.config.price_band_bps
        if side is _BUY:
            return best * (_BPS + band) // _BPS
        return -(-best * (_BPS - band) // _BPS)

    def _plan(
        self, account: Account, opp: BookSide, limit: int, qty: int, lev: int
    ) -> tuple[list[_Step], int, int]:
        """Walk ``opp`` without changing it: the steps, quantity taken and taker margin."""
        steps: list[_Step] = []
        left = qty
        margin = 0
        keys, levels, sign = opp.keys, opp.levels, opp.sign
        house = account.house
        bound = sign * limit
        i = len(keys) - 1
        while i >= 0:
            key = keys[i]
            if key < bound:
                break
            price = key * sign
            den = price * lev
            for o in levels[price].orders:
                if not o.active:
                    continue
                if o.account is account or (house and o.account.house):
                    steps.append((o, 0, 0))
                    continue
                rem = o.remaining
                if left <= rem:
                    m = -(-left * _K // den)
                    steps.append((o, left, m))
                    return steps, qty, margin + m
                m = -(-rem * _K // den)
                steps.append((o, rem, m))
                margin += m
                left -= rem
            i -= 1
        return steps, qty - left, margin

    def _check_risk(
        self,
        account: Account,
        side: Side,
        margin: int,
        added: int,
        released_reserve: int,
        released_open: int,
        declared: int | None = None,
    ) -> None:
        """Raise if ``margin`` does not fit or the exposure limit would be passed.

        ``declared``: a declaration coming with the order (it replaces the
        account's, and its committed margin, if the order is accepted).
        """
        if declared is None:
            declared, committed = account.declared_sat, account.committed_sat
        else:
            committed = 0
        free = declared - committed - account.reserved_sat + released_reserve
        if margin > free:
            raise InsufficientMargin(
                f"the order needs {margin} sat of margin; trader {account.trader_id!r} "
                f"has {max(free, 0)} sat free of the {declared} sat declared",
                required_sat=margin,
                free_sat=free,
                declared_sat=declared,
            )
        if side is _BUY:
            worst = self._open_buy - released_open + added - self._position
        else:
            worst = self._open_sell - released_open + added + self._position
        limit = self.config.max_exposure
        if worst > limit:
            raise ExposureLimitExceeded(
                f"the coordinator's worst-case {'short' if side is _BUY else 'long'} "
                f"position would be {worst} contracts, above max_exposure {limit}",
                worst_case=worst,
                max_exposure=limit,
            )

    def _accept(
        self,
        cmd: PlaceOrder,
        oid: int,
        qty: int,
        filled: int,
        account: Account,
        opp: BookSide,
        steps: list[_Step],
        reserve: int,
        deltas: list[BookDelta],
    ) -> CommandResult:
        """Execute the planned steps, then rest (holding ``reserve``) or cancel the rest.

        ``cmd`` gives the order's fixed fields; ``qty`` is its total quantity
        and ``filled`` what it had filled before (both differ from ``cmd`` only
        for an amended order).
        """
        fills: tuple[Fill, ...] = ()
        cancelled: tuple[OrderView, ...] = ()
        if steps:
            fills, cancelled, taken = self._execute(cmd, oid, account, opp, steps, deltas)
            filled += taken
        rem = qty - filled
        tif = cmd.time_in_force
        status, priority, reason = _FILLED, 0, None
        if rem and (tif is _GTC or tif is _POST_ONLY):
            self._seq = priority = self._seq + 1
            status = _OPEN if not filled else _PARTIAL
        elif rem:
            status = _CANCELLED
            if cmd.order_type is _MARKET and opp.keys:
                reason = CancelReason.PRICE_BAND
            else:
                reason = CancelReason.IMMEDIATE_OR_CANCEL
        view = _new(
            OrderView,
            (
                oid,
                cmd.trader_id,
                cmd.client_order_id,
                cmd.side,
                cmd.order_type,
                tif,
                cmd.price,
                qty,
                filled,
                rem,
                cmd.leverage,
                status,
                priority,
                reserve if priority else 0,
                reason,
            ),
        )
        if priority:
            resting = Resting(
                oid,
                account,
                cmd.side,
                tif,
                cmd.price,  # type: ignore[arg-type]  # a limit order
                qty,
                rem,
                cmd.leverage,
                cmd.client_order_id,
                priority,
                reserve,
            )
            deltas.append(self._rest(resting))
        return _new(CommandResult, (view, fills, tuple(deltas), cancelled))

    def _execute(
        self,
        taker: PlaceOrder,
        taker_oid: int,
        taker_account: Account,
        opp: BookSide,
        steps: list[_Step],
        deltas: list[BookDelta],
    ) -> tuple[tuple[Fill, ...], tuple[OrderView, ...], int]:
        """Apply the planned steps: fills, self-trade cancels, one delta per level."""
        cfg = self.config
        maker_bps, taker_bps = cfg.maker_fee_bps, cfg.taker_fee_bps
        tside, tid = taker.side, taker.trader_id
        maker_sign = -1 if tside is _BUY else 1  # position change of a maker per contract
        live = self._live
        fills: list[Fill] = []
        cancelled: list[OrderView] = []
        trade_id = self._next_trade_id
        taken = taker_margin = taker_fees = 0
        trader_makers = 0  # contracts taken from traders' (not house) resting orders
        level: Level | None = None
        for o, take, margin in steps:
            price = o.price
            if level is None or level.price != price:
                if level is not None:
                    deltas.append(self._tidy(opp, level))
                level = opp.levels[price]
            if not take:
                self._unrest(o, level)
                cancelled.append(o.view(_CANCELLED, CancelReason.SELF_TRADE))
                continue
            rem = o.remaining - take
            o.remaining = rem
            level.quantity -= take
            if rem:
                reserve = -(-rem * _K // (price * o.leverage))
            else:
                reserve = 0
                o.active = False
                level.count -= 1
                del live[o.order_id]
            maker_margin = o.reserved_sat - reserve
            o.reserved_sat = reserve
            macct = o.account
            maker_fee = -(-take * maker_bps * _FEE // price)
            taker_fee = -(-take * taker_bps * _FEE // price)
            macct.reserved_sat -= maker_margin
            macct.committed_sat += maker_margin
            macct.fees_sat += maker_fee
            macct.position += maker_sign * take
            if not macct.house:
                trader_makers += take
            fills.append(
                _new(
                    Fill,
                    (
                        trade_id,
                        price,
                        take,
                        tside,
                        taker_oid,
                        tid,
                        o.order_id,
                        o.trader_id,
                        taker_fee,
                        maker_fee,
                        margin,
                        maker_margin,
                        rem,
                    ),
                )
            )
            trade_id += 1
            taken += take
            taker_margin += margin
            taker_fees += taker_fee
        assert level is not None
        deltas.append(self._tidy(opp, level))
        self._next_trade_id = trade_id
        taker_account.committed_sat += taker_margin
        taker_account.fees_sat += taker_fees
        taker_account.position -= maker_sign * taken
        # Traders' positions moved by -maker_sign per contract on the taker side and
        # +maker_sign on the maker side; the coordinator holds the opposite.
        traders_moved = maker_sign * trader_makers
        if not taker_account.house:
            traders_moved -= maker_sign * taken
        self._position -= traders_moved
        if tside is _BUY:
            self._open_sell -= trader_makers
        else:
            self._open_buy -= trader_makers
        return tuple(fills), tuple(cancelled), taken

    def _rest_whole(
        self, cmd: PlaceOrder, oid: int, account: Account, reserve: int
    ) -> CommandResult:
        """A new limit order that rests whole: ``_accept`` and ``_rest`` in one step."""
        self._seq = seq = self._seq + 1
        side, price, qty = cmd.side, cmd.price, cmd.quantity
        assert price is not None  # only a limit order rests
        tif, lev, coid = cmd.time_in_force, cmd.leverage, cmd.client_order_id
        order = Resting(oid, account, side, tif, price, qty, qty, lev, coid, seq, reserve)
        if side is _BUY:
            book = self._bids
            if not account.house:
                self._open_buy += qty
        else:
            book = self._asks
            if not account.house:
                self._open_sell += qty
        level = book.levels.get(price)
        if level is None:
            level = book.add_level(price)
        level.orders.append(order)
        level.quantity += qty
        level.count += 1
        self._live[oid] = order
        account.reserved_sat += reserve
        delta = _new(BookDelta, (seq, side, price, level.quantity, level.count))
        view = _new(
            OrderView,
            (
                oid,
                account.trader_id,
                coid,
                side,
                _LIMIT,
                tif,
                price,
                qty,
                0,
                qty,
                lev,
                _OPEN,
                seq,
                reserve,
                None,
            ),
        )
        return _new(CommandResult, (view, (), (delta,), ()))

    def _rest(self, order: Resting) -> BookDelta:
        """Put a new resting order (its priority the next sequence number) in the book."""
        book = self._bids if order.side is _BUY else self._asks
        level = book.append(order)
        self._live[order.order_id] = order
        account = order.account
        account.reserved_sat += order.reserved_sat
        if not account.house:
            if book is self._bids:
                self._open_buy += order.remaining
            else:
                self._open_sell += order.remaining
        return _new(
            BookDelta, (order.priority, book.side, level.price, level.quantity, level.count)
        )

    def _unrest(self, o: Resting, level: Level) -> None:
        """Take a live order out of the book (its level is tidied by the caller)."""
        o.active = False
        del self._live[o.order_id]
        rem = o.remaining
        level.quantity -= rem
        level.count -= 1
        account = o.account
        account.reserved_sat -= o.reserved_sat
        o.reserved_sat = 0
        if not account.house:
            if o.side is _BUY:
                self._open_buy -= rem
            else:
                self._open_sell -= rem

    def _tidy(self, book: BookSide, level: Level) -> BookDelta:
        """Tidy a changed level and return its delta."""
        book.tidy(level)
        self._seq = seq = self._seq + 1
        return _new(BookDelta, (seq, book.side, level.price, level.quantity, level.count))

    def _reduce(self, o: Resting, qty: int) -> CommandResult:
        """Amend down in place: the order keeps its priority."""
        book = self._bids if o.side is _BUY else self._asks
        price = o.price
        level = book.levels[price]
        cut = o.quantity - qty
        o.quantity = qty
        o.remaining -= cut
        level.quantity -= cut
        reserve = -(-o.remaining * _K // (price * o.leverage))
        account = o.account
        account.reserved_sat -= o.reserved_sat - reserve
        o.reserved_sat = reserve
        if not account.house:
            if o.side is _BUY:
                self._open_buy -= cut
            else:
                self._open_sell -= cut
        self._seq += 1
        delta = BookDelta(self._seq, book.side, price, level.quantity, level.count)
        return CommandResult(o.view(), (), (delta,), ())

    def _replace(self, o: Resting, qty: int, price: int) -> CommandResult:
        """Amend up or to a new price: the order re-enters at the back, and may match."""
        if o.side is _BUY:
            book, opp = self._bids, self._asks
        else:
            book, opp = self._asks, self._bids
        account = o.account
        filled = o.quantity - o.remaining
        open_qty = qty - filled
        if opp.crosses(price):
            if o.time_in_force is _POST_ONLY:
                _post_only(price, opp)
            steps, taken, take_margin = self._plan(account, opp, price, open_qty, o.leverage)
        else:
            steps, taken, take_margin = _NO_STEPS, 0, 0
        rest = open_qty - taken
        reserve = -(-rest * _K // (price * o.leverage)) if rest else 0
        if not account.house:
            self._check_risk(
                account, o.side, take_margin + reserve, open_qty, o.reserved_sat, o.remaining
            )
        old_level = book.levels[o.price]
        self._unrest(o, old_level)
        deltas = [self._tidy(book, old_level)]
        cmd = PlaceOrder(
            o.trader_id,
            o.side,
            qty,
            o.leverage,
            price,
            _LIMIT,
            o.time_in_force,
            o.client_order_id,
        )
        return self._accept(cmd, o.order_id, qty, filled, account, opp, steps, reserve, deltas)

    def _restore(self, state: EngineState) -> None:
        _check_state_header(self.config, state)
        self._seq = state.seq
        self._next_order_id = state.next_order_id
        self._next_trade_id = state.next_trade_id
        house = self.config.house_traders
        for av in state.accounts:
            if av.trader_id in self._accounts:
                _bad_state(f"account {av.trader_id!r} appears twice")
            acct = Account(av.trader_id, av.trader_id in house)
            acct.declared_sat = av.declared_sat
            acct.committed_sat = av.committed_sat
            acct.position = av.position
            acct.fees_sat = av.fees_sat
            self._accounts[av.trader_id] = acct
            if not acct.house:
                self._position -= av.position
        last = 0
        for ov in state.orders:
            if ov.priority <= last or ov.priority > state.seq:
                _bad_state(f"order {ov.order_id}: priorities must increase and be <= seq")
            last = ov.priority
            self._restore_order(ov)
        for av in state.accounts:
            if self._accounts[av.trader_id].reserved_sat != av.reserved_sat:
                _bad_state(f"account {av.trader_id!r}: reserved margin != its orders' reserves")

    def _restore_order(self, ov: OrderView) -> None:
        cfg = self.config
        acct = self._accounts.get(ov.trader_id)
        if acct is None:
            _bad_state(f"order {ov.order_id}: no account for trader {ov.trader_id!r}")
        if ov.order_id in self._live or not 0 < ov.order_id < self._next_order_id:
            _bad_state(f"order {ov.order_id}: duplicate or beyond next_order_id")
        if ov.status not in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED):
            _bad_state(f"order {ov.order_id}: status {ov.status!r} cannot rest")
        if ov.order_type is not OrderType.LIMIT or ov.time_in_force not in (
            TimeInForce.GTC,
            TimeInForce.POST_ONLY,
        ):
            _bad_state(f"order {ov.order_id}: only gtc/post-only limit orders rest")
        price = ov.price
        if type(price) is not int or price <= 0 or price % cfg.tick_size:
            _bad_state(f"order {ov.order_id}: price {price!r} is not on a tick")
        if (
            not 0 < ov.remaining <= ov.quantity
            or ov.filled + ov.remaining != ov.quantity
            or (ov.filled > 0) != (ov.status is OrderStatus.PARTIALLY_FILLED)
            or ov.cancel_reason is not None
        ):
            _bad_state(f"order {ov.order_id}: quantity/filled/status disagree")
        if ov.reserved_margin_sat != -(-ov.remaining * _K // (price * ov.leverage)):
            _bad_state(f"order {ov.order_id}: reserved margin does not match its size")
        opp = self._asks if ov.side is Side.BUY else self._bids
        if opp.crosses(price):
            _bad_state(f"order {ov.order_id}: the restored book would be crossed")
        r = Resting(
            ov.order_id,
            acct,
            ov.side,
            ov.time_in_force,
            price,
            ov.quantity,
            ov.remaining,
            ov.leverage,
            ov.client_order_id,
            ov.priority,
            ov.reserved_margin_sat,
        )
        (self._bids if ov.side is Side.BUY else self._asks).append(r)
        self._live[ov.order_id] = r
        acct.reserved_sat += ov.reserved_margin_sat
        if not acct.house:
            if ov.side is Side.BUY:
                self._open_buy += ov.remaining
            else:
                self._open_sell += ov.remaining


# ------------------------------------------------------------------- validation


def _wrong_command(cmd: object, expected: type) -> NoReturn:
    raise InvalidFieldType(
        f"expected a {expected.__name__}, got {type(cmd).__name__}",
        field="command",
        value=type(cmd).__name__,
    )


def _check_text(value: object, field: str) -> None:
    if type(value) is not str or not 0 < len(value) <= _MAX_TEXT:
        _bad_text(value, field)


def _bad_text(value: object, field: str) -> NoReturn:
    if type(value) is not str or not value:
        raise InvalidFieldType(f"{field} must be a non-empty str", field=field, value=value)
    raise TextTooLong(
        f"{field} is {len(value)} characters, above the limit of {MAX_TEXT_LENGTH}",
        field=field,
        value=value[:MAX_TEXT_LENGTH],
        limit=MAX_TEXT_LENGTH,
    )


def _check_margin(amount: object, field: str) -> None:
    if type(amount) is not int:
        raise InvalidFieldType(f"{field} must be an int (sat)", field=field, value=amount)
    if not 0 <= amount <= MAX_MARGIN_SAT:
        raise MarginOutOfRange(
            f"{field} must be 0..{MAX_MARGIN_SAT}, not {amount}", field=field, value=amount
        )


def _check_quantity(cfg: MarketConfig, qty: object, field: str) -> None:
    if (
        type(qty) is not int
        or qty < cfg.min_quantity
        or qty > cfg.max_quantity
        or qty % cfg.lot_size
    ):
        _bad_quantity(cfg, qty, field)


def _bad_quantity(cfg: MarketConfig, qty: object, field: str) -> NoReturn:
    if type(qty) is not int:
        raise InvalidFieldType(f"{field} must be an int (contracts)", field=field, value=qty)
    if qty <= 0:
        raise QuantityNotPositive(f"{field} must be positive, not {qty}", field=field, value=qty)
    if qty % cfg.lot_size:
        raise QuantityOffLot(
            f"{field} {qty} is not a multiple of the lot size {cfg.lot_size}",
            field=field,
            value=qty,
            lot_size=cfg.lot_size,
        )
    if qty < cfg.min_quantity:
        raise QuantityBelowMinimum(
            f"{field} {qty} is below the minimum order size of {cfg.min_quantity} "
            "contracts (min_quantity)",
            field=field,
            value=qty,
            limit=cfg.min_quantity,
        )
    raise QuantityAboveMaximum(
        f"{field} {qty} is above the maximum order size of {cfg.max_quantity} "
        "contracts (max_quantity)",
        field=field,
        value=qty,
        limit=cfg.max_quantity,
    )


def _check_price(cfg: MarketConfig, price: object, field: str) -> None:
    if type(price) is not int or price <= 0 or price > cfg.max_price or price % cfg.tick_size:
        _bad_price(cfg, price, field)


def _bad_price(cfg: MarketConfig, price: object, field: str) -> NoReturn:
    if price is None:
        raise PriceRequired(f"a limit order needs a {field}", field=field, value=None)
    if type(price) is not int:
        raise InvalidFieldType(f"{field} must be an int (US cents)", field=field, value=price)
    if price <= 0:
        raise PriceNotPositive(f"{field} must be positive, not {price}", field=field, value=price)
    if price > cfg.max_price:
        raise PriceAboveMaximum(
            f"{field} {price} is above the maximum price {cfg.max_price} (max_price)",
            field=field,
            value=price,
            limit=cfg.max_price,
        )
    raise PriceOffTick(
        f"{field} {price} is not a multiple of the tick size {cfg.tick_size}",
        field=field,
        value=price,
        tick_size=cfg.tick_size,
    )


def _bad_leverage(cfg: MarketConfig, lev: object) -> NoReturn:
    if type(lev) is not int:
        raise InvalidFieldType("leverage must be an int", field="leverage", value=lev)
    raise LeverageOutOfRange(
        f"leverage {lev} is outside {cfg.min_leverage}..{cfg.max_leverage}",
        field="leverage",
        value=lev,
        min=cfg.min_leverage,
        max=cfg.max_leverage,
    )


def _post_only(price: int, opp: BookSide) -> NoReturn:
    raise PostOnlyWouldTake(
        f"a post-only order at {price} would trade against the resting "
        f"{opp.side} at {opp.best_price()}",
        price=price,
        best_opposite=opp.best_price(),
    )


def _check_state_header(cfg: MarketConfig, state: EngineState) -> None:
    if type(state) is not EngineState:
        _bad_state(f"expected an EngineState, got {type(state).__name__}")
    if state.market_id != cfg.market_id:
        _bad_state(f"state of market {state.market_id!r} given to {cfg.market_id!r}")
    for name in ("seq", "next_order_id", "next_trade_id"):
        value = getattr(state, name)
        if type(value) is not int or value < (0 if name == "seq" else 1):
            _bad_state(f"{name} must be an int >= {0 if name == 'seq' else 1}")


def _bad_state(message: str) -> NoReturn:
    raise InvalidEngineState(message, field="state", value=None)
