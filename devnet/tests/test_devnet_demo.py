"""The devnet as a ``tentenone demo`` component: starts node + ElectrumX, hands out URLs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tentenone.service.demo import DemoEnvironment
from tentenone.service.discovery import discover_components
from tentenone_devnet.demo import DevnetComponent, component
from tentenone_devnet.processes import NodeProcess, wait_until
from tentenone_devnet.rpcclient import BitcoindRpc
from tentenone_devnet.testing import electrum_call


def test_registered_as_a_demo_component() -> None:
    assert ("devnet", component) in discover_components()


async def test_starts_and_stops_node_and_electrumx(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENTENONE_DEVNET_MINE_EVERY", "0")
    for var in (
        "ELECTRUM_SERVERS",
        "BITCOIND_RPC_URL",
        "BITCOIND_RPC_USER",
        "BITCOIND_RPC_PASSWORD",
    ):
        monkeypatch.delenv(f"TENTENONE_{var}", raising=False)
    part = component(DemoEnvironment(data_dir=tmp_path))
    assert isinstance(part, DevnetComponent)
    await part.start()
    try:
        urls = part.urls()
        assert urls["electrum"] == os.environ["TENTENONE_ELECTRUM_SERVERS"]
        auth = (
            os.environ["TENTENONE_BITCOIND_RPC_USER"],
            os.environ["TENTENONE_BITCOIND_RPC_PASSWORD"],
        )
        with BitcoindRpc(urls["rpc"], auth) as rpc:
            assert rpc.call("getblockcount") == 101
        tip = electrum_call(urls["electrum"].removeprefix("tcp://"), "blockchain.headers.subscribe")
        assert tip["height"] == 101
    finally:
        await part.stop()
    assert (tmp_path / "devnet" / "node" / "kernel").is_dir()
    assert not (tmp_path / "devnet" / "node" / "node.json").exists()  # stopped cleanly


def test_timer_miner_and_clean_stop(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "node", mine_interval=0.2, initial_blocks=1)
    node.start()
    try:
        with node.rpc() as rpc:
            wait_until(lambda: rpc.call("getblockcount") >= 4, 30, what="three timer blocks")
    finally:
        node.stop()
    assert node.proc is not None and node.proc.returncode == 0
    assert not (tmp_path / "node" / ".cookie").exists()  # bitcoind removes its cookie too
