"""The web client runs from this machine alone and can be driven through its semantics tree."""

from __future__ import annotations

import time

import httpx
import pytest

from tentenone_app.server import CONTENT_SECURITY_POLICY

from .flutter_driver import FlutterPage

pytestmark = pytest.mark.slow


async def test_every_byte_comes_from_the_app_server(start_app, flutter: FlutterPage) -> None:
    app = await start_app()
    async with httpx.AsyncClient() as http:
        index = await http.get(app.url)
        wasm = await http.get(app.url + "canvaskit/skwasm.wasm")
        font = await http.get(app.url + "assets/fonts/roboto.woff2")
    assert index.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    # Flet's no-CDN build: CanvasKit and the fonts are served by the app itself.
    assert 'flet.canvasKitBaseUrl="/canvaskit/"' in index.text
    assert wasm.status_code == 200 and wasm.content[:4] == b"\0asm"
    assert font.status_code == 200 and len(font.content) > 10_000

    started = time.monotonic()
    await flutter.open(app.url, first="onboarding.create")
    print(f"\nweb client ready in {time.monotonic() - started:.1f} s")

    # The Rive runtime's URL is compiled into the client; the CSP refuses it.
    traffic = flutter.traffic
    assert set(traffic.failures) == set(traffic.attempted), traffic
    for url, failure in traffic.failures.items():
        assert "BLOCKED_BY_CSP" in failure.upper() or "csp" in failure.lower(), (url, failure)


async def test_controls_are_found_by_identifier_and_role(start_app, flutter: FlutterPage) -> None:
    app = await start_app()
    await flutter.open(app.url, first="onboarding.create")
    create = flutter.by_id("onboarding.create").get_by_role("button")
    assert await create.inner_text() == "Create a new wallet"
    await flutter.click("onboarding.restore")
    await flutter.by_id("onboarding.restore_words").wait_for()
    # A typed value reaches Flutter (and so the Python side, which validates it).
    await flutter.type("onboarding.restore_words", "not twelve words")
    await flutter.type("onboarding.restore_passphrase", "correct horse battery")
    await flutter.type("onboarding.restore_passphrase_repeat", "correct horse battery")
    await flutter.click("onboarding.restore_submit")
    message = await flutter.expect_text("onboarding.message", "mnemonic")
    assert "wallet_invalid_mnemonic" in message
    assert not (app.data_dir / "keystore.json").exists()
