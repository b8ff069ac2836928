"""Backups: the latest encrypted backup's version, a backup now, an export to a file.

The trader engine writes an encrypted backup (key from the seed, monotonic
version) to the coordinator and to ``backup.bin`` after every state change;
this screen shows where things stand and copies the newest to a file of the
trader's choice (never over a newer one).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import flet as ft

from tentenone.errors import TentenoneError
from tentenone.trader.backup import LocalBackupFile
from tentenone.trader.errors import TraderInputError
from tentenone_app.account import Account
from tentenone_app.ids import tag
from tentenone_app.ui import Feedback, heading

__all__ = ["BackupsView"]


class BackupsView:
    def __init__(self, page: ft.Page, account: Account) -> None:
        self.page = page
        self.account = account
        self.feedback = Feedback("backups")
        self.status = ft.Text("…")
        self.destination = ft.TextField(
            label="Export to file", value=str(Path.home() / "tentenone-backup.bin")
        )
        self.backup = ft.OutlinedButton("Back up now", on_click=self._backup_now)
        self.export = ft.FilledButton("Export", on_click=self._export)
        self.control = ft.Column(
            [
                heading("Backups"),
                tag("backups.status", self.status),
                tag("backups.now", self.backup),
                tag("backups.destination", self.destination),
                tag("backups.export", self.export),
                ft.Text(
                    "Restore on a new device with your words and the newest backup. "
                    "An older backup is refused rather than used.",
                    size=12,
                ),
                self.feedback.control,
            ],
            spacing=8,
            scroll=ft.ScrollMode.AUTO,
            expand=True,
        )

    async def refresh(self) -> None:
        local = LocalBackupFile(self.account.backup_path)
        try:
            version = await asyncio.to_thread(local.version)
        except TentenoneError as exc:
            self.status.value = f"The local backup cannot be read: {exc.message}"
            return
        self.status.value = (
            f"Latest local backup: version {version} ({local.path})"
            if version
            else "No backup yet: one is written after the first trade"
        )

    async def _backup_now(self) -> None:
        async def work() -> str:
            version = await self.account.require_trader().backup_now()
            await self.refresh()
            return f"Backed up: version {version}"

        await self.feedback.run(self.page, work, self.backup, busy="Backing up…")

    async def _export(self) -> None:
        async def work() -> str:
            blob = await asyncio.to_thread(LocalBackupFile(self.account.backup_path).read)
            if blob is None:
                raise TraderInputError("no backup to export yet")
            path = await asyncio.to_thread(Path(self.destination.value or "").expanduser)
            target = LocalBackupFile(path)
            if not await asyncio.to_thread(target.write, blob):
                raise TraderInputError(f"{target.path} holds a newer backup; not replaced")
            return f"Exported to {target.path}"

        await self.feedback.run(self.page, work, self.export, busy="Exporting…")
