"""Onboarding in the browser: words shown once, sealed under the passphrase, unlocked again."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tentenone.trader.keystore import FileKeyStore

from .flutter_driver import FlutterPage

pytestmark = pytest.mark.slow

PASSPHRASE = "a long enough passphrase"


async def _words_on_screen(flutter: FlutterPage) -> list[str]:
    text = await flutter.text("onboarding.words")
    numbered = re.findall(r"(\d+)\.\s*([a-z]+)", text)
    assert [int(n) for n, _ in numbered] == list(range(1, 13)), text
    return [w for _, w in numbered]


async def test_create_shows_words_once_and_seals_them(
    start_app, flutter: FlutterPage, screenshot
) -> None:
    app = await start_app()
    await flutter.open(app.url, first="onboarding.create")
    await screenshot("onboarding")
    await flutter.click("onboarding.create")
    await flutter.by_id("onboarding.words").wait_for()
    words = await _words_on_screen(flutter)
    await screenshot("onboarding-words")

    # Continue stays disabled until the trader says the words are written down.
    cont = flutter.by_id("onboarding.words_continue").get_by_role("button")
    assert await cont.is_disabled()
    await flutter.click("onboarding.words_saved")
    # the checkbox goes to the app's server and back before Continue is enabled
    await expect(cont).to_be_enabled(timeout=30_000)
    await flutter.click("onboarding.words_continue")
    await flutter.by_id("onboarding.new_passphrase").wait_for()
    assert await flutter.by_id("onboarding.words").count() == 0  # shown once

    await flutter.type("onboarding.new_passphrase", PASSPHRASE)
    await flutter.type("onboarding.new_passphrase_repeat", PASSPHRASE + "x")
    await flutter.click("onboarding.finish")
    assert "differ" in await flutter.expect_text("onboarding.message", "differ")
    assert not (app.data_dir / "keystore.json").exists()

    await flutter.type("onboarding.new_passphrase_repeat", PASSPHRASE)
    await flutter.click("onboarding.finish")
    await flutter.by_id("market.index_price").wait_for(timeout=60_000)
    sealed = FileKeyStore(app.data_dir / "keystore.json").unlock(PASSPHRASE)
    assert sealed.reveal().split() == words

    # A new start of the app asks for the passphrase; a wrong one is refused in words.
    app.process.kill()
    again = await start_app(name=app.data_dir.name)
    await flutter.open(again.url, first="onboarding.unlock")
    await flutter.type("onboarding.passphrase", "not the passphrase")
    await flutter.click("onboarding.unlock")
    assert "keystore_wrong_passphrase" in await flutter.expect_text(
        "onboarding.message", "passphrase"
    )
    await flutter.type("onboarding.passphrase", PASSPHRASE)
    await flutter.click("onboarding.unlock")
    await flutter.by_id("market.index_price").wait_for(timeout=60_000)


async def test_restore_from_words(start_app, flutter: FlutterPage) -> None:
    words = "abandon " * 11 + "about"
    app = await start_app()
    await flutter.open(app.url, first="onboarding.restore")
    await flutter.click("onboarding.restore")
    await flutter.type("onboarding.restore_words", words.upper())
    await flutter.type("onboarding.restore_passphrase", PASSPHRASE)
    await flutter.type("onboarding.restore_passphrase_repeat", PASSPHRASE)
    await flutter.click("onboarding.restore_submit")
    await flutter.by_id("market.index_price").wait_for(timeout=60_000)
    sealed = FileKeyStore(app.data_dir / "keystore.json").unlock(PASSPHRASE)
    assert sealed.reveal() == words.strip()
