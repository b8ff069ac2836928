"""Driving the Flet web client in Debian's Chromium through Flutter's semantics tree (ADR 0120).

Flutter draws on a canvas. With semantics on, it mirrors the widget tree as
``flt-semantics`` DOM nodes: labels as text or ``aria-label``, buttons with
``role="button"``, text fields as real ``<input>`` elements, and the app's
``Semantics(identifier=...)`` as ``flt-semantics-identifier`` attributes.
Semantics are off until the page's hidden "enable accessibility" placeholder
is clicked; :meth:`FlutterPage.open` does that.

Typing: a semantics ``<input>`` forwards keystrokes to Flutter's editor once
clicked (focused); ``fill()`` sets the DOM value without Flutter seeing it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.async_api import Browser, Locator, Page, Playwright, Request, Route, expect

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "FlutterPage", "OutsideTraffic", "launch"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
_LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


async def launch(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )


@dataclass
class OutsideTraffic:
    """Requests the page tried beyond this machine, and how each ended."""

    attempted: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    def on_request(self, request: Request) -> None:
        if _outside(request.url):
            self.attempted.append(request.url)

    def on_failed(self, request: Request) -> None:
        if _outside(request.url):
            self.failures[request.url] = request.failure or ""


def _outside(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme not in ("blob", "data") and parts.hostname not in _LOOPBACK


async def _abort_outside(route: Route) -> None:
    # A guard, not the mechanism: the page's CSP refuses these before any request.
    await route.abort("blockedbyclient")


class FlutterPage:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.traffic = OutsideTraffic()
        page.on("request", self.traffic.on_request)
        page.on("requestfailed", self.traffic.on_failed)

    @classmethod
    async def new(cls, browser: Browser, viewport: dict[str, int] | None = None) -> FlutterPage:
        context = await browser.new_context(viewport=viewport or PHONE)  # type: ignore[arg-type]
        await context.route(
            re.compile(r"^(?!https?://(127\.0\.0\.1|localhost)[:/]).*"), _abort_outside
        )
        return cls(await context.new_page())

    async def open(self, url: str, *, first: str, timeout_s: float = 120) -> None:
        """Load the app, turn semantics on, wait for the control ``first``."""
        await self.page.goto(url)
        placeholder = self.page.locator("flt-semantics-placeholder")
        await placeholder.wait_for(state="attached", timeout=timeout_s * 1000)
        await placeholder.evaluate("node => node.click()")
        await self.by_id(first).wait_for(timeout=timeout_s * 1000)

    def by_id(self, identifier: str) -> Locator:
        return self.page.locator(f'[flt-semantics-identifier="{identifier}"]').first

    async def click(self, identifier: str, *, name: str | None = None) -> None:
        target = self.by_id(identifier)
        if name is not None:
            target = target.get_by_role("button", name=name)
        else:
            inner = target.locator('[role="button"], [role="switch"], [role="checkbox"]')
            if await inner.count():
                target = inner.first
        # Flutter's semantics nodes act on the DOM click event; dispatching it on the
        # node itself is immune to a neighbour's node overlapping the pointer position.
        await target.wait_for(state="visible")
        await target.dispatch_event("click")

    async def type(self, identifier: str, text: str, attempts: int = 3) -> None:
        """Type ``text`` into a field and check that the field holds exactly that.

        On a loaded machine Flutter can replace its hidden editing element while keys
        arrive, and a key is lost: the field is read back and typed again if so.
        """
        field_ = self.by_id(identifier).locator("input, textarea").first
        for _ in range(attempts):
            # Focus, not a pointer click: Flutter starts editing on the input's focus
            # event, and another control drawn over the field cannot take it.
            await field_.focus()
            await self.page.keyboard.press("Control+A")
            await self.page.keyboard.press("Delete")
            await self.page.keyboard.type(text)
            try:
                await expect(field_).to_have_value(text, timeout=5_000)
                return
            except AssertionError:
                continue
        raise AssertionError(f"{identifier} holds {await field_.input_value()!r}, not {text!r}")

    async def text(self, identifier: str) -> str:
        return (await self.by_id(identifier).inner_text()).strip()

    async def expect_text(self, identifier: str, pattern: str, timeout_s: float = 30) -> str:
        await expect(self.by_id(identifier)).to_contain_text(
            re.compile(pattern), timeout=timeout_s * 1000
        )
        return await self.text(identifier)

    async def screenshot(self, path: str) -> None:
        await self.page.screenshot(path=path)
