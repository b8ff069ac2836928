"""Orders: each order's state, what is happening with it and what the trader can do.

The words come from the trader engine (``OrderView``): a released match
carries the reason it was released.
"""

from __future__ import annotations

from typing import Any

import flet as ft

from tentenone.errors import TentenoneError
from tentenone_app.account import Account
from tentenone_app.ids import tag
from tentenone_app.ui import Feedback, heading

__all__ = ["OrdersView"]

_CANCELLABLE = {"placing", "open", "partially_filled"}


class OrdersView:
    def __init__(self, page: ft.Page, account: Account) -> None:
        self.page = page
        self.account = account
        self.feedback = Feedback("orders")
        self.rows = ft.Column([], spacing=6)
        self.control = ft.Column(
            [heading("Orders"), tag("orders.list", self.rows), self.feedback.control],
            spacing=8,
            scroll=ft.ScrollMode.AUTO,
            expand=True,
        )

    async def refresh(self) -> None:
        try:
            orders = await self.account.require_trader().orders()
        except TentenoneError as exc:
            self.feedback.show_error(exc)
            return
        if not orders:
            self.rows.controls = [ft.Text("No orders yet: place one on the ticket")]
            return
        self.rows.controls = [self._card(n, o) for n, o in enumerate(reversed(list(orders)))]

    def _cancel_button(self, order_id: str) -> ft.Control:
        cancel = ft.OutlinedButton("Cancel")

        async def go() -> None:
            async def work() -> str:
                await self.account.require_trader().cancel_order(order_id)
                await self.refresh()
                return f"Cancel of {order_id} sent"

            await self.feedback.run(self.page, work, cancel, busy="Cancelling…")

        cancel.on_click = go
        return cancel

    def _card(self, n: int, order: Any) -> ft.Control:
        lines: list[ft.Control] = [
            ft.Text(f"{order.order_id} · {order.state}", weight=ft.FontWeight.BOLD),
            tag(f"orders.{n}.happening", ft.Text(order.happening)),
            tag(f"orders.{n}.can_do", ft.Text(f"You can: {order.can_do}", italic=True)),
        ]
        if order.state in _CANCELLABLE:
            lines.append(tag(f"orders.{n}.cancel", self._cancel_button(order.order_id)))
        return tag(f"orders.{n}", ft.Card(ft.Container(ft.Column(lines, spacing=4), padding=10)))
