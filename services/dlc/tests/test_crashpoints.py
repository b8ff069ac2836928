"""Every crash point the coordinator calls is declared, and every declared one is called."""

from __future__ import annotations

import re
from pathlib import Path

import tentenone_dlc.coordinator as coordinator
from tentenone.crashpoint import points

_FLOWS_BROADCASTING = ("settle", "close", "refund", "rollover")


def _called() -> set[str]:
    source = Path(coordinator.__file__).read_text()
    names = set(re.findall(r'crashpoint\("([a-z_.]+)"\)', source))
    for step in re.findall(r'crashpoint\(f"dlc\.coordinator\.\{name\}\.([a-z_]+)"\)', source):
        names.update(f"dlc.coordinator.{flow}.{step}" for flow in _FLOWS_BROADCASTING)
    return names


def test_called_points_are_the_declared_ones() -> None:
    declared = {p.name for p in points("coordinator")}
    assert _called() == declared
