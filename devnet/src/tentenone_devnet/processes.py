"""Start, stop and kill the node and ElectrumX as subprocesses.

ElectrumX (``e-x`` 2.0) runs unmodified as ``electrumx_server`` with its
environment set here: regtest, LevelDB, a plain-TCP service on loopback, no
peer discovery, fast polling so tests see new blocks within a fraction of a
second. With ``reply_hold_s`` (the test fixtures) it starts through
``tentenone_devnet.electrumx_launch``, which shortens how long ElectrumX holds
small padded replies; otherwise the server is started as operators start it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from tentenone.errors import Unavailable
from tentenone_devnet.info import NodeInfo, read_info
from tentenone_devnet.rpcclient import BitcoindRpc

__all__ = ["REPLY_HOLD_ENV", "ElectrumXProcess", "NodeProcess", "free_port", "wait_until"]

ELECTRUMX_INFO = "electrumx.json"
#: seconds ElectrumX may hold a small padded reply (read by ``electrumx_launch``)
REPLY_HOLD_ENV = "TENTENONE_ELECTRUMX_REPLY_HOLD_S"


def wait_until(
    predicate: Callable[[], object], timeout: float, interval: float = 0.05, what: str = ""
) -> object:
    """Poll ``predicate`` until it returns a truthy value; Unavailable after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Unavailable(f"timed out after {timeout:.0f} s waiting for {what or predicate}")
        time.sleep(interval)


def free_port() -> int:
    """An ephemeral loopback port (the OS picks it; a tiny reuse race remains)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class _Child:
    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def _spawn(self, argv: list[str], env: dict[str, str], detach: bool) -> None:
        self._log = self.log_path.open("ab")
        # argv is built here from sys.executable and fixed module names, never from input.
        self.proc = subprocess.Popen(  # noqa: S603
            argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=detach,
        )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _check_alive(self, what: str) -> None:
        if not self.alive():
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise Unavailable(f"{what} exited during start; log tail:\n{tail}")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._close_log()

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class NodeProcess(_Child):
    def __init__(
        self,
        datadir: Path,
        *,
        port: int = 0,
        rpcauth: str | None = None,
        mine_interval: float = 0.0,
        initial_blocks: int = 0,
    ) -> None:
        datadir.mkdir(parents=True, exist_ok=True)
        super().__init__(datadir / "node.log")
        self.datadir = datadir
        self._argv = [
            sys.executable,
            "-m",
            "tentenone_devnet.cli",
            "node",
            "--datadir",
            str(datadir),
            "--port",
            str(port),
            "--initial-blocks",
            str(initial_blocks),
            "--mine-every",
            str(mine_interval),
        ]
        if rpcauth:
            self._argv += ["--rpcauth", rpcauth]
        self.info: NodeInfo | None = None

    def start(self, timeout: float = 300.0, detach: bool = False) -> NodeInfo:
        """Spawn and wait for ``node.json``; after a kill -9 the node may first
        re-validate the blocks the kernel lost (up to ``Node``'s flush interval)."""
        self._spawn(self._argv, dict(os.environ), detach)

        def ready() -> NodeInfo | None:
            self._check_alive("devnet node")
            info = read_info(self.datadir)
            return info if info is not None and info.pid == self.pid else None

        info = wait_until(ready, timeout, what="the devnet node's node.json")
        assert isinstance(info, NodeInfo)
        self.info = info
        return info

    def rpc(self, timeout: float = 60.0) -> BitcoindRpc:
        assert self.info is not None, "start() first"
        return BitcoindRpc(self.info.rpc_url, self.info.auth(), timeout=timeout)


class ElectrumXProcess(_Child):
    def __init__(
        self,
        datadir: Path,
        daemon_url: str,
        *,
        port: int = 0,
        reply_hold_s: float | None = None,
    ) -> None:
        datadir.mkdir(parents=True, exist_ok=True)
        super().__init__(datadir / "electrumx.log")
        self.datadir = datadir
        self.daemon_url = daemon_url
        self.port = port or free_port()
        #: shorter hold of small padded replies (tests); None: ElectrumX's own 1 s
        self.reply_hold_s = reply_hold_s

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "COIN": "Bitcoin",
                "NET": "regtest",
                "DB_DIRECTORY": str(self.datadir / "db"),
                "DB_ENGINE": "leveldb",
                "DAEMON_URL": self.daemon_url,
                "SERVICES": f"tcp://127.0.0.1:{self.port}",
                "PEER_DISCOVERY": "off",
                "PEER_ANNOUNCE": "",
                "ALLOW_ROOT": "1",
                "CACHE_MB": "64",
                "DAEMON_POLL_INTERVAL_BLOCKS": "100",
                "DAEMON_POLL_INTERVAL_MEMPOOL": "100",
                "LOG_LEVEL": "info",
                "INITIAL_CONCURRENT": "1000",
                "COST_SOFT_LIMIT": "0",
                "COST_HARD_LIMIT": "0",
            }
        )
        if self.reply_hold_s is not None:
            env[REPLY_HOLD_ENV] = repr(float(self.reply_hold_s))
        return env

    def spawn(self, detach: bool = False) -> None:
        """Start the process without waiting for it (``start`` waits until it serves)."""
        (self.datadir / "db").mkdir(exist_ok=True)
        module = (
            "electrumx.cli.electrumx_server"
            if self.reply_hold_s is None
            else "tentenone_devnet.electrumx_launch"
        )
        self._spawn([sys.executable, "-m", module], self.env(), detach)

    def start(self, timeout: float = 120.0, detach: bool = False) -> str:
        self.spawn(detach)

        def listening() -> bool:
            self._check_alive("ElectrumX")
            return _port_open(self.port)

        wait_until(listening, timeout, interval=0.1, what="ElectrumX to listen")
        info = {"address": self.address, "pid": self.pid}
        (self.datadir / ELECTRUMX_INFO).write_text(json.dumps(info))
        return self.address
