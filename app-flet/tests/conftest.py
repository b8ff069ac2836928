"""Fixtures of the app's browser tests.

- ``browser``: Debian's Chromium, headless, through Playwright (never a
  downloaded browser);
- ``app``: ``python -m tentenone_app`` as a real process on a free loopback
  port with its own data directory; ``app.url``, ``app.data_dir``;
- ``flutter``: a phone-sized page of that browser, driven through Flutter's
  semantics tree (``flutter_driver.FlutterPage``).

``TENTENONE_APP_SCREENSHOTS=<dir>`` makes the tests save PNGs of the screens
they pass through (``docs/app/`` is made this way, on request only).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from tentenone.testing.processes import PythonProcess

from .flutter_driver import FlutterPage, launch

APP_START_TIMEOUT_S = 60


@dataclass
class RunningApp:
    process: PythonProcess
    url: str
    data_dir: Path


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def start_app(spawn: Callable[..., PythonProcess], tmp_path: Path) -> Callable[..., object]:
    async def start(env: Mapping[str, str] | None = None, name: str = "app") -> RunningApp:
        data_dir = tmp_path / name
        process = spawn(
            "tentenone_app",
            env={
                "TENTENONE_APP_PORT": "0",
                "TENTENONE_APP_DATA_DIR": str(data_dir),
                **(env or {}),
            },
        )
        found = await process.wait_for_output(
            r"tentenone-app: open (\S+)", timeout=APP_START_TIMEOUT_S
        )
        return RunningApp(process, found.group(1), data_dir)

    return start


@pytest.fixture
async def flutter(browser: Browser) -> FlutterPage:
    return await FlutterPage.new(browser)


@pytest.fixture
def screenshot(flutter: FlutterPage) -> Callable[[str], object]:
    folder = os.environ.get("TENTENONE_APP_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)

    async def take(name: str) -> None:
        if folder:
            await flutter.screenshot(str(Path(folder) / f"{name}.png"))

    return take
