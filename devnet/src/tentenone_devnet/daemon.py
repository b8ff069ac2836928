"""The node process: ``tentenone-devnet node --datadir D`` runs until SIGTERM/SIGINT.

On start it writes ``<datadir>/node.json`` (RPC URL, pid, cookie path), the
file the CLI, the pytest fixtures and ElectrumX's supervisor read to find it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from tentenone_devnet.info import INFO_FILE
from tentenone_devnet.node import Node
from tentenone_devnet.rpc import NodeRpc
from tentenone_devnet.server import RpcServer, write_cookie

__all__ = ["NodeConfig", "run_node"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeConfig:
    datadir: Path
    host: str = "127.0.0.1"
    port: int = 0
    rpcauth: str | None = None  # "user:password" besides the cookie
    mine_interval: float = 0.0  # seconds between timer blocks; 0: off
    initial_blocks: int = 0  # mined to the faucet when the chain is at genesis


def _write_info(datadir: Path, info: dict[str, object]) -> None:
    tmp = datadir / (INFO_FILE + ".tmp")
    tmp.write_text(json.dumps(info))
    os.replace(tmp, datadir / INFO_FILE)


def run_node(config: NodeConfig) -> int:
    datadir = config.datadir
    datadir.mkdir(parents=True, exist_ok=True)
    (datadir / INFO_FILE).unlink(missing_ok=True)
    node = Node(datadir)
    if config.initial_blocks and node.index.height == 0:
        node.generate(config.initial_blocks, node.faucet.script)
    stopping = threading.Event()
    rpc = NodeRpc(node, on_stop=stopping.set)
    cookie_path = datadir / ".cookie"
    credentials = [write_cookie(cookie_path)]
    if config.rpcauth:
        credentials.append(config.rpcauth)
    server = RpcServer(rpc, config.host, config.port, credentials)
    server.start()
    url = f"http://{config.host}:{server.port}/"
    _write_info(datadir, {"rpc_url": url, "pid": os.getpid(), "cookie": str(cookie_path)})
    _log.info("devnet node ready", extra={"rpc_url": url, "height": node.index.height})

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    miner = None
    if config.mine_interval > 0:
        miner = threading.Thread(
            target=_mine_every, args=(node, config.mine_interval, stopping), daemon=True
        )
        miner.start()
    while not stopping.wait(5.0):
        # Under the node's lock: the index's one SQLite connection is shared with the
        # RPC threads, and a read beside theirs once returned no row and killed the node.
        with node.lock:
            height, mempool = node.index.height, len(node.mempool)
        _log.debug("alive", extra={"height": height, "mempool": mempool})
    _log.info("devnet node stopping")
    node.stopping.set()
    server.stop()
    if miner is not None:
        miner.join(timeout=10)
    node.persist_mempool()
    node.close()
    cookie_path.unlink(missing_ok=True)
    (datadir / INFO_FILE).unlink(missing_ok=True)
    return 0


def _mine_every(node: Node, interval: float, stopping: threading.Event) -> None:
    while not stopping.wait(interval):
        try:
            node.generate(1, node.faucet.script)
        except Exception:  # a timer block must never kill the node
            _log.exception("timer block failed")
