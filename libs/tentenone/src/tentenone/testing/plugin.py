"""The project's pytest plugin (entry point ``pytest11``): fixtures every test suite uses.

- ``pg_url``: a fresh PostgreSQL database for the test, dropped afterwards
  (``pg_module_url``: one per test module).
- ``sqlite_url``: a SQLite file in the test's temporary directory.
- ``db_url``: the test runs twice, on SQLite and on PostgreSQL.
- ``free_port``: an ephemeral loopback port.
- ``spawn``: start ``python -m <module>`` as a real subprocess (kill -9 and
  restart it); every process still running is killed when the test ends.

``wait_until`` / ``wait_until_sync`` and ``check_migrations`` are imported
from ``tentenone.testing``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from tentenone.testing import ports, postgres
from tentenone.testing.processes import PythonProcess

__all__ = ["db_url", "free_port", "pg_module_url", "pg_url", "spawn", "sqlite_url"]

_PG_CHECKED = pytest.StashKey[bool]()


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A SQLAlchemy URL (asyncpg) of a new, empty PostgreSQL database, dropped after the test."""
    yield from _fresh_database(request.config)


@pytest.fixture(scope="module")
def pg_module_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Like ``pg_url``, one database for the whole module (tests must not depend on emptiness)."""
    yield from _fresh_database(request.config)


def _fresh_database(config: pytest.Config) -> Iterator[str]:
    if not config.stash.get(_PG_CHECKED, False):
        try:
            postgres.ensure_postgres(config.rootpath)
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)
        config.stash[_PG_CHECKED] = True
    name = postgres.create_database()
    try:
        yield postgres.async_url(name)
    finally:
        postgres.drop_database(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLAlchemy URL (aiosqlite) of a SQLite file in the test's temporary directory."""
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on both backends."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
def free_port() -> int:
    return ports.free_port()


_CALL_REPORT = pytest.StashKey[pytest.TestReport]()
_LOG_TAIL_CHARS = 4000


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_CALL_REPORT] = report
    return report


@pytest.fixture
def spawn(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., PythonProcess]]:
    """``spawn(module, *args, env=None, cwd=None)`` starts a process; all are killed at the end."""
    started: list[PythonProcess] = []

    def _spawn(
        module: str,
        *args: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> PythonProcess:
        proc = PythonProcess(
            module, _as_args(args), env=env, cwd=cwd, log_dir=tmp_path / "processes"
        )
        started.append(proc)
        return proc.start()

    yield _spawn
    for proc in started:
        if proc.running:
            proc.kill()
    report = request.node.stash.get(_CALL_REPORT, None)
    if report is not None and report.failed:
        # what the processes said is the first thing to read when a test fails
        for proc in started:
            print(f"--- last output of {proc!r} ---\n{proc.output()[-_LOG_TAIL_CHARS:]}")


def _as_args(args: Sequence[str]) -> list[str]:
    return [str(a) for a in args]
