"""What every benchmark prints about the machine, and its section of RESULTS.md.

A section sits between ``<!-- bench:<key>:start -->`` and
``<!-- bench:<key>:end -->``: a run replaces its own section and no other,
and a new one is appended.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path

__all__ = ["RESULTS", "machine", "tool_version", "write_section"]

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine(*extra: str) -> str:
    """CPU model, cores, memory, Python, the load average now, then ``extra``."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    parts = [
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB",
        f"Python {platform.python_version()}",
        *extra,
        f"load average {os.getloadavg()[0]:.1f} at the start",
    ]
    return "; ".join(parts)


def tool_version(cmd: list[str]) -> str:
    """The first line ``cmd`` prints, or ``?``."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "?"


def write_section(key: str, section: str, path: Path = RESULTS) -> None:
    """Replace the section ``key`` of RESULTS.md with ``section`` (or append it)."""
    start, end = f"<!-- bench:{key}:start -->", f"<!-- bench:{key}:end -->"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    block = f"{start}\n{section.strip()}\n{end}"
    if start in text and end in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _m: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
