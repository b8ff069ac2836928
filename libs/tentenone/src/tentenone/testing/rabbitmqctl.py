"""``rabbitmqctl`` for tests and benches: bounded, retried on CLI clashes, never left behind.

Debian's ``rabbitmqctl`` runs ``su`` -> ``sh`` (a session of its own) -> an
Erlang CLI node. A call that hangs is killed with every process below it:
killing the first alone leaves the node holding one of the few CLI
distribution ports (and our pipes open), and once they are all taken no
``rabbitmqctl`` on the machine can start.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

__all__ = ["RabbitmqctlError", "rabbitmqctl", "run_group"]

DEFAULT_TIMEOUT_S = 60
_ATTEMPTS = 4
# Concurrent CLIs on a busy machine can clash on the CLI's own node name; the
# broker did nothing then, so the command is simply run again.
_CLI_CLASH = "Distribution failed"


class RabbitmqctlError(RuntimeError):
    """``rabbitmqctl`` is missing, failed, or did not answer in time."""


def rabbitmqctl(*args: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> str:
    """Run ``rabbitmqctl args``; its standard output, or :class:`RabbitmqctlError`."""
    exe = shutil.which("rabbitmqctl")
    if exe is None:
        raise RabbitmqctlError("rabbitmqctl is not installed; the tests need RabbitMQ")
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            done = run_group([exe, *args], timeout_s)
        except subprocess.TimeoutExpired:
            raise RabbitmqctlError(
                f"rabbitmqctl {args[0]} did not answer within {timeout_s:g} s"
            ) from None
        if done.returncode == 0 or _CLI_CLASH not in done.stderr + done.stdout:
            break
        time.sleep(attempt)
    if done.returncode != 0:
        raise RabbitmqctlError(
            f"rabbitmqctl {' '.join(args)} failed: {(done.stderr or done.stdout).strip()}"
        )
    return done.stdout


def run_group(argv: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    """Run ``argv``; on timeout kill it and every process below it, then raise."""
    proc = subprocess.Popen(  # noqa: S603 - fixed argv
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        for pid in [*_descendants(proc.pid), proc.pid]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _descendants(root: int) -> list[int]:
    """Every process below ``root`` (from /proc), deepest last."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
