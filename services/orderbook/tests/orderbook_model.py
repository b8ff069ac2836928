"""A reference order book for the property tests: obviously correct, slow.

Resting orders are one flat list; every question (what crosses, in which
order, what a level holds, how exposed the coordinator is) is answered by
scanning and sorting that list. Money is computed with ``Fraction`` and
``math.ceil``, independently of the engine's integer tricks. It implements
the rules of docs/adr/0060-matching-engine.md and nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from tentenone_orderbook.accounts import AccountView
from tentenone_orderbook.events import BookDelta, CommandResult, Fill, PriceLevel
from tentenone_orderbook.market import MarketConfig
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


class Refused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def margin(qty: int, price: int, lev: int) -> int:
    # qty USD at price/100 USD per BTC, in sat, divided by leverage
    return math.ceil(Fraction(qty, 1) / Fraction(price, 100) * 100_000_000 / lev)


def fee(qty: int, price: int, bps: int) -> int:
    return math.ceil(Fraction(qty, 1) / Fraction(price, 100) * 100_000_000 * bps / 10_000)


@dataclass
class _Acct:
    house: bool
    declared: int = 0
    reserved: int = 0
    committed: int = 0
    position: int = 0
    fees: int = 0


class ReferenceBook:
    def __init__(self, config: MarketConfig) -> None:
        self.cfg = config
        self.resting: list[OrderView] = []
        self.accts: dict[str, _Acct] = {}
        self.seq = 0
        self.next_oid = 1
        self.next_tid = 1

    # ------------------------------------------------------------ observations

    def book(self) -> list[OrderView]:
        return sorted(self.resting, key=lambda o: o.priority)

    def depth(self) -> tuple[tuple[PriceLevel, ...], tuple[PriceLevel, ...]]:
        out = []
        for side in (Side.BUY, Side.SELL):
            prices = sorted({o.price for o in self.resting if o.side is side})
            if side is Side.BUY:
                prices.reverse()
            out.append(tuple(self._level(side, p) for p in prices))  # type: ignore[arg-type]
        return out[0], out[1]

    def _level(self, side: Side, price: int) -> PriceLevel:
        at = [o for o in self.resting if o.side is side and o.price == price]
        return PriceLevel(price, sum(o.quantity - o.filled for o in at), len(at))

    def accounts(self) -> list[AccountView]:
        return [
            AccountView(t, a.house, a.declared, a.reserved, a.committed, a.position, a.fees)
            for t, a in sorted(self.accts.items())
            if (a.declared, a.reserved, a.committed, a.position, a.fees) != (0, 0, 0, 0, 0)
        ]

    def coordinator_position(self) -> int:
        return -sum(a.position for a in self.accts.values() if not a.house)

    # ---------------------------------------------------------------- commands

    def apply(self, cmd: Any) -> CommandResult | AccountView:
        if isinstance(cmd, PlaceOrder):
            return self.place(cmd)
        if isinstance(cmd, CancelOrder):
            return self.cancel(cmd)
        if isinstance(cmd, AmendOrder):
            return self.amend(cmd)
        if isinstance(cmd, DeclareMargin):
            return self.declare(cmd)
        raise Refused("invalid_field_type")

    def declare(self, cmd: DeclareMargin) -> AccountView:
        _text(cmd.trader_id)
        if type(cmd.available_sat) is not int:
            raise Refused("invalid_field_type")
        if not 0 <= cmd.available_sat <= 21_000_000 * 100_000_000:
            raise Refused("margin_out_of_range")
        a = self._acct(cmd.trader_id, create=True)
        a.declared = cmd.available_sat
        a.committed = 0
        return AccountView(
            cmd.trader_id, a.house, a.declared, a.reserved, a.committed, a.position, a.fees
        )

    def cancel(self, cmd: CancelOrder) -> CommandResult:
        o = self._owned(cmd.trader_id, cmd.order_id)
        self._remove(o)
        view = o._replace(
            status=OrderStatus.CANCELLED,
            reserved_margin_sat=0,
            cancel_reason=CancelReason.REQUESTED,
        )
        return CommandResult(view, (), (self._delta(o.side, o.price),), ())  # type: ignore[arg-type]

    def place(self, cmd: PlaceOrder) -> CommandResult:
        cfg = self.cfg
        _text(cmd.trader_id)
        if not isinstance(cmd.side, Side):
            raise Refused("invalid_field_type")
        self._quantity(cmd.quantity)
        if type(cmd.leverage) is not int:
            raise Refused("invalid_field_type")
        if not cfg.min_leverage <= cmd.leverage <= cfg.max_leverage:
            raise Refused("leverage_out_of_range")
        if not isinstance(cmd.time_in_force, TimeInForce):
            raise Refused("invalid_field_type")
        tif = cmd.time_in_force
        if cmd.order_type is OrderType.LIMIT:
            self._price(cmd.price)
            limit: int | None = cmd.price
        elif cmd.order_type is OrderType.MARKET:
            if cmd.price is not None:
                raise Refused("price_not_allowed")
            if tif not in (TimeInForce.IOC, TimeInForce.FOK):
                raise Refused("invalid_time_in_force")
            limit = self._band(cmd.side)
        else:
            raise Refused("invalid_field_type")
        if cmd.client_order_id is not None:
            _text(cmd.client_order_id)
        if cmd.available_margin_sat is not None:
            if type(cmd.available_margin_sat) is not int:
                raise Refused("invalid_field_type")
            if not 0 <= cmd.available_margin_sat <= 21_000_000 * 100_000_000:
                raise Refused("margin_out_of_range")
        order = OrderView(
            self.next_oid,
            cmd.trader_id,
            cmd.client_order_id,
            cmd.side,
            cmd.order_type,
            tif,
            cmd.price,
            cmd.quantity,
            0,
            cmd.quantity,
            cmd.leverage,
            OrderStatus.NEW,
            0,
            0,
            None,
        )
        rests = tif in (TimeInForce.GTC, TimeInForce.POST_ONLY)
        result = self._submit(order, limit, rests, None, cmd.available_margin_sat)
        self.next_oid += 1
        return result

    def amend(self, cmd: AmendOrder) -> CommandResult:
        _text(cmd.trader_id)
        if cmd.quantity is None and cmd.price is None:
            raise Refused("amend_empty")
        if cmd.quantity is not None:
            self._quantity(cmd.quantity)
        if cmd.price is not None:
            self._price(cmd.price)
        o = self._owned(cmd.trader_id, cmd.order_id)
        qty = o.quantity if cmd.quantity is None else cmd.quantity
        price = o.price if cmd.price is None else cmd.price
        if qty <= o.filled:
            raise Refused("amend_below_filled")
        if price == o.price and qty == o.quantity:
            return CommandResult(o, (), (), ())
        if price == o.price and qty < o.quantity:
            new = o._replace(
                quantity=qty,
                remaining=qty - o.filled,
                reserved_margin_sat=margin(qty - o.filled, price, o.leverage),
            )
            self._swap(o, new)
            self._acct(o.trader_id).reserved += new.reserved_margin_sat - o.reserved_margin_sat
            return CommandResult(new, (), (self._delta(o.side, price),), ())  # type: ignore[arg-type]
        fresh = o._replace(
            price=price, quantity=qty, remaining=qty - o.filled, priority=0, reserved_margin_sat=0
        )
        return self._submit(fresh, price, True, o, None)

    # --------------------------------------------------------------- internals

    def _submit(
        self,
        order: OrderView,
        limit: int | None,
        rests: bool,
        released: OrderView | None,
        declare: int | None,
    ) -> CommandResult:
        cfg = self.cfg
        acct = self._acct(order.trader_id)
        house = acct.house if acct else order.trader_id in cfg.house_traders
        want = order.quantity - order.filled
        crossing = self._crossing(order, limit)
        if crossing and order.time_in_force is TimeInForce.POST_ONLY:
            raise Refused("post_only_would_take")
        steps: list[tuple[OrderView, int]] = []
        left = want
        for m in crossing:
            if left == 0:
                break
            if m.trader_id == order.trader_id or (house and m.trader_id in cfg.house_traders):
                steps.append((m, 0))
            else:
                take = min(left, m.quantity - m.filled)
                steps.append((m, take))
                left -= take
        taken = want - left
        if order.time_in_force is TimeInForce.FOK and left:
            raise Refused("fill_or_kill_unfilled")
        rest = left if rests else 0
        if not house:
            need = sum(margin(t, m.price, order.leverage) for m, t in steps if t)  # type: ignore[arg-type]
            if rest:
                need += margin(rest, order.price, order.leverage)  # type: ignore[arg-type]
            declared = acct.declared if acct else 0
            used = (acct.reserved + acct.committed) if acct else 0
            if declare is not None:  # the order's own declaration replaces the account's
                declared, used = declare, acct.reserved if acct else 0
            if released is not None:
                used -= released.reserved_margin_sat
            if need > declared - used:
                raise Refused("insufficient_margin")
            worst = self._worst(order.side, released) + taken + rest
            if worst > cfg.max_exposure:
                raise Refused("exposure_limit_exceeded")

        acct = self._acct(order.trader_id, create=True)
        if declare is not None:
            acct.declared, acct.committed = declare, 0
        deltas: list[BookDelta] = []
        if released is not None:
            self._remove(released)
            deltas.append(self._delta(released.side, released.price))  # type: ignore[arg-type]
        fills: list[Fill] = []
        cancelled: list[OrderView] = []
        sign = 1 if order.side is Side.BUY else -1
        i = 0
        while i < len(steps):
            price = steps[i][0].price
            while i < len(steps) and steps[i][0].price == price:
                m, take = steps[i]
                i += 1
                if take == 0:
                    self._remove(m)
                    cancelled.append(
                        m._replace(
                            status=OrderStatus.CANCELLED,
                            reserved_margin_sat=0,
                            cancel_reason=CancelReason.SELF_TRADE,
                        )
                    )
                    continue
                fills.append(self._fill(order, m, take, sign, acct))
            deltas.append(self._delta(steps[i - 1][0].side, price))  # type: ignore[arg-type]
        order = order._replace(filled=order.filled + taken, remaining=order.remaining - taken)
        if left and rests:
            res = margin(left, order.price, order.leverage)  # type: ignore[arg-type]
            order = order._replace(
                status=OrderStatus.OPEN if order.filled == 0 else OrderStatus.PARTIALLY_FILLED,
                priority=self.seq + 1,  # the sequence number of the delta below
                reserved_margin_sat=res,
            )
            self.resting.append(order)
            acct.reserved += res
            deltas.append(self._delta(order.side, order.price))  # type: ignore[arg-type]
        elif left:
            opp_left = any(o.side is not order.side for o in self.resting)
            reason = (
                CancelReason.PRICE_BAND
                if order.order_type is OrderType.MARKET and opp_left
                else CancelReason.IMMEDIATE_OR_CANCEL
            )
            order = order._replace(status=OrderStatus.CANCELLED, cancel_reason=reason)
        else:
            order = order._replace(status=OrderStatus.FILLED, reserved_margin_sat=0)
        return CommandResult(order, tuple(fills), tuple(deltas), tuple(cancelled))

    def _fill(self, taker: OrderView, m: OrderView, take: int, sign: int, tacct: _Acct) -> Fill:
        cfg = self.cfg
        price: int = m.price  # type: ignore[assignment]
        rem = m.quantity - m.filled - take
        new_res = margin(rem, price, m.leverage) if rem else 0
        mmargin = m.reserved_margin_sat - new_res
        macct = self._acct(m.trader_id)
        macct.reserved -= mmargin
        macct.committed += mmargin
        mfee, tfee = fee(take, price, cfg.maker_fee_bps), fee(take, price, cfg.taker_fee_bps)
        macct.fees += mfee
        macct.position -= sign * take
        tmargin = margin(take, price, taker.leverage)
        tacct.committed += tmargin
        tacct.fees += tfee
        tacct.position += sign * take
        if rem:
            self._swap(
                m,
                m._replace(
                    filled=m.filled + take,
                    remaining=rem,
                    status=OrderStatus.PARTIALLY_FILLED,
                    reserved_margin_sat=new_res,
                ),
            )
        else:
            self.resting.remove(m)
        fill = Fill(
            self.next_tid,
            price,
            take,
            taker.side,
            taker.order_id,
            taker.trader_id,
            m.order_id,
            m.trader_id,
            tfee,
            mfee,
            tmargin,
            mmargin,
            rem,
        )
        self.next_tid += 1
        return fill

    def _crossing(self, order: OrderView, limit: int | None) -> list[OrderView]:
        if limit is None:
            return []
        if order.side is Side.BUY:
            c = [o for o in self.resting if o.side is Side.SELL and o.price <= limit]  # type: ignore[operator]
            return sorted(c, key=lambda o: (o.price, o.priority))
        c = [o for o in self.resting if o.side is Side.BUY and o.price >= limit]  # type: ignore[operator]
        return sorted(c, key=lambda o: (-o.price, o.priority))  # type: ignore[operator]

    def _band(self, side: Side) -> int | None:
        band = Fraction(self.cfg.price_band_bps, 10_000)
        opp = [o.price for o in self.resting if o.side is not side]
        if not opp:
            return None
        if side is Side.BUY:
            return math.floor(min(opp) * (1 + band))  # type: ignore[type-var]
        return math.ceil(max(opp) * (1 - band))  # type: ignore[type-var]

    def _worst(self, side: Side, released: OrderView | None) -> int:
        """Coordinator's worst-case position on the side this order pushes it to."""
        open_qty = sum(
            o.quantity - o.filled
            for o in self.resting
            if o.side is side
            and o.trader_id not in self.cfg.house_traders
            and (released is None or o.order_id != released.order_id)
        )
        c = self.coordinator_position()
        return open_qty - c if side is Side.BUY else open_qty + c

    def _delta(self, side: Side, price: int) -> BookDelta:
        self.seq += 1
        lv = self._level(side, price)
        return BookDelta(self.seq, side, price, lv.quantity, lv.orders)

    def _remove(self, o: OrderView) -> None:
        self.resting.remove(o)
        self._acct(o.trader_id).reserved -= o.reserved_margin_sat

    def _swap(self, old: OrderView, new: OrderView) -> None:
        self.resting[self.resting.index(old)] = new

    def _owned(self, trader_id: Any, order_id: Any) -> OrderView:
        _text(trader_id)
        if type(order_id) is not int:
            raise Refused("invalid_field_type")
        for o in self.resting:
            if o.order_id == order_id and o.trader_id == trader_id:
                return o
        raise Refused("order_not_found")

    def _acct(self, trader_id: str, create: bool = False) -> _Acct:
        a = self.accts.get(trader_id)
        if a is None and create:
            a = self.accts[trader_id] = _Acct(house=trader_id in self.cfg.house_traders)
        return a  # type: ignore[return-value]

    def _quantity(self, q: Any) -> None:
        cfg = self.cfg
        if type(q) is not int:
            raise Refused("invalid_field_type")
        if q <= 0:
            raise Refused("quantity_not_positive")
        if q % cfg.lot_size:
            raise Refused("quantity_off_lot")
        if q < cfg.min_quantity:
            raise Refused("quantity_below_minimum")
        if q > cfg.max_quantity:
            raise Refused("quantity_above_maximum")

    def _price(self, p: Any) -> None:
        cfg = self.cfg
        if p is None:
            raise Refused("price_required")
        if type(p) is not int:
            raise Refused("invalid_field_type")
        if p <= 0:
            raise Refused("price_not_positive")
        if p > cfg.max_price:
            raise Refused("price_above_maximum")
        if p % cfg.tick_size:
            raise Refused("price_off_tick")


def _text(value: Any) -> None:
    if type(value) is not str or not value:
        raise Refused("invalid_field_type")
    if len(value) > 64:
        raise Refused("text_too_long")


__all__ = ["ReferenceBook", "Refused", "fee", "margin", "replace"]
