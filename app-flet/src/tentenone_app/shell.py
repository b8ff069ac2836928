"""The app's frame: one ``AppCore`` per process, one ``Shell`` per open page (tab, window).

The core holds what must exist once (the key store and the running trader,
the gateway's market data client); every page gets its own controls over it,
so a reload or a second tab shows the same wallet. Each page refreshes the
screen it shows every ``refresh_s`` seconds in a task that ends with the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from decimal import Decimal

import flet as ft

from tentenone.chain.faucet import Faucet
from tentenone.logging import get_logger
from tentenone_app.account import Account
from tentenone_app.ids import tag
from tentenone_app.market_data import Market, MarketData
from tentenone_app.preferences import Preferences, apply, load
from tentenone_app.settings import AppSettings
from tentenone_app.views.backups import BackupsView
from tentenone_app.views.market import MarketView
from tentenone_app.views.onboarding import Onboarding
from tentenone_app.views.orders import OrdersView
from tentenone_app.views.positions import PositionsView
from tentenone_app.views.settings import SettingsView
from tentenone_app.views.ticket import TicketView
from tentenone_app.views.wallet import WalletView

__all__ = ["AppCore", "Shell"]

_log = get_logger(__name__)
_MAX_WIDTH = 640
_TABS = ["market", "ticket", "orders", "positions", "wallet"]


class AppCore:
    def __init__(self, settings: AppSettings) -> None:
        self.prefs: Preferences = load(settings.data_dir)
        self.settings = apply(settings, self.prefs)
        self.account = Account(self.settings, self.prefs)
        self.market_data = MarketData(
            self.settings.gateway_url, timeout_s=self.settings.request_timeout_s
        )
        self.faucet = _faucet(self.settings)

    async def close(self) -> None:
        await self.account.close()
        await self.market_data.close()

    async def page_main(self, page: ft.Page) -> None:
        await Shell(page, self).start()


def _faucet(settings: AppSettings) -> Faucet | None:
    if settings.network != "regtest" or not settings.bitcoind_rpc_url:
        return None
    password = settings.bitcoind_rpc_password
    return Faucet(
        settings.bitcoind_rpc_url,
        settings.bitcoind_rpc_user or "",
        password.get_secret_value() if password else "",
    )


class Shell:
    def __init__(self, page: ft.Page, core: AppCore) -> None:
        self.page = page
        self.core = core
        self.closed = asyncio.Event()
        self.body = ft.Container(expand=True, padding=12)
        self.frame = ft.Container(self.body, width=_MAX_WIDTH)
        self.market = MarketView(core.market_data, self._trade)
        self.ticket = TicketView(page, core.account, self._reference_price)
        self.orders = OrdersView(page, core.account)
        self.positions = PositionsView(page, core.account, core.prefs, self._market_info)
        self.wallet = WalletView(page, core.account, core.faucet)
        self.backups = BackupsView(page, core.account)
        self.settings = SettingsView(page, core.account, core.prefs)
        self.current = "market"
        self.nav = ft.NavigationBar(
            destinations=[
                ft.NavigationBarDestination(icon=ft.Icons.SHOW_CHART, label="Market"),
                ft.NavigationBarDestination(icon=ft.Icons.RECEIPT_LONG, label="Trade"),
                ft.NavigationBarDestination(icon=ft.Icons.LIST_ALT, label="Orders"),
                ft.NavigationBarDestination(icon=ft.Icons.ACCOUNT_BALANCE, label="Positions"),
                ft.NavigationBarDestination(icon=ft.Icons.WALLET, label="Wallet"),
            ],
            on_change=self._nav_changed,
        )

    async def start(self) -> None:
        page = self.page
        page.title = "tentenone"
        page.theme_mode = ft.ThemeMode.LIGHT
        page.padding = 0
        page.on_close = self._on_close
        page.on_disconnect = self._on_close
        page.on_resize = self._on_resize
        self._fit(page.width)
        page.add(
            ft.SafeArea(
                ft.Row(
                    [self.frame],
                    alignment=ft.MainAxisAlignment.CENTER,
                    vertical_alignment=ft.CrossAxisAlignment.START,
                    expand=True,
                ),
                expand=True,
            )
        )
        if self.core.account.unlocked:
            await self._show_main()
        else:
            self.body.content = Onboarding(page, self.core.account, self._show_main).control
            page.update()

    def _fit(self, width: float | None) -> None:
        # A phone gets the whole width; a desktop or browser window a centred column.
        self.frame.width = min(_MAX_WIDTH, width) if width else _MAX_WIDTH

    def _on_resize(self, event: ft.PageResizeEvent) -> None:
        self._fit(event.width)
        self.page.update()

    def _on_close(self) -> None:
        self.closed.set()

    async def _show_main(self) -> None:
        page = self.page
        page.navigation_bar = self.nav
        page.appbar = ft.AppBar(
            title=ft.Text("tentenone"),
            actions=[
                tag(
                    "nav.backups",
                    ft.IconButton(
                        ft.Icons.BACKUP, tooltip="Backups", on_click=lambda: self._go("backups")
                    ),
                ),
                tag(
                    "nav.settings",
                    ft.IconButton(
                        ft.Icons.SETTINGS,
                        tooltip="Settings",
                        on_click=lambda: self._go("settings"),
                    ),
                ),
            ],
        )
        self._go("market")
        page.run_task(self._refresh_loop)

    # -- navigation --------------------------------------------------------------------

    def _view(self, name: str) -> ft.Control:
        views: dict[str, ft.Control] = {
            "market": self.market.control,
            "ticket": self.ticket.control,
            "orders": self.orders.control,
            "positions": self.positions.control,
            "wallet": self.wallet.control,
            "backups": self.backups.control,
            "settings": self.settings.control,
        }
        return views[name]

    def _go(self, name: str) -> None:
        self.current = name
        if name in _TABS:
            self.nav.selected_index = _TABS.index(name)
        self.body.content = self._view(name)
        self.page.update()
        self.page.run_task(self._refresh_current)

    def _nav_changed(self) -> None:
        self._go(_TABS[self.nav.selected_index])

    def _trade(self, market: Market) -> None:
        self.ticket.set_market(market)
        self._go("ticket")

    # -- what the ticket and positions need of the market ------------------------------

    def _reference_price(self, side: str) -> Decimal | None:
        book = self.market.book
        if book is not None:
            levels = book.asks if side == "buy" else book.bids
            if levels:
                return levels[0].price
        return self.market.index_price

    def _market_info(self) -> tuple[Decimal | None, dict[str, dt.datetime]]:
        return self.market.index_price, {m.market: m.expiry for m in self.market.markets}

    # -- refreshing ----------------------------------------------------------------------

    async def _refresh_current(self) -> None:
        refresh = {
            "market": self.market.refresh,
            "ticket": self._refresh_ticket,
            "orders": self.orders.refresh,
            "positions": self.positions.refresh,
            "wallet": self.wallet.refresh,
            "backups": self.backups.refresh,
        }.get(self.current)
        if refresh is None:
            return
        try:
            await refresh()
            self.page.update()
        except Exception:  # a page that went away mid-refresh; the loop ends on close
            _log.debug("refresh failed", exc_info=True)

    async def _refresh_ticket(self) -> None:
        # The ticket previews against the market's prices: keep them current.
        await self.market.refresh()
        if self.ticket.market is None and self.market.selected is not None:
            self.ticket.set_market(self.market.selected)
        self.ticket.update_preview()

    async def _refresh_loop(self) -> None:
        interval = self.core.settings.refresh_s
        while not self.closed.is_set():
            await self._refresh_current()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closed.wait(), timeout=interval)
