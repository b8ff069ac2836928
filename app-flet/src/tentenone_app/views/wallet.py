"""Wallet: balances (confirmed, unconfirmed), a receive address, and on the devnet the faucet."""

from __future__ import annotations

from decimal import Decimal

import flet as ft

from tentenone.chain.faucet import Faucet
from tentenone.errors import TentenoneError
from tentenone_app.account import Account
from tentenone_app.ids import tag
from tentenone_app.ui import Feedback, heading, sats

__all__ = ["FAUCET_AMOUNT_BTC", "WalletView"]

FAUCET_AMOUNT_BTC = Decimal("0.01")


class WalletView:
    def __init__(self, page: ft.Page, account: Account, faucet: Faucet | None) -> None:
        self.page = page
        self.account = account
        self.faucet = faucet
        self.feedback = Feedback("wallet")
        self.confirmed = ft.Text("…", size=22, weight=ft.FontWeight.BOLD)
        self.unconfirmed = ft.Text("…")
        self.address = ft.Text("", selectable=True)
        self.new_address = ft.OutlinedButton("New receive address", on_click=self._new_address)
        self.fund = ft.FilledButton(
            f"Fund {FAUCET_AMOUNT_BTC} BTC from the devnet faucet",
            on_click=self._fund,
        )
        self.fund_box = tag("wallet.fund", self.fund)
        self.fund_box.visible = faucet is not None
        self.control = ft.Column(
            [
                heading("Wallet"),
                ft.Text("Confirmed"),
                tag("wallet.confirmed", self.confirmed),
                ft.Text("Unconfirmed"),
                tag("wallet.unconfirmed", self.unconfirmed),
                tag("wallet.new_address", self.new_address),
                tag("wallet.address", self.address),
                self.fund_box,
                self.feedback.control,
            ],
            spacing=8,
            scroll=ft.ScrollMode.AUTO,
            expand=True,
        )

    async def refresh(self) -> None:
        try:
            balance = self.account.require_trader().balance()
        except TentenoneError as exc:
            self.feedback.show_error(exc)
            return
        self.confirmed.value = sats(balance.confirmed)
        self.unconfirmed.value = sats(balance.unconfirmed)

    async def _new_address(self) -> None:
        async def work() -> str:
            self.address.value = await self.account.require_trader().new_address()
            return "Send bitcoin to this address"

        await self.feedback.run(self.page, work, self.new_address, busy="Deriving an address…")

    async def _fund(self) -> None:
        async def work() -> str:
            if self.faucet is None:
                raise TentenoneError("no devnet faucet configured")
            address = self.address.value or await self.account.require_trader().new_address()
            self.address.value = address
            txid = await self.faucet.fund(address, FAUCET_AMOUNT_BTC, confirm=True)
            return f"Faucet paid {FAUCET_AMOUNT_BTC} BTC in {txid[:16]}…; it shows once seen"

        await self.feedback.run(self.page, work, self.fund, busy="Asking the faucet…")
