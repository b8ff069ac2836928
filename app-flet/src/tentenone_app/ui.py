"""Small pieces every screen uses: progress and errors, formatting of sats and prices."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal

import flet as ft

from tentenone.logging import get_logger
from tentenone_app.faults import describe
from tentenone_app.ids import tag

__all__ = ["Feedback", "expiry_text", "heading", "sats", "usd"]

_log = get_logger(__name__)
_ERROR = ft.Colors.RED_700
_OK = ft.Colors.GREEN_800


def sats(value: int) -> str:
    return f"{value:,} sat"


def usd(value: Decimal | int) -> str:
    return f"${Decimal(value):,.2f}"


def expiry_text(expiry: dt.datetime, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    left = expiry - now
    when = expiry.strftime("%Y-%m-%d %H:%M UTC")
    if left.total_seconds() <= 0:
        return f"{when} (expired)"
    hours, rest = divmod(int(left.total_seconds()), 3600)
    days, hours = divmod(hours, 24)
    span = f"{days}d {hours}h" if days else f"{hours}h {rest // 60}m" if hours else f"{rest // 60}m"
    return f"{when} (in {span})"


def heading(text: str) -> ft.Text:
    return ft.Text(text, size=20, weight=ft.FontWeight.BOLD)


class Feedback:
    """A progress bar and a message line for one screen (``<screen>.message``).

    :meth:`run` shows progress and disables the given buttons while an action
    runs, then shows its result or its error in words; the page keeps drawing.
    """

    def __init__(self, screen: str) -> None:
        self.bar = ft.ProgressBar(visible=False)
        self.text = ft.Text("")
        self.control = ft.Column(
            [self.bar, tag(f"{screen}.message", self.text)], spacing=4, tight=True
        )

    def show(self, message: str, *, error: bool = False) -> None:
        self.text.value = message
        self.text.color = _ERROR if error else _OK

    def show_error(self, exc: BaseException) -> None:
        self.show(describe(exc), error=True)

    async def run(
        self,
        page: ft.Page,
        work: Callable[[], Awaitable[str | None]],
        *buttons: ft.Control,
        busy: str = "Working…",
    ) -> bool:
        """Run ``work``; its returned text (if any) is shown. True when it succeeded."""
        self.bar.visible = True
        self.show(busy)
        self.text.color = None
        for button in buttons:
            button.disabled = True
        page.update()
        ok = False
        try:
            done = await work()
            self.show(done or "")
            ok = True
        except Exception as exc:  # every failure is shown, none kills the screen
            _log.info("action failed", extra={"error": repr(exc)})
            self.show_error(exc)
        finally:
            self.bar.visible = False
            for button in buttons:
                button.disabled = False
            page.update()
        return ok
