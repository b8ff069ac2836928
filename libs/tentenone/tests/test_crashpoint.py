"""Crash points: a no-op unless named, SIGKILL when named; every name declared."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tentenone.crashpoint import REGISTRY, UnknownCrashPoint, crashpoint, declare, points

_POINT = "dlc.coordinator.offer.after_save"


def test_unnamed_point_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENTENONE_CRASH_AT", "dlc.coordinator.settle.before_broadcast")
    crashpoint(_POINT)  # still alive


def test_undeclared_point_is_refused() -> None:
    with pytest.raises(UnknownCrashPoint):
        crashpoint("dlc.coordinator.nowhere.at_all")
    with pytest.raises(UnknownCrashPoint):
        declare("not-four-parts", "anywhere")


def test_named_point_kills_the_process_with_sigkill() -> None:
    code = f"from tentenone.crashpoint import crashpoint; crashpoint({_POINT!r}); print('alive')"
    env = {**os.environ, "TENTENONE_CRASH_AT": _POINT}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL
    assert "alive" not in proc.stdout
    assert f"killed at {_POINT}" in proc.stderr


def test_skip_lets_the_first_hits_pass() -> None:
    code = (
        "from tentenone.crashpoint import crashpoint\n"
        f"crashpoint({_POINT!r}); print('first', flush=True)\n"
        f"crashpoint({_POINT!r}); print('second', flush=True)\n"
    )
    env = {**os.environ, "TENTENONE_CRASH_AT": _POINT, "TENTENONE_CRASH_SKIP": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL
    assert proc.stdout.split() == ["first"]


def test_registry_lists_every_coordinator_flow() -> None:
    flows = {p.flow for p in points("coordinator")}
    assert {"offer", "accept", "funding", "settle", "refund", "close", "rollover"} <= flows
    assert all(name == p.name for name, p in REGISTRY.items())
