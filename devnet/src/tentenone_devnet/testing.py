"""pytest fixtures: a real devnet node (and ElectrumX) in a temp dir on ephemeral ports.

Registered as a pytest plugin (entry point ``pytest11``), so any test in the
workspace can ask for:

- ``devnet``: a node shared by the test module, 101 blocks mined to its faucet;
- ``devnet_electrum``: the same with ElectrumX indexing it (module-shared);
- ``devnet_factory``: ``devnet_factory(electrum=True)`` starts a private one
  for a test that kills, restarts or reorgs it; all are stopped at teardown.

ElectrumX holds small padded replies for ``TEST_REPLY_HOLD_S`` here rather
than its own 1 s (``devnet_factory(electrum=True, reply_hold_s=None)`` for
the deployed behaviour).

A ``Devnet`` gives ``rpc`` (a ``BitcoindRpc``), ``rpc_url`` / ``rpc_auth`` (what
a service would be configured with), ``electrum_address`` ("127.0.0.1:port"),
and helpers: ``mine``, ``fund``, ``reorg``, ``restart_node``, ``restart_electrumx``,
``wait_electrum_synced``.
"""

from __future__ import annotations

import json
import secrets
import socket
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tentenone_devnet.processes import ElectrumXProcess, NodeProcess, wait_until
from tentenone_devnet.rpcclient import BitcoindRpc

__all__ = [
    "TEST_REPLY_HOLD_S",
    "Devnet",
    "devnet",
    "devnet_electrum",
    "devnet_factory",
    "electrum_call",
]

INITIAL_BLOCKS = 101


def electrum_call(address: str, method: str, *params: Any, timeout: float = 10.0) -> Any:
    """One Electrum-protocol request on a fresh TCP connection (newline-delimited JSON-RPC)."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        stream = sock.makefile("rwb")
        for i, (m, p) in enumerate(
            [("server.version", ["tentenone-test", "1.4"]), (method, params)]
        ):
            stream.write(
                (
                    json.dumps({"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)}) + "\n"
                ).encode()
            )
        stream.flush()
        stream.readline()
        reply = json.loads(stream.readline())
    if "error" in reply:
        raise RuntimeError(f"electrum {method}: {reply['error']}")
    return reply["result"]


#: ElectrumX's hold of small padded replies in tests (its own is 1 s; see electrumx_launch)
TEST_REPLY_HOLD_S = 0.05


class Devnet:
    """One devnet: a node process, optionally ElectrumX, in ``datadir``.

    ``electrum_reply_hold_s``: how long ElectrumX may hold a small reply
    (default ``TEST_REPLY_HOLD_S``; None runs it with its own 1 s, as deployed).
    """

    def __init__(
        self,
        datadir: Path,
        initial_blocks: int = INITIAL_BLOCKS,
        electrum_reply_hold_s: float | None = TEST_REPLY_HOLD_S,
    ) -> None:
        self.datadir = datadir
        self.electrum_reply_hold_s = electrum_reply_hold_s
        # Fixed credentials (besides the cookie) survive node restarts; ElectrumX uses them.
        self.rpc_auth = ("devnet", secrets.token_hex(16))
        self._initial_blocks = initial_blocks
        self._port = 0
        self.node = self._new_node()
        self.electrumx: ElectrumXProcess | None = None
        self.rpc: BitcoindRpc = self._start_node()

    def _new_node(self) -> NodeProcess:
        return NodeProcess(
            self.datadir / "node",
            port=self._port,
            rpcauth=":".join(self.rpc_auth),
            initial_blocks=self._initial_blocks,
        )

    def _start_node(self) -> BitcoindRpc:
        info = self.node.start()
        self._port = int(info.rpc_url.rstrip("/").rsplit(":", 1)[1])
        return BitcoindRpc(info.rpc_url, self.rpc_auth, timeout=120)

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/"

    @property
    def electrum_address(self) -> str:
        assert self.electrumx is not None, "start ElectrumX first (devnet_electrum)"
        return self.electrumx.address

    # -- processes -------------------------------------------------------------

    def start_electrumx(self) -> str:
        user, password = self.rpc_auth
        url = f"http://{user}:{password}@127.0.0.1:{self._port}/"
        port = self.electrumx.port if self.electrumx is not None else 0
        self.electrumx = ElectrumXProcess(
            self.datadir / "electrumx", url, port=port, reply_hold_s=self.electrum_reply_hold_s
        )
        address = self.electrumx.start()
        self.wait_electrum_synced()
        return address

    def restart_node(self, kill: bool = False) -> None:
        """Stop (SIGTERM, or SIGKILL with ``kill``) and start again on the same port."""
        self.rpc.close()
        if kill:
            self.node.kill9()
        else:
            self.node.stop()
        self.node = self._new_node()
        self.rpc = self._start_node()

    def restart_electrumx(self, kill: bool = False) -> None:
        assert self.electrumx is not None
        if kill:
            self.electrumx.kill9()
        else:
            self.electrumx.stop()
        self.start_electrumx()

    def close(self) -> None:
        self.rpc.close()
        if self.electrumx is not None:
            self.electrumx.stop()
        self.node.stop()

    # -- chain helpers -----------------------------------------------------------

    def faucet_address(self) -> str:
        return str(self.rpc.call("devnet_faucetaddress"))

    def mine(self, blocks: int = 1, address: str | None = None) -> list[str]:
        hashes = self.rpc.call("generatetoaddress", blocks, address or self.faucet_address())
        return list(hashes)

    def fund(self, address: str, sats: int, confirm: bool = False) -> tuple[str, int]:
        """Pay ``sats`` to ``address`` from the faucet; (txid, vout) of the payment."""
        result = self.rpc.call("devnet_fund", address, str(Decimal(sats) / 100_000_000), confirm)
        return str(result["txid"]), int(result["vout"])

    def reorg(
        self, from_height: int, blocks: int | None = None, rawtxs: list[str] | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = self.rpc.call("devnet_reorg", from_height, blocks, rawtxs or [])
        return result

    def wait_electrum_synced(self, timeout: float = 60.0) -> None:
        """Until ElectrumX's header tip is the node's tip."""
        best = self.rpc.call("getbestblockhash")
        height = self.rpc.call("getblockcount")

        def synced() -> bool:
            try:
                tip = electrum_call(self.electrum_address, "blockchain.headers.subscribe")
            except OSError:
                return False
            if tip["height"] != height:
                return False
            from tentenone_devnet.codec import sha256d  # local: keep plugin import light

            return bool(sha256d(bytes.fromhex(tip["hex"]))[::-1].hex() == best)

        wait_until(synced, timeout, interval=0.1, what=f"ElectrumX at height {height}")


def _start(path: Path, electrum: bool, reply_hold_s: float | None = TEST_REPLY_HOLD_S) -> Devnet:
    net = Devnet(path, electrum_reply_hold_s=reply_hold_s)
    if electrum:
        try:
            net.start_electrumx()
        except BaseException:
            net.close()
            raise
    return net


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    net = _start(tmp_path_factory.mktemp("devnet"), electrum=False)
    try:
        yield net
    finally:
        net.close()


@pytest.fixture(scope="module")
def devnet_electrum(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    net = _start(tmp_path_factory.mktemp("devnet-ex"), electrum=True)
    try:
        yield net
    finally:
        net.close()


@pytest.fixture
def devnet_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Devnet]]:
    started: list[Devnet] = []

    def start(electrum: bool = False, reply_hold_s: float | None = TEST_REPLY_HOLD_S) -> Devnet:
        net = _start(tmp_path_factory.mktemp("devnet-own"), electrum, reply_hold_s)
        started.append(net)
        return net

    try:
        yield start
    finally:
        for net in started:
            net.close()
