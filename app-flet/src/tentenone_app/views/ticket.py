"""The order ticket: buy or sell USD contracts at a leverage, with the commitment shown first.

The margin and the liquidation price (``tentenone_app.preview``, from the
DLC library's payout curve) update on every change, before anything is sent.
A market order is previewed at the price it would meet: the best ask for a
buy, the best bid for a sell, else the index price.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation

import flet as ft

from tentenone.errors import InvalidInput, TentenoneError
from tentenone_app.account import Account
from tentenone_app.faults import describe
from tentenone_app.ids import tag
from tentenone_app.market_data import Market
from tentenone_app.preview import preview
from tentenone_app.ui import Feedback, expiry_text, heading, sats, usd

__all__ = ["TicketView"]

type ReferencePrice = Callable[[str], Decimal | None]


def _number(text: str | None, what: str) -> Decimal:
    try:
        value = Decimal((text or "").strip().replace(",", ""))
    except InvalidOperation:
        raise InvalidInput(f"{what} must be a number, not {text!r}") from None
    if not value.is_finite():
        raise InvalidInput(f"{what} must be a number, not {text!r}")
    return value


class TicketView:
    def __init__(self, page: ft.Page, account: Account, reference: ReferencePrice) -> None:
        self.page = page
        self.account = account
        self.reference = reference
        self.market: Market | None = None
        self.feedback = Feedback("ticket")
        self.market_text = ft.Text("Choose an expiry on the market screen")
        self.side = ft.SegmentedButton(
            segments=[
                ft.Segment(value="buy", label=ft.Text("Buy / long")),
                ft.Segment(value="sell", label=ft.Text("Sell / short")),
            ],
            selected=["buy"],
            on_change=self._changed,
        )
        self.kind = ft.SegmentedButton(
            segments=[
                ft.Segment(value="market", label=ft.Text("Market")),
                ft.Segment(value="limit", label=ft.Text("Limit")),
            ],
            selected=["market"],
            on_change=self._changed,
        )
        self.quantity = ft.TextField(
            label="Quantity (USD contracts)",
            value="100",
            keyboard_type=ft.KeyboardType.NUMBER,
            on_change=self._changed,
        )
        self.price = ft.TextField(
            label="Limit price (USD)",
            keyboard_type=ft.KeyboardType.NUMBER,
            on_change=self._changed,
        )
        # Hidden on the semantics wrapper: a wrapper around a hidden control is an error.
        self.price_box = tag("ticket.price", self.price)
        self.price_box.visible = False
        self.leverage = ft.Slider(
            min=1, max=10, divisions=9, value=2, label="{value}x", on_change=self._changed
        )
        self.leverage_text = ft.Text("2x")
        down = ft.IconButton(ft.Icons.REMOVE, tooltip="Less leverage", on_click=self._down)
        up = ft.IconButton(ft.Icons.ADD, tooltip="More leverage", on_click=self._up)
        self.preview_text = ft.Text("")
        self.submit = ft.FilledButton("Place order", on_click=self._submit)
        self.control = ft.Column(
            [
                heading("Order ticket"),
                tag("ticket.market", self.market_text),
                tag("ticket.side", self.side),
                tag("ticket.type", self.kind),
                tag("ticket.quantity", self.quantity),
                self.price_box,
                ft.Text("Leverage"),
                ft.Row(
                    [
                        tag("ticket.leverage_down", down),
                        ft.Container(tag("ticket.leverage", self.leverage), expand=True),
                        tag("ticket.leverage_up", up),
                        tag("ticket.leverage_value", self.leverage_text),
                    ]
                ),
                ft.Card(ft.Container(tag("ticket.preview", self.preview_text), padding=12)),
                tag("ticket.submit", self.submit),
                self.feedback.control,
            ],
            spacing=10,
            scroll=ft.ScrollMode.AUTO,
            expand=True,
        )
        self.update_preview()

    # -- inputs ----------------------------------------------------------------------

    @property
    def side_value(self) -> str:
        return self.side.selected[0] if self.side.selected else "buy"

    @property
    def is_limit(self) -> bool:
        return bool(self.kind.selected) and self.kind.selected[0] == "limit"

    @property
    def leverage_value(self) -> int:
        return round(self.leverage.value or 1)

    def set_market(self, market: Market) -> None:
        self.market = market
        self.market_text.value = f"{market.market} · expires {expiry_text(market.expiry)}"
        self.update_preview()

    def _step(self, delta: int) -> None:
        self.leverage.value = min(10, max(1, self.leverage_value + delta))
        self._changed()

    def _down(self) -> None:
        self._step(-1)

    def _up(self) -> None:
        self._step(1)

    def _changed(self) -> None:
        self.price_box.visible = self.is_limit
        self.leverage_text.value = f"{self.leverage_value}x"
        self.update_preview()
        self.page.update()

    def _order_price(self) -> Decimal | None:
        """The limit price, or None for a market order."""
        if not self.is_limit:
            return None
        price = _number(self.price.value, "the limit price")
        if price <= 0 or price.as_tuple().exponent < -2:  # type: ignore[operator]
            raise InvalidInput(f"the limit price must be positive with 2 decimals at most: {price}")
        return price

    def _quantity(self) -> int:
        quantity = _number(self.quantity.value, "the quantity")
        if quantity != quantity.to_integral_value() or quantity <= 0:
            raise InvalidInput(f"the quantity must be a whole number of contracts: {quantity}")
        return int(quantity)

    # -- preview and submit -------------------------------------------------------------

    def update_preview(self) -> None:
        try:
            quantity = self._quantity()
            price = self._order_price() or self.reference(self.side_value)
            if price is None:
                self.preview_text.value = "No price yet to preview against (no book, no index)"
                return
            shown = preview(self.side_value, quantity, price, self.leverage_value)
        except TentenoneError as exc:
            self.preview_text.value = describe(exc)
            return
        liquidation = (
            usd(shown.liquidation_price)
            if shown.liquidation_price is not None
            else "none (1x short)"
        )
        self.preview_text.value = "\n".join(
            [
                f"{'Long' if shown.side == 'buy' else 'Short'} {quantity:,} contracts "
                f"at {'' if self.is_limit else '≈ '}{usd(price)}, {shown.leverage}x",
                f"Margin: {sats(shown.margin_sat)}",
                f"Liquidation price: {liquidation}",
            ]
        )

    async def _submit(self) -> None:
        async def work() -> str:
            if self.market is None:
                raise InvalidInput("choose an expiry on the market screen first")
            order_id = await self.account.place_order(
                self.market.market,
                self.side_value,
                self._quantity(),
                self.leverage_value,
                self._order_price(),
            )
            return f"Order {order_id} sent: follow it on the orders screen"

        await self.feedback.run(self.page, work, self.submit, busy="Sending the order…")
