"""Market and order ticket in the browser, against a real gateway and oracle (embedded default)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from playwright.async_api import TimeoutError as PlaywrightTimeout

from tentenone_app.preview import preview

from .coordinator import coordinator
from .flutter_driver import FlutterPage

pytestmark = pytest.mark.slow

WORDS = "abandon " * 11 + "about"
PASSPHRASE = "a long enough passphrase"


def _usd(text: str) -> Decimal:
    found = re.search(r"\$([0-9,]+\.[0-9]{2})", text)
    assert found, text
    return Decimal(found.group(1).replace(",", ""))


async def _restore(flutter: FlutterPage) -> None:
    await flutter.click("onboarding.restore")
    await flutter.type("onboarding.restore_words", WORDS)
    await flutter.type("onboarding.restore_passphrase", PASSPHRASE)
    await flutter.type("onboarding.restore_passphrase_repeat", PASSPHRASE)
    await flutter.click("onboarding.restore_submit")
    try:
        await flutter.by_id("market.index_price").wait_for(timeout=60_000)
    except PlaywrightTimeout:
        message = await flutter.by_id("onboarding.message").all_inner_texts()
        raise AssertionError(
            f"no market screen after the restore; the app says {message}"
        ) from None


async def test_market_and_ticket_preview(
    start_app, flutter: FlutterPage, screenshot, tmp_path: Path
) -> None:
    async with coordinator(tmp_path) as gateway:
        app = await start_app(env={"TENTENONE_APP_GATEWAY_URL": gateway})
        await flutter.open(app.url, first="onboarding.restore")
        await _restore(flutter)

        shown = _usd(await flutter.expect_text("market.index_price", r"\$[0-9]"))
        async with httpx.AsyncClient(base_url=gateway) as http:
            now = Decimal((await http.get("/api/v1/index-price")).json()["price"])
        assert abs(shown - now) / now < Decimal("0.05"), (shown, now)
        first = await flutter.expect_text("market.expiry.0", "btcusd")
        async with httpx.AsyncClient(base_url=gateway) as http:
            markets = (await http.get("/api/v1/markets")).json()["markets"]
        shown_id = re.search(r"btcusd[0-9]+", first)
        assert shown_id and shown_id.group(0) in [m["market"] for m in markets], (first, markets)
        await screenshot("market")

        await flutter.click("market.trade")
        # The expiry chosen on the market screen (a new one may have opened meanwhile).
        ticket_market = await flutter.expect_text("ticket.market", "btcusd[0-9]+")
        assert ticket_market.split(" ")[0] in [m["market"] for m in markets] + [shown_id.group(0)]
        await flutter.type("ticket.quantity", "1000")
        for _ in range(3):
            await flutter.click("ticket.leverage_up")
        await flutter.expect_text("ticket.leverage_value", "^5x$")
        text = await flutter.expect_text("ticket.preview", r"Margin: [0-9,]+ sat")
        reference = _usd(text)
        expected = preview("buy", 1000, reference, 5)
        assert f"Margin: {expected.margin_sat:,} sat" in text
        assert f"Liquidation price: ${expected.liquidation_price:,}.00" in text

        await flutter.click("ticket.side", name="Sell / short")
        text = await flutter.expect_text("ticket.preview", "^Short")
        short = preview("sell", 1000, _usd(text), 5)
        assert f"Liquidation price: ${short.liquidation_price:,}.00" in text
        await screenshot("ticket")

        # A bad quantity is named, not sent.
        await flutter.type("ticket.quantity", "12.5")
        await flutter.expect_text("ticket.preview", "whole number")
