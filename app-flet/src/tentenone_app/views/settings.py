"""Settings: the gateway, the Electrum servers, and how long the app may stay closed."""

from __future__ import annotations

import flet as ft

from tentenone.errors import InvalidInput
from tentenone_app.account import Account
from tentenone_app.ids import tag
from tentenone_app.preferences import Preferences, save
from tentenone_app.ui import Feedback, heading

__all__ = ["SettingsView", "absence_text"]


def absence_text(blocks: int, block_interval_s: int) -> str:
    days = blocks * block_interval_s / 86_400
    return (
        f"The coordinator's to_self_delay is {blocks:,} blocks (about {days:.0f} days). "
        "Open the app at least once in that time: on every start it checks your channel "
        "and contracts and punishes a revoked state the coordinator may have broadcast."
    )


def _urls(text: str) -> list[str]:
    servers = [s.strip() for s in text.replace("\n", ",").split(",") if s.strip()]
    bad = [s for s in servers if not s.startswith(("tcp://", "ssl://"))]
    if bad:
        raise InvalidInput(f"an Electrum server is tcp://host:port or ssl://host:port: {bad[0]}")
    if not servers:
        raise InvalidInput("at least one Electrum server is needed")
    return servers


class SettingsView:
    def __init__(self, page: ft.Page, account: Account, prefs: Preferences) -> None:
        self.page = page
        self.account = account
        self.prefs = prefs
        settings = account.settings
        self.feedback = Feedback("settings")
        self.gateway = ft.TextField(label="Coordinator gateway URL", value=settings.gateway_url)
        self.electrum = ft.TextField(
            label="Electrum servers (comma-separated)",
            value=", ".join(settings.electrum_servers),
        )
        self.auto_rollover = ft.Switch(
            label="Roll over automatically before expiry", value=prefs.auto_rollover
        )
        self.save_button = ft.FilledButton("Save", on_click=self._save)
        self.control = ft.Column(
            [
                heading("Settings"),
                tag("settings.gateway", self.gateway),
                tag("settings.electrum", self.electrum),
                tag("settings.auto_rollover", self.auto_rollover),
                tag("settings.save", self.save_button),
                self.feedback.control,
                tag(
                    "settings.to_self_delay",
                    ft.Text(absence_text(settings.to_self_delay_blocks, settings.block_interval_s)),
                ),
                ft.Text(f"Network: {settings.network} · data in {settings.data_dir}", size=12),
            ],
            spacing=10,
            scroll=ft.ScrollMode.AUTO,
            expand=True,
        )

    async def _save(self) -> None:
        async def work() -> str:
            url = (self.gateway.value or "").strip()
            if not url.startswith(("http://", "https://")):
                raise InvalidInput(f"the gateway URL must start with http:// or https://: {url!r}")
            self.prefs.gateway_url = url.rstrip("/")
            self.prefs.electrum_servers = _urls(self.electrum.value or "")
            self.prefs.auto_rollover = bool(self.auto_rollover.value)
            save(self.account.settings.data_dir, self.prefs)
            return "Saved: applies from the next start"

        await self.feedback.run(self.page, work, self.save_button, busy="Saving…")
