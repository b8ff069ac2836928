"""``tentenone demo``: components start in order, print where they are, stop on signal."""

import asyncio
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tentenone.service.demo import Component, DemoEnvironment, ServiceComponent, run_demo
from tentenone.testing import wait_until

from .ledger import ADD_ENTRY, AddEntry, audit, ledger


class Recorder(Component):
    def __init__(self, name: str, order: int, log: list[str], fail: bool = False) -> None:
        self.name = name
        self.order = order
        self._log = log
        self._fail = fail

    async def start(self) -> None:
        if self._fail:
            raise RuntimeError(f"{self.name} cannot start here")
        self._log.append(f"start {self.name}")

    async def stop(self) -> None:
        self._log.append(f"stop {self.name}")

    def urls(self) -> dict[str, str]:
        return {"rpc": f"http://127.0.0.1:1/{self.name}"}


async def test_demo_runs_services_and_components_and_stops_cleanly(tmp_path: Path) -> None:
    env = DemoEnvironment(data_dir=tmp_path / ".demo")
    log: list[str] = []
    stop = asyncio.Event()
    out = io.StringIO()
    factories = [
        lambda e: ServiceComponent(ledger, e),
        lambda e: ServiceComponent(audit, e),
        lambda e: Recorder("node", 10, log),
        lambda e: Recorder("broken", 20, log, fail=True),
        lambda e: Recorder("webapp", 200, log),
    ]
    demo = asyncio.create_task(run_demo(env, factories, stop, out=out))
    await wait_until(lambda: "Ctrl-C" in out.getvalue(), 60)
    text = out.getvalue()
    assert "in-process bus" in text and "SQLite" in text
    assert "broken           FAILED   RuntimeError: broken cannot start here" in text
    url = env.urls["tt-ledger"]["http"]
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(f"{url}/readyz")).status_code == 200
    # The services talk over the shared in-process bus.
    from tentenone.bus import Bus

    client = Bus.for_url("tt-client", None, broker=env.broker)
    await client.start()
    assert (await client.request(ADD_ENTRY, AddEntry(amount_sat=1))).entry_id
    await client.close()
    stop.set()
    assert await demo == 1  # one component failed
    assert log == ["start node", "start webapp", "stop webapp", "stop node"]
    assert sorted(p.name for p in env.data_dir.iterdir()) == ["tt-audit.db", "tt-ledger.db"]
    assert out.getvalue().endswith("tentenone demo: stopped\n")


@pytest.mark.slow
def test_tentenone_demo_command_stops_on_sigint(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENTENONE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tentenone.cli", "demo", "--data-dir", str(tmp_path / "d")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert lines[0].startswith("tentenone demo: in-process bus")
    assert rest.endswith("tentenone demo: stopped\n")
