"""End-to-end fixtures: one whole system (every service a real process) per test module.

``system`` starts the devnet's node and ElectrumX (the module's
``devnet_electrum``) and every installed service on it; tests of one module
share it, so a module's tests must leave it running (restart what they kill).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tentenone.testing.system import System, SystemConfig

# pytest runs with --import-mode=importlib: the helpers beside the tests by name.
sys.path.insert(0, str(Path(__file__).parent))

pytest.importorskip("tentenone_devnet.testing")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.e2e)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The table of kill points the run covered (tests/e2e/test_kill_points.py)."""
    if "trading" not in sys.modules:
        return
    from trading import KILLED, kill_point_table

    if KILLED:
        terminalreporter.write_sep("-", "kill points")
        terminalreporter.write_line(kill_point_table())


@pytest.fixture(scope="module")
def system_config() -> SystemConfig:
    """Override in a module for other settings."""
    return SystemConfig()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def system(
    devnet_electrum: Any, system_config: SystemConfig, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    running = System(devnet_electrum, tmp_path_factory.mktemp("system"), system_config)
    try:
        await running.start()
        yield running
    finally:
        await running.stop()
