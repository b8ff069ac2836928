"""The test launcher of ElectrumX: a shorter hold of small padded replies, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from electrumx.server.transport import PaddedRSTransport

from tentenone_devnet import electrumx_launch
from tentenone_devnet.processes import REPLY_HOLD_ENV, ElectrumXProcess
from tentenone_devnet.testing import TEST_REPLY_HOLD_S, Devnet, electrum_call


def test_sets_the_hold_then_runs_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[float] = []
    monkeypatch.setattr(PaddedRSTransport, "WAIT_FOR_BUFFER_GROWTH_SECONDS", 1.0)
    monkeypatch.setattr(
        electrumx_launch,
        "electrumx_main",
        lambda: ran.append(PaddedRSTransport.WAIT_FOR_BUFFER_GROWTH_SECONDS),
    )
    monkeypatch.setenv(REPLY_HOLD_ENV, "0.05")
    electrumx_launch.main()
    assert ran == [0.05]


def test_without_the_setting_the_server_keeps_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[float] = []
    monkeypatch.setattr(PaddedRSTransport, "WAIT_FOR_BUFFER_GROWTH_SECONDS", 1.0)
    monkeypatch.setattr(
        electrumx_launch,
        "electrumx_main",
        lambda: ran.append(PaddedRSTransport.WAIT_FOR_BUFFER_GROWTH_SECONDS),
    )
    monkeypatch.delenv(REPLY_HOLD_ENV, raising=False)
    electrumx_launch.main()
    assert ran == [1.0]


@pytest.mark.parametrize("bad", ["-1", "11", "nan", "soon"])
def test_a_bad_setting_stops_the_launch(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setattr(electrumx_launch, "electrumx_main", lambda: pytest.fail("started"))
    monkeypatch.setenv(REPLY_HOLD_ENV, bad)
    with pytest.raises(SystemExit, match=REPLY_HOLD_ENV):
        electrumx_launch.main()


def test_process_environment(tmp_path: Path) -> None:
    held = ElectrumXProcess(tmp_path / "a", "http://u:p@127.0.0.1:1/", reply_hold_s=0.05)
    assert held.env()[REPLY_HOLD_ENV] == "0.05"
    deployed = ElectrumXProcess(tmp_path / "b", "http://u:p@127.0.0.1:1/")
    assert REPLY_HOLD_ENV not in deployed.env()


def test_fixture_electrumx_serves_through_the_launcher(devnet_electrum: Devnet) -> None:
    assert devnet_electrum.electrumx is not None
    assert devnet_electrum.electrumx.reply_hold_s == TEST_REPLY_HOLD_S
    tip = electrum_call(devnet_electrum.electrum_address, "blockchain.headers.subscribe")
    assert tip["height"] == devnet_electrum.rpc.call("getblockcount")
