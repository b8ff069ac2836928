"""Interop with a real nameko 2.14 service (eventlet), run in its own environment.

The environment is a venv made from ``nameko/requirements.txt`` (pinned, with
hashes) under ``.tools/``, reused while the requirements do not change. The
nameko service subscribes to our event and calls our RPC methods; we call
its methods, and get its errors back typed.
"""

import contextlib
import fcntl
import hashlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tentenone.bus import Bus, RpcCall
from tentenone.bus.naming import Names
from tentenone.errors import ConfigError, RemoteError
from tentenone.logging import bind_correlation_id, get_correlation_id
from tentenone.testing import PythonProcess, wait_until
from tentenone.wire import Event

HERE = Path(__file__).parent / "nameko"
REQUIREMENTS = HERE / "requirements.txt"


class Greeting(Event):
    event_type = "nktest.greeting"
    source = "tt-nk"
    text: str


def _repo_root() -> Path:
    return next(p for p in Path(__file__).resolve().parents if (p / "uv.lock").exists())


@pytest.fixture(scope="session")
def nameko_python() -> Iterator[Path]:
    """The interpreter of a venv with nameko installed (made once per requirements)."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    venv = _repo_root() / ".tools" / f"nameko-{digest}"
    python = venv / "bin" / "python"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with (venv.parent / f"nameko-{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one maker when tests run in parallel
        if not (venv / "ready").exists():
            base = getattr(sys, "_base_executable", sys.executable)
            subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True, timeout=120)
            subprocess.run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--require-hashes",
                    "--no-deps",
                    "-r",
                    str(REQUIREMENTS),
                ],
                check=True,
                timeout=600,
            )
            (venv / "ready").write_text(digest)
    yield python


@pytest.fixture
async def peer(nameko_python: Path, amqp_url: str, tmp_path: Path) -> AsyncIterator[PythonProcess]:
    config = tmp_path / "nameko.yaml"
    config.write_text(f'AMQP_URI: "{amqp_url}"\n')
    proc = PythonProcess(
        "nameko",
        ["run", "--config", str(config), "nameko_peer"],
        cwd=HERE,
        log_dir=tmp_path / "processes",
        python=str(nameko_python),
    )
    proc.start()
    try:
        await proc.wait_for_output("Connected to amqp", 120)
        yield proc
    finally:
        if proc.running:
            proc.terminate(timeout=20)


async def _queue_exists(bus: Bus, name: str) -> bool:
    with contextlib.suppress(ConfigError):
        await bus.queue_depth(name)
        return True
    return False


async def test_nameko_and_tentenone_call_and_subscribe_both_ways(
    peer: PythonProcess, amqp_url: str
) -> None:
    bus = Bus.for_url("tt-nk", amqp_url)
    await bus.start()
    greetings: list[tuple[dict[str, Any], str | None]] = []

    async def record_greeting(call: RpcCall) -> None:
        greetings.append((call.kwargs, get_correlation_id()))

    async def add(call: RpcCall) -> int:
        return int(call.kwargs["a"]) + int(call.kwargs["b"])

    try:
        await bus.serve("record_greeting", record_greeting)
        await bus.serve("add", add)
        names = Names()
        await wait_until(lambda: _queue_exists(bus, names.rpc_queue("nameko-peer")), 60)
        # We call nameko.
        assert await bus.call("nameko-peer", "multiply", kwargs={"a": 6, "b": 7}) == 42
        with pytest.raises(RemoteError) as refused:
            await bus.call("nameko-peer", "refuse")
        assert refused.value.remote_code == "ValueError"
        assert "nameko says no" in refused.value.message
        # nameko calls us (inside its own RPC method).
        assert await bus.call("nameko-peer", "ask_ours", kwargs={"a": 2, "b": 3}) == 5
        # nameko subscribes to our event, and acknowledges it through our RPC.
        queue = names.event_queue("tt-nk", "nktest.greeting", "nameko-peer", "on_greeting")
        await wait_until(lambda: _queue_exists(bus, queue), 60)
        with bind_correlation_id("trace-nameko"):
            await bus.publish(Greeting(text="hello nameko"))
        await wait_until(lambda: greetings, 30)
        kwargs, cid = greetings[0]
        assert kwargs == {"text": "hello nameko", "seen_by": "nameko-peer"}
        assert cid == "trace-nameko", "the correlation id did not travel through nameko"
    finally:
        await bus.close()
