"""Positions: P&L at the index price, liquidation price, expiry; close, roll over, reminders.

Closing asks the coordinator for a quote at the current price; the trader
engine signs the close that follows. Rolling over renews the contract into
the next expiry without closing. In the rollover window the screen reminds
the trader (the engine rolls over by itself when that setting is on).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import flet as ft

from tentenone.errors import TentenoneError
from tentenone_app.account import Account
from tentenone_app.ids import tag
from tentenone_app.preferences import Preferences, save
from tentenone_app.preview import pnl_sat, preview
from tentenone_app.ui import Feedback, expiry_text, heading, sats, usd

__all__ = ["PositionsView"]

type MarketInfo = Callable[[], tuple[Decimal | None, dict[str, dt.datetime]]]


class PositionsView:
    def __init__(
        self, page: ft.Page, account: Account, prefs: Preferences, market_info: MarketInfo
    ) -> None:
        self.page = page
        self.account = account
        self.prefs = prefs
        self.market_info = market_info
        self.feedback = Feedback("positions")
        self.reminder = ft.Text("", color=ft.Colors.ORANGE_900, weight=ft.FontWeight.BOLD)
        self.rows = ft.Column([], spacing=6)
        self.auto_liquidation = ft.Switch(
            label="Accept the coordinator's liquidation close automatically",
            value=prefs.auto_liquidation,
            on_change=self._auto_liquidation,
        )
        self.control = ft.Column(
            [
                heading("Positions"),
                tag("positions.reminder", self.reminder),
                tag("positions.list", self.rows),
                tag("positions.auto_liquidation", self.auto_liquidation),
                ft.Text(
                    "Off: a position past its liquidation price runs to expiry, where the "
                    "contract pays out its margin clamp.",
                    size=12,
                ),
                self.feedback.control,
            ],
            spacing=8,
            scroll=ft.ScrollMode.AUTO,
            expand=True,
        )

    def _auto_liquidation(self) -> None:
        self.prefs.auto_liquidation = bool(self.auto_liquidation.value)
        save(self.account.settings.data_dir, self.prefs)
        self.feedback.show("Saved: applies from the next unlock")
        self.page.update()

    async def refresh(self) -> None:
        try:
            positions = await self.account.require_trader().positions()
        except TentenoneError as exc:
            self.feedback.show_error(exc)
            return
        due = [p.position_id for p in positions if p.rollover_due]
        self.reminder.value = f"Roll over before expiry: {', '.join(due)}" if due else ""
        if not positions:
            self.rows.controls = [ft.Text("No open positions")]
            return
        index, expiries = self.market_info()
        self.rows.controls = [self._card(n, p, index, expiries) for n, p in enumerate(positions)]

    def _card(
        self, n: int, p: Any, index: Decimal | None, expiries: dict[str, dt.datetime]
    ) -> ft.Control:
        entry = Decimal(p.price_cents).scaleb(-2)
        liq = preview(p.side, p.quantity, entry, p.leverage).liquidation_price
        pnl = (
            f"P&L at {usd(index)}: {sats(pnl_sat(p.side, p.quantity, entry, index))}"
            if index is not None
            else "P&L: no index price"
        )
        if p.realized_pnl_sat is not None:
            pnl = f"Realized P&L: {sats(p.realized_pnl_sat)}"
        expiry = expiries.get(p.market)
        lines: list[ft.Control] = [
            ft.Text(
                f"{'Long' if p.side in ('buy', 'long') else 'Short'} {p.quantity:,} @ "
                f"{usd(entry)} · {p.leverage}x · {p.state}",
                weight=ft.FontWeight.BOLD,
            ),
            tag(f"positions.{n}.pnl", ft.Text(pnl)),
            ft.Text(
                f"Margin {sats(p.margin_sat)} · liquidation "
                f"{usd(liq) if liq is not None else 'none'}"
            ),
            ft.Text(f"Expiry: {expiry_text(expiry) if expiry else p.market}"),
            tag(f"positions.{n}.note", ft.Text(p.note, italic=True)),
        ]
        if p.state == "open":
            lines.append(self._actions(n, p.position_id))
        return tag(f"positions.{n}", ft.Card(ft.Container(ft.Column(lines, spacing=4), padding=10)))

    def _actions(self, n: int, position_id: str) -> ft.Control:
        close = ft.OutlinedButton("Close at the quoted price")
        roll = ft.OutlinedButton("Roll over")

        async def do_close() -> None:
            async def work() -> str:
                quote = await self.account.require_trader().close_position(position_id)
                price = getattr(quote, "price", None)
                return f"Close quoted{f' at {usd(price)}' if price else ''}: signing"

            await self.feedback.run(self.page, work, close, roll, busy="Asking for a quote…")

        async def do_roll() -> None:
            async def work() -> str:
                await self.account.require_trader().rollover(position_id)
                return "Rollover requested: the renewal is signed in the background"

            await self.feedback.run(self.page, work, close, roll, busy="Requesting rollover…")

        close.on_click = do_close
        roll.on_click = do_roll
        return ft.Row([tag(f"positions.{n}.close", close), tag(f"positions.{n}.rollover", roll)])
