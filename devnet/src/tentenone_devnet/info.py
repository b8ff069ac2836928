"""Where a running node can be found: ``<datadir>/node.json`` (kept import-light)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["INFO_FILE", "NodeInfo", "read_info"]

INFO_FILE = "node.json"


@dataclass(frozen=True)
class NodeInfo:
    rpc_url: str
    pid: int
    cookie_path: Path
    datadir: Path

    def auth(self) -> tuple[str, str]:
        user, _, password = self.cookie_path.read_text().strip().partition(":")
        return user, password


def read_info(datadir: Path) -> NodeInfo | None:
    path = datadir / INFO_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return NodeInfo(data["rpc_url"], int(data["pid"]), Path(data["cookie"]), datadir)
