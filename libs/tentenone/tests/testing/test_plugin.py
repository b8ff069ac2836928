import signal
import socket
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from tentenone.testing import PythonProcess, ports, postgres, wait_until, wait_until_sync

CHILD = """
import os, sys, time
from pathlib import Path
with Path(sys.argv[1]).open("a") as f:
    f.write(f"{os.getpid()}\\n")
if len(sys.argv) > 2 and sys.argv[2] == "crash":
    print("about to fail", flush=True)
    sys.exit(3)
print(f"ready {os.getpid()}", flush=True)
deadline = time.monotonic() + 120  # bounded even if nobody kills it
while time.monotonic() < deadline:
    time.sleep(0.5)
"""


@pytest.fixture
def child_module(tmp_path: Path) -> Path:
    (tmp_path / "tt_child.py").write_text(textwrap.dedent(CHILD))
    return tmp_path


async def test_spawn_kill_and_restart_a_real_process(spawn: Any, child_module: Path) -> None:
    starts = child_module / "starts.txt"
    proc: PythonProcess = spawn("tt_child", str(starts), cwd=child_module)
    first = await proc.wait_for_output(r"ready (\d+)")
    assert int(first.group(1)) == proc.pid and proc.running
    assert proc.kill() == -signal.SIGKILL
    assert not proc.running
    proc.restart()
    second = await proc.wait_for_output(r"ready (\d+)")
    assert second.group(1) != first.group(1)
    assert proc.starts == 2 and f"ready {first.group(1)}" not in proc.output()
    assert starts.read_text().split() == [first.group(1), second.group(1)]
    assert proc.terminate() == -signal.SIGTERM


def test_a_process_that_exits_early_fails_the_wait(spawn: Any, child_module: Path) -> None:
    proc: PythonProcess = spawn("tt_child", str(child_module / "s.txt"), "crash", cwd=child_module)
    with pytest.raises(
        RuntimeError, match=r"(?s)exited with 3 before printing 'ready'.*about to fail"
    ):
        proc.wait_for_output_sync("ready", timeout=30)


async def test_wait_until_returns_the_value_or_times_out() -> None:
    calls = []

    def third_time() -> str | None:
        calls.append(1)
        return "done" if len(calls) >= 3 else None

    assert await wait_until(third_time, 5, interval=0.001) == "done"

    async def never() -> bool:
        return False

    with pytest.raises(TimeoutError, match=r"the moon not true after 0\.05 s"):
        await wait_until(never, 0.05, what="the moon")
    with pytest.raises(TimeoutError, match="not true"):
        wait_until_sync(lambda: 0, 0.05)


def test_free_port_can_be_bound(free_port: int) -> None:
    for port in (free_port, ports.free_port()):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


async def test_pg_url_is_a_fresh_empty_database(pg_url: str) -> None:
    dsn = pg_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    assert tables == 0 and dsn.rsplit("/", 1)[1].startswith("tt_")


def test_created_databases_are_dropped_even_with_connections_open() -> None:
    async def names() -> set[str]:
        conn = await asyncpg.connect(postgres.admin_url())
        try:
            return {r[0] for r in await conn.fetch("SELECT datname FROM pg_database")}
        finally:
            await conn.close()

    name = postgres.create_database()
    assert name in postgres._run(names())

    async def sessions_on(db: str) -> int:
        conn = await asyncpg.connect(postgres.admin_url())
        try:
            count: int = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", db
            )
            return count
        finally:
            await conn.close()

    dsn = postgres.async_url(name).replace("+asyncpg", "")
    holder = subprocess.Popen(["psql", dsn, "-c", "SELECT pg_sleep(60)"], stderr=subprocess.PIPE)
    try:
        wait_until_sync(lambda: postgres._run(sessions_on(name)), 20, what="psql connected")
        postgres.drop_database(name)
        assert name not in postgres._run(names())
        assert holder.wait(timeout=20) != 0  # its session was terminated by the drop
    finally:
        holder.kill()
        holder.wait()


def test_db_url_runs_on_both_backends(db_url: str, request: pytest.FixtureRequest) -> None:
    backend = request.node.callspec.params["db_url"]
    assert db_url.startswith(
        {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}[backend]
    )


async def test_pg_module_url_is_shared_within_the_module(pg_module_url: str) -> None:
    assert pg_module_url.rsplit("/", 1)[1].startswith("tt_")
