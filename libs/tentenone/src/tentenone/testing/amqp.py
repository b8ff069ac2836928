"""RabbitMQ for tests: a vhost per test on the shared broker, or a private broker node.

Fixtures (registered through the ``pytest11`` entry point ``tentenone-amqp``):

- ``amqp_url``: ``amqp://guest:guest@127.0.0.1:5672/<vhost>`` of a vhost made
  for the test and deleted afterwards. ``rabbitmqctl`` costs about a second
  per call, so vhosts are created eight at a time and deleted in batches on a
  thread of their own; vhosts left by a killed test run (``tt-<pid>-…`` of a
  dead pid) are removed at the start of the next.
- ``private_rabbitmq``: a RabbitMQ node of the test's own (own node name,
  ports, data and log directories, no plugins), for tests that stop or
  restart the broker; the shared broker is never touched.

Services started by tests declare classic queues (``TENTENONE_AMQP_QUEUE_TYPE``,
ADR 0018): a single-node broker stalls under the churn of thousands of quorum
queues a run creates and deletes. The bus's own tests build their buses
directly and keep quorum queues.

The shared broker is reached through ``TENTENONE_TEST_AMQP_HOST``/``_PORT``
(default 127.0.0.1:5672) and managed with ``rabbitmqctl`` on this machine.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tentenone.testing.ports import free_port
from tentenone.testing.rabbitmqctl import RabbitmqctlError, rabbitmqctl
from tentenone.testing.waiting import wait_until_sync

__all__ = [
    "PrivateRabbit",
    "VhostPool",
    "amqp_url",
    "private_rabbitmq",
    "rabbitmq_reachable",
]

_log = logging.getLogger(__name__)
_ACTOR = '<<"tentenone-tests">>'
_BATCH = 8
_CTL_TIMEOUT_S = 60


def _host() -> str:
    return os.environ.get("TENTENONE_TEST_AMQP_HOST", "127.0.0.1")


def _port() -> int:
    return int(os.environ.get("TENTENONE_TEST_AMQP_PORT", "5672"))


def rabbitmq_reachable(host: str | None = None, port: int | None = None) -> bool:
    try:
        with socket.create_connection((host or _host(), port or _port()), timeout=2):
            return True
    except OSError:
        return False


def _erl_binaries(names: list[str]) -> str:
    return "[" + ", ".join(f'<<"{n}">>' for n in names) + "]"


class VhostPool:
    """Vhosts ``tt-<pid>-<n>`` for tests, created in batches, deleted in the background.

    Only creation can fail a test: a vhost that cannot be deleted costs the
    broker memory, not a test its result, so deletion runs on a thread of its
    own, a batch at a time, and a failure is logged and left to the next run's
    sweep.
    """

    def __init__(self) -> None:
        self._free: list[str] = []
        self._used: list[str] = []
        self._count = 0
        self._lock = threading.Lock()
        self._swept = False
        self._deleter: threading.Thread | None = None

    def acquire(self) -> str:
        with self._lock:
            if not self._swept:
                self._swept = True
                self._sweep_stale()
            if not self._free:
                self._create_batch()
            return self._free.pop(0)

    def release(self, vhost: str) -> None:
        with self._lock:
            self._used.append(vhost)
            busy = self._deleter is not None and self._deleter.is_alive()
            if len(self._used) >= _BATCH and not busy:
                batch, self._used = self._used, []
                self._deleter = threading.Thread(
                    target=self._delete_quietly, args=(batch,), name="vhost-deleter", daemon=True
                )
                self._deleter.start()

    def close(self) -> None:
        with self._lock:
            deleter, self._deleter = self._deleter, None
            leftover = self._used + self._free
            self._used, self._free = [], []
        if deleter is not None:
            deleter.join(_CTL_TIMEOUT_S)
        if leftover:
            self._delete_quietly(leftover)

    def _create_batch(self) -> None:
        names = [f"tt-{os.getpid()}-{self._count + i}" for i in range(_BATCH)]
        self._count += _BATCH
        code = (
            f"[begin ok = rabbit_vhost:add(V, {_ACTOR}), "
            f'ok = rabbit_auth_backend_internal:set_permissions(<<"guest">>, V, '
            f'<<".*">>, <<".*">>, <<".*">>, {_ACTOR}) end || V <- {_erl_binaries(names)}], ok.'
        )
        rabbitmqctl("eval", code, timeout_s=_CTL_TIMEOUT_S)
        self._free.extend(names)

    @staticmethod
    def _delete_quietly(names: list[str]) -> None:
        code = f"[rabbit_vhost:delete(V, {_ACTOR}) || V <- {_erl_binaries(names)}], ok."
        try:
            rabbitmqctl("eval", code, timeout_s=_CTL_TIMEOUT_S)
        except RabbitmqctlError as exc:
            _log.warning(
                "deleting %d test vhosts failed (the next run sweeps them): %s", len(names), exc
            )

    def _sweep_stale(self) -> None:
        try:
            out = rabbitmqctl("list_vhosts", "-q", "--no-table-headers", timeout_s=_CTL_TIMEOUT_S)
        except RabbitmqctlError as exc:
            _log.warning("listing stale test vhosts failed: %s", exc)
            return
        stale = []
        for name in out.split():
            parts = name.split("-")
            ours = len(parts) == 3 and parts[0] == "tt" and parts[1].isdigit()
            if ours and not _pid_alive(int(parts[1])):
                stale.append(name)
        if stale:
            self._delete_quietly(stale)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


QUEUE_TYPE_ENV = "TENTENONE_AMQP_QUEUE_TYPE"


def pytest_configure(config: pytest.Config) -> None:
    del config
    os.environ.setdefault(QUEUE_TYPE_ENV, "classic")


_POOL = VhostPool()
_CHECKED = pytest.StashKey[bool]()


def vhost_url(vhost: str, host: str | None = None, port: int | None = None) -> str:
    return f"amqp://guest:guest@{host or _host()}:{port or _port()}/{quote(vhost, safe='')}"


@pytest.fixture
def amqp_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a fresh vhost on the shared RabbitMQ, deleted after the test."""
    config = request.config
    if not config.stash.get(_CHECKED, False):
        if not rabbitmq_reachable():
            pytest.fail(
                f"RabbitMQ is not reachable at {_host()}:{_port()} (start it: "
                "scripts/ensure-services.sh)",
                pytrace=False,
            )
        config.stash[_CHECKED] = True
        config.add_cleanup(_POOL.close)
    vhost = _POOL.acquire()
    try:
        yield vhost_url(vhost)
    finally:
        _POOL.release(vhost)


class PrivateRabbit:
    """A RabbitMQ node of our own in ``base``: start, stop_app/start_app, stop."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.node = f"tt{uuid.uuid4().hex[:10]}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        sbin = Path(os.path.realpath(shutil.which("rabbitmq-server") or "")).parent
        # The wrappers in /usr/sbin switch to the rabbitmq user; the real scripts do not.
        lib = sorted(Path("/usr/lib/rabbitmq/lib").glob("rabbitmq_server-*/sbin"))
        self._sbin = lib[-1] if lib else sbin
        home = base / "home"
        for d in (home, base / "mnesia", base / "log"):
            d.mkdir(parents=True, exist_ok=True)
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        (base / "env.conf").write_text("")
        self.env = {
            **os.environ,
            "HOME": str(home),
            "RABBITMQ_CONF_ENV_FILE": str(base / "env.conf"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def ctl(self, *args: str) -> str:
        exe = str(self._sbin / "rabbitmqctl")
        done = subprocess.run(  # noqa: S603 - fixed argv
            [exe, "-n", self.node, *args],
            capture_output=True,
            text=True,
            timeout=_CTL_TIMEOUT_S + 30,
            env=self.env,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr or done.stdout}")
        return done.stdout

    def start(self, timeout_s: float = 90) -> None:
        log = (self.base / "server.log").open("ab")
        self._proc = subprocess.Popen(  # noqa: S603 - fixed argv
            [str(self._sbin / "rabbitmq-server")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.base,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout_s

        def up() -> bool:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"RabbitMQ exited; see {self.base / 'server.log'}")
            try:
                self.ctl("await_startup", "--timeout", "10")
            except (RuntimeError, subprocess.TimeoutExpired):
                return False
            return True

        wait_until_sync(up, max(1.0, deadline - time.monotonic()), interval=1.0, what="RabbitMQ")

    def stop_app(self) -> None:
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        wait_until_sync(lambda: rabbitmq_reachable("127.0.0.1", self.port), 30, what="listener")

    def stop(self) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.ctl("stop")
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, 9)
            self._proc.wait(timeout=10)
        self._proc = None


@pytest.fixture
def private_rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRabbit]:
    """A RabbitMQ node for this test alone; stopped and removed afterwards."""
    if shutil.which("rabbitmq-server") is None:
        pytest.fail("rabbitmq-server is not installed", pytrace=False)
    node = PrivateRabbit(tmp_path_factory.mktemp("rabbitmq"))
    try:
        node.start()
        yield node
    finally:
        node.stop()
