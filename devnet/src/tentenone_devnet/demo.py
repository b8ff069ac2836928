"""The devnet node + ElectrumX as a ``tentenone demo`` component.

Started first (order 10) so the components after it find the chain in the
environment:

- ``TENTENONE_ELECTRUM_SERVERS``: ``tcp://127.0.0.1:<port>`` (ElectrumX);
- ``TENTENONE_BITCOIND_RPC_URL``, ``TENTENONE_BITCOIND_RPC_USER``,
  ``TENTENONE_BITCOIND_RPC_PASSWORD``: the node's RPC (devnet-only
  credentials, generated per run; a real bitcoind is configured the same way).

The chain lives in ``<demo data dir>/devnet`` and survives demo restarts; a
block is mined every ``TENTENONE_DEVNET_MINE_EVERY`` seconds (default 30, 0: off).
"""

from __future__ import annotations

import asyncio
import os
import secrets

from tentenone.service.demo import Component, DemoEnvironment
from tentenone_devnet.processes import ElectrumXProcess, NodeProcess

__all__ = ["DevnetComponent", "component"]

_INITIAL_BLOCKS = 101


class DevnetComponent(Component):
    name = "devnet"
    order = 10

    def __init__(self, env: DemoEnvironment) -> None:
        self._datadir = env.data_dir / "devnet"
        self._auth = ("devnet", secrets.token_hex(16))
        mine_every = float(os.environ.get("TENTENONE_DEVNET_MINE_EVERY", "30"))
        self._node = NodeProcess(
            self._datadir / "node",
            rpcauth=":".join(self._auth),
            mine_interval=mine_every,
            initial_blocks=_INITIAL_BLOCKS,
        )
        self._electrumx: ElectrumXProcess | None = None
        self._rpc_url = ""

    async def start(self) -> None:
        await asyncio.to_thread(self._start)

    def _start(self) -> None:
        info = self._node.start()
        self._rpc_url = info.rpc_url
        user, password = self._auth
        daemon_url = info.rpc_url.replace("http://", f"http://{user}:{password}@")
        self._electrumx = ElectrumXProcess(self._datadir / "electrumx", daemon_url)
        try:
            self._electrumx.start()
        except BaseException:
            self._node.stop()
            raise
        os.environ["TENTENONE_ELECTRUM_SERVERS"] = f"tcp://{self._electrumx.address}"
        os.environ["TENTENONE_BITCOIND_RPC_URL"] = info.rpc_url
        os.environ["TENTENONE_BITCOIND_RPC_USER"] = user
        os.environ["TENTENONE_BITCOIND_RPC_PASSWORD"] = password

    async def stop(self) -> None:
        await asyncio.to_thread(self._stop)

    def _stop(self) -> None:
        if self._electrumx is not None:
            self._electrumx.stop()
        self._node.stop()

    def urls(self) -> dict[str, str]:
        out = {"rpc": self._rpc_url}
        if self._electrumx is not None:
            out["electrum"] = f"tcp://{self._electrumx.address}"
        return out


def component(env: DemoEnvironment) -> DevnetComponent:
    return DevnetComponent(env)
