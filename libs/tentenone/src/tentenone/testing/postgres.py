"""Throwaway PostgreSQL databases for tests, on the machine's shared server.

Each test gets a database of its own (``tt_<random>``), dropped afterwards,
so tests never see each other's tables and other developers' data is untouched.
The server is found through ``TENTENONE_TEST_PG_URL`` (a libpq URL of a
database the user may connect to, default the local ``postgres`` database).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import subprocess
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

__all__ = [
    "admin_url",
    "async_url",
    "create_database",
    "drop_database",
    "ensure_postgres",
    "postgres_reachable",
]

_DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
_CONNECT_TIMEOUT_S = 5.0


def admin_url() -> str:
    return os.environ.get("TENTENONE_TEST_PG_URL", _DEFAULT_ADMIN_URL)


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def async_url(name: str) -> str:
    """The SQLAlchemy (asyncpg) URL of test database ``name``."""
    return _with_database(admin_url(), name).replace("postgresql://", "postgresql+asyncpg://", 1)


def _run[T](coro: Coroutine[Any, Any, T]) -> T:
    # A private loop in a worker thread: safe whether or not the caller runs a loop.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _execute(sql: str) -> None:
    conn = await asyncpg.connect(admin_url(), timeout=_CONNECT_TIMEOUT_S)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def postgres_reachable() -> bool:
    try:
        _run(_execute("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    return True


def ensure_postgres(root: Path | None = None) -> None:
    """Start the machine's services with ``scripts/ensure-services.sh`` if PostgreSQL is down."""
    if postgres_reachable():
        return
    script = _find_script(root or Path.cwd())
    if script is None:
        raise RuntimeError(f"PostgreSQL at {admin_url()} is down and no scripts/ensure-services.sh")
    subprocess.run([str(script)], check=False, timeout=300)  # noqa: S603 - our own script
    if not postgres_reachable():
        raise RuntimeError(f"PostgreSQL at {admin_url()} is not reachable after {script}")


def _find_script(start: Path) -> Path | None:
    for folder in (start.resolve(), *start.resolve().parents):
        candidate = folder / "scripts" / "ensure-services.sh"
        if candidate.is_file():
            return candidate
    return None


def create_database(prefix: str = "tt") -> str:
    """Create an empty database with a fresh name; returns the name."""
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    _run(_execute(f'CREATE DATABASE "{name}"'))
    return name


def drop_database(name: str) -> None:
    """Drop ``name``, disconnecting anything still connected to it."""
    _run(_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
