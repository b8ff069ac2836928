"""Onboarding: create a wallet (words shown once, then a passphrase), restore one, unlock.

The words live on this screen only between being shown and being sealed in
the key store; after that the screen forgets them. Nothing is written until
the passphrase is set, so leaving half-way leaves no wallet behind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import flet as ft

from tentenone.trader.errors import TraderInputError
from tentenone.trader.keystore import check_passphrase
from tentenone_app.account import Account
from tentenone_app.ids import tag
from tentenone_app.ui import Feedback, heading

__all__ = ["Onboarding"]


def _passphrases(first: str, second: str) -> str:
    if first != second:
        raise TraderInputError("the two passphrases differ")
    check_passphrase(first)
    return first


class Onboarding:
    def __init__(
        self, page: ft.Page, account: Account, on_ready: Callable[[], Awaitable[None]]
    ) -> None:
        self.page = page
        self.account = account
        self.on_ready = on_ready
        self.feedback = Feedback("onboarding")
        self.body = ft.Column([], spacing=12, tight=True)
        self.control = ft.Column(
            [heading("tentenone"), self.body, self.feedback.control],
            spacing=16,
            scroll=ft.ScrollMode.AUTO,
            expand=True,
        )
        self._words: str | None = None
        self.show_start()

    def _set(self, *controls: ft.Control) -> None:
        self.body.controls = list(controls)
        self.feedback.show("")

    # -- start: unlock, or create / restore ------------------------------------------

    def show_start(self) -> None:
        if self.account.exists():
            self._show_unlock()
            return
        create = ft.FilledButton("Create a new wallet", on_click=lambda: self._show_words())
        restore = ft.OutlinedButton("Restore from words", on_click=lambda: self._show_restore())
        self._set(
            ft.Text("Your keys stay on this device. The coordinator never holds your money."),
            tag("onboarding.create", create),
            tag("onboarding.restore", restore),
        )

    def _show_unlock(self) -> None:
        passphrase = ft.TextField(label="Passphrase", password=True, can_reveal_password=True)
        unlock = ft.FilledButton("Unlock")

        async def go() -> None:
            async def work() -> str:
                await self.account.unlock(passphrase.value or "")
                return "Unlocked"

            if await self.feedback.run(self.page, work, unlock, busy="Unlocking…"):
                await self.on_ready()

        unlock.on_click = go
        passphrase.on_submit = go
        self._set(
            ft.Text("Unlock your wallet"),
            tag("onboarding.passphrase", passphrase),
            tag("onboarding.unlock", unlock),
        )

    # -- create: words once, then the passphrase --------------------------------------

    def _show_words(self) -> None:
        self._words = self.account.new_words()
        numbered: list[ft.Control] = [
            ft.Text(f"{i}. {w}", width=110, size=15)
            for i, w in enumerate(self._words.split(), start=1)
        ]
        saved = ft.Checkbox(label="I have written these words down, in order")
        cont = ft.FilledButton("Continue", disabled=True)

        def toggle() -> None:
            cont.disabled = not saved.value
            self.page.update()

        saved.on_change = toggle
        cont.on_click = lambda: self._show_passphrase()
        self._set(
            ft.Text(
                "Write down these 12 words. They are the only way to restore your wallet; "
                "they are shown once and never again.",
            ),
            tag("onboarding.words", ft.Row(numbered, wrap=True, spacing=8, run_spacing=4)),
            tag("onboarding.words_saved", saved),
            tag("onboarding.words_continue", cont),
        )

    def _show_passphrase(self) -> None:
        first = ft.TextField(label="New passphrase", password=True, can_reveal_password=True)
        second = ft.TextField(label="Repeat the passphrase", password=True)
        finish = ft.FilledButton("Create wallet")

        async def go() -> None:
            async def work() -> str:
                words = self._words
                if words is None:
                    raise TraderInputError("start again: the words are gone")
                await self.account.create(
                    words, _passphrases(first.value or "", second.value or "")
                )
                self._words = None
                return "Wallet created"

            if await self.feedback.run(self.page, work, finish, busy="Sealing your keys…"):
                await self.on_ready()

        finish.on_click = go
        self._set(
            ft.Text("Choose a passphrase. It encrypts the words on this device."),
            tag("onboarding.new_passphrase", first),
            tag("onboarding.new_passphrase_repeat", second),
            tag("onboarding.finish", finish),
        )

    # -- restore ---------------------------------------------------------------------

    def _show_restore(self) -> None:
        words = ft.TextField(label="Your 12 or 24 words", multiline=True, min_lines=2)
        first = ft.TextField(label="New passphrase", password=True, can_reveal_password=True)
        second = ft.TextField(label="Repeat the passphrase", password=True)
        backup = ft.TextField(
            label="Backup file (optional)",
            hint_text=str(self.account.backup_path),
        )
        go_button = ft.FilledButton("Restore")

        async def go() -> None:
            async def work() -> str:
                phrase = _passphrases(first.value or "", second.value or "")
                path = Path(backup.value) if (backup.value or "").strip() else None
                await self.account.restore(words.value or "", phrase, path)
                return "Wallet restored"

            if await self.feedback.run(self.page, work, go_button, busy="Restoring…"):
                await self.on_ready()

        go_button.on_click = go
        back = ft.TextButton("Back", on_click=lambda: self._back())
        self._set(
            ft.Text("Restore from your words and, if you have one, your latest backup file."),
            tag("onboarding.restore_words", words),
            tag("onboarding.restore_passphrase", first),
            tag("onboarding.restore_passphrase_repeat", second),
            tag("onboarding.restore_backup", backup),
            tag("onboarding.restore_submit", go_button),
            back,
        )

    def _back(self) -> None:
        self.show_start()
        self.page.update()
