"""Run a Python module as a real subprocess, kill it with SIGKILL, start it again.

Crash tests use it to prove that a protocol step survives ``kill -9``::

    proc = spawn("tentenone_orderbook", env={...})
    await proc.wait_for_output("ready")
    proc.kill()          # SIGKILL to the whole process group
    proc.start()         # same command, fresh log
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from tentenone.testing.waiting import wait_until, wait_until_sync

__all__ = ["PythonProcess"]


class PythonProcess:
    """``python -m <module> <args>``, its output (stdout and stderr) in a log file per start."""

    def __init__(
        self,
        module: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        log_dir: Path,
        python: str = sys.executable,
    ) -> None:
        self.module = module
        self.args = list(args)
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.cwd = cwd
        self.log_dir = log_dir
        self.python = python
        self.starts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.module}.{self.starts}.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def start(self) -> PythonProcess:
        if self.running:
            raise RuntimeError(f"{self.module} is already running (pid {self.pid})")
        self._close_log()
        self.starts += 1
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self._proc = subprocess.Popen(  # noqa: S603 - argv list, no shell
            [self.python, "-m", self.module, *self.args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,  # its own process group: kill() reaches its children too
        )
        return self

    def kill(self, timeout: float = 10.0) -> int:
        """SIGKILL the process group; returns the exit code (-9)."""
        return self._signal(signal.SIGKILL, timeout)

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL if it has not exited after ``timeout`` seconds."""
        try:
            return self._signal(signal.SIGTERM, timeout)
        except subprocess.TimeoutExpired:
            return self.kill()

    def restart(self) -> PythonProcess:
        """Kill (SIGKILL) if running, then start again."""
        if self.running:
            self.kill()
        return self.start()

    def output(self) -> str:
        """Everything the current run has written so far."""
        if self._log is not None:
            self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    async def wait_for_output(
        self,
        pattern: str,
        timeout: float = 30.0,  # noqa: ASYNC109 - the deadline is the point
    ) -> re.Match[str]:
        """Wait until the current run's output matches ``pattern``; fails early if it exits."""
        found = await wait_until(
            lambda: self._match(pattern), timeout, interval=0.05, what=self._what(pattern)
        )
        assert found is not None  # wait_until returns only a truthy result
        return found

    def wait_for_output_sync(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        found = wait_until_sync(
            lambda: self._match(pattern), timeout, interval=0.05, what=self._what(pattern)
        )
        assert found is not None
        return found

    def _match(self, pattern: str) -> re.Match[str] | None:
        found = re.search(pattern, self.output(), re.MULTILINE)
        if found is None and not self.running:
            raise RuntimeError(
                f"{self.module} exited with {self.returncode} before printing {pattern!r}; "
                f"output:\n{self.output()[-4000:]}"
            )
        return found

    def _what(self, pattern: str) -> str:
        return f"output of {self.module} matching {pattern!r} (log {self.log_path})"

    def _signal(self, sig: signal.Signals, timeout: float) -> int:
        proc = self._proc
        if proc is None:
            raise RuntimeError(f"{self.module} was never started")
        # The whole group, even if the leader already exited: its children may not have.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        code = proc.wait(timeout=timeout)
        self._close_log()
        return code

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else f"exited {self.returncode}"
        return f"<PythonProcess {self.module} {state}>"
