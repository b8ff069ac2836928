"""The oracle in ``tentenone demo``: embedded default, devnet key, simulated feed."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import httpx
import pytest

from tentenone.market.schedule import DEMO_SPEC, ExpirySchedule
from tentenone.service.demo import DemoEnvironment, ServiceComponent, run_demo
from tentenone.testing import wait_until
from tentenone_oracle.service import demo_settings, service


def test_demo_schedule_is_every_few_minutes() -> None:
    assert 60 <= ExpirySchedule.parse(DEMO_SPEC).period_s <= 600


async def test_demo_runs_the_oracle_on_the_embedded_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo's own schedule is minutes; seconds here so the test sees an attestation.
    monkeypatch.setenv("TENTENONE_EXPIRY_SCHEDULE", "every:2s")
    monkeypatch.delenv("TENTENONE_AMQP_URL", raising=False)
    monkeypatch.delenv("TENTENONE_DATABASE_URL", raising=False)
    env = DemoEnvironment(data_dir=tmp_path)
    stop = asyncio.Event()
    out = io.StringIO()
    components: list[ServiceComponent] = []

    def factory(e: DemoEnvironment) -> ServiceComponent:
        components.append(ServiceComponent(service, e))
        return components[-1]

    demo = asyncio.create_task(run_demo(env, [factory], stop, out))
    try:
        await wait_until(lambda: "Ctrl-C stops everything" in out.getvalue(), 60, what="demo up")
        runner = components[0].runner
        settings = runner.settings
        assert settings.mode == "devnet"  # type: ignore[attr-defined]
        assert settings.price_sources == ["simulated"]  # type: ignore[attr-defined]
        assert (tmp_path / "oracle.key").exists() and (tmp_path / "oracle.db").exists()
        assert runner.url is not None
        async with httpx.AsyncClient(base_url=runner.url, timeout=5) as http:

            async def attested() -> list[object]:
                listing = (await http.get("/announcements", params={"limit": 1000})).json()
                return [a for a in listing if a["status"] == "attested"]

            await wait_until(attested, 30, what="an attestation in the demo")
            price = (await http.get("/index-price")).json()
            assert price["quotes"][0]["source"] == "simulated"
    finally:
        stop.set()
        assert await asyncio.wait_for(demo, 30) == 0
    assert "oracle" in out.getvalue()


def test_demo_settings_put_the_key_in_the_demo_dir(tmp_path: Path) -> None:
    assert demo_settings(tmp_path)["key_file"] == tmp_path / "oracle.key"
