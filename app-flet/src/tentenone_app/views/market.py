"""Market: the index price, the expiries open for trading, the book with depth, recent trades."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import flet as ft

from tentenone.errors import TentenoneError
from tentenone_app.faults import describe
from tentenone_app.ids import tag
from tentenone_app.market_data import Book, Level, Market, MarketData, NotServed, Trade
from tentenone_app.ui import expiry_text, heading, usd

__all__ = ["MarketView"]

_DEPTH_LEVELS = 10
_TRADES_SHOWN = 15
_BAR_WIDTH = 120


class MarketView:
    def __init__(self, data: MarketData, on_trade: Callable[[Market], None]) -> None:
        self.data = data
        self.on_trade = on_trade
        self.markets: list[Market] = []
        self.selected: Market | None = None
        self.index_price: Decimal | None = None
        self.book: Book | None = None
        self.price = ft.Text("…", size=28, weight=ft.FontWeight.BOLD)
        self.expiries = ft.Column([], spacing=0, tight=True)
        self.book_box = ft.Column([], spacing=2, tight=True)
        self.trades_box = ft.Column([], spacing=2, tight=True)
        self.problem = ft.Text("", color=ft.Colors.RED_700)
        trade = ft.FilledButton("Trade this expiry", on_click=lambda: self._trade())
        self.control = ft.Column(
            [
                heading("BTC/USD inverse future"),
                ft.Text("Index price"),
                tag("market.index_price", self.price),
                tag("market.problem", self.problem),
                ft.Text("Expiries", weight=ft.FontWeight.BOLD),
                tag("market.expiries", self.expiries),
                tag("market.trade", trade),
                ft.Text("Order book (USD contracts)", weight=ft.FontWeight.BOLD),
                tag("market.book", self.book_box),
                ft.Text("Recent trades", weight=ft.FontWeight.BOLD),
                tag("market.trades", self.trades_box),
            ],
            spacing=8,
            scroll=ft.ScrollMode.AUTO,
            expand=True,
        )

    def _trade(self) -> None:
        if self.selected is not None:
            self.on_trade(self.selected)

    async def refresh(self) -> None:
        """Ask the gateway again; each part says on its own what it could not get."""
        problems: list[str] = []
        try:
            self.index_price = await self.data.index_price()
            self.price.value = usd(self.index_price)
        except TentenoneError as exc:
            problems.append(f"Index price: {describe(exc)}")
        try:
            self._show_markets(await self.data.markets())
        except TentenoneError as exc:
            problems.append(f"Markets: {describe(exc)}")
        if self.selected is not None:
            await self._refresh_book(self.selected.market, problems)
        self.problem.value = "\n".join(problems)

    def _show_markets(self, markets: list[Market]) -> None:
        self.markets = markets
        ids = [m.market for m in markets]
        if self.selected is None or self.selected.market not in ids:
            self.selected = markets[0] if markets else None
        tiles: list[ft.Control] = []
        for n, m in enumerate(markets):
            chosen = self.selected is not None and m.market == self.selected.market
            tile = ft.ListTile(
                title=ft.Text(expiry_text(m.expiry)),
                subtitle=ft.Text(m.market),
                selected=chosen,
                dense=True,
                on_click=self._selector(m),
            )
            tiles.append(tag(f"market.expiry.{n}", tile))
        self.expiries.controls = tiles

    def _selector(self, market: Market) -> Callable[[], None]:
        return lambda: self._select(market)

    def _select(self, market: Market) -> None:
        self.selected = market
        self._show_markets(self.markets)
        self.book_box.controls = [ft.Text("Loading…")]
        self.control.update()

    async def _refresh_book(self, market: str, problems: list[str]) -> None:
        try:
            self.book = await self.data.book(market)
            self.book_box.controls = _book_rows(self.book)
        except NotServed as exc:
            self.book = None
            self.book_box.controls = [ft.Text(f"No book from this gateway: {exc.message}")]
        except TentenoneError as exc:
            problems.append(f"Book: {describe(exc)}")
        try:
            self.trades_box.controls = _trade_rows(await self.data.trades(market))
        except NotServed as exc:
            self.trades_box.controls = [ft.Text(f"No trades from this gateway: {exc.message}")]
        except TentenoneError as exc:
            problems.append(f"Trades: {describe(exc)}")


def _depth_bar(quantity: int, biggest: int, color: str) -> ft.Container:
    width = max(2, int(_BAR_WIDTH * quantity / biggest)) if biggest else 2
    return ft.Container(width=width, height=14, bgcolor=color)


def _side_rows(levels: list[Level], name: str, color: str, biggest: int) -> list[ft.Control]:
    rows: list[ft.Control] = []
    cumulative = 0
    for n, level in enumerate(levels[:_DEPTH_LEVELS]):
        cumulative += level.quantity
        row = ft.Row(
            [
                ft.Text(usd(level.price), width=110, color=color),
                ft.Text(f"{level.quantity:,}", width=80),
                _depth_bar(cumulative, biggest, color),
            ],
            spacing=8,
        )
        rows.append(tag(f"book.{name}.{n}", row))
    return rows


def _book_rows(book: Book) -> list[ft.Control]:
    if not book.bids and not book.asks:
        return [ft.Text("The book is empty")]
    depth = max(
        sum(lv.quantity for lv in book.bids[:_DEPTH_LEVELS]),
        sum(lv.quantity for lv in book.asks[:_DEPTH_LEVELS]),
    )
    asks = list(reversed(_side_rows(book.asks, "ask", ft.Colors.RED_700, depth)))
    bids = _side_rows(book.bids, "bid", ft.Colors.GREEN_800, depth)
    spread = book.spread
    middle = ft.Text(
        f"spread {usd(spread)}" if spread is not None else "one-sided book", italic=True
    )
    return [
        tag("book.asks", ft.Column(asks, spacing=2)),
        middle,
        tag("book.bids", ft.Column(bids, spacing=2)),
    ]


def _trade_rows(trades: list[Trade]) -> list[ft.Control]:
    if not trades:
        return [ft.Text("No trades yet")]
    rows: list[ft.Control] = []
    for trade in trades[:_TRADES_SHOWN]:
        when = trade.at.strftime("%H:%M:%S") if trade.at else ""
        color = ft.Colors.GREEN_800 if trade.side == "buy" else ft.Colors.RED_700
        rows.append(
            ft.Row(
                [
                    ft.Text(when, width=70),
                    ft.Text(usd(trade.price), width=110, color=color),
                    ft.Text(f"{trade.quantity:,}"),
                ]
            )
        )
    return rows
