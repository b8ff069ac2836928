"""A service as a real process: SIGTERM stops it cleanly; SIGKILL loses no committed event."""

import json
import os
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tentenone.bus import Bus
from tentenone.service import ServiceRunner
from tentenone.store import Database, pending_stats
from tentenone.store.tables import OUTBOX
from tentenone.testing import PythonProcess, wait_until

from .ledger import ADD_ENTRY, AUDITED, AddEntry, audit

HERE = Path(__file__).parent
Spawn = Callable[..., PythonProcess]


def _env(amqp_url: str, pg_url: str, **extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p)
    return {
        "PYTHONPATH": path,
        "TENTENONE_AMQP_URL": amqp_url,
        "TENTENONE_DATABASE_URL": pg_url,
        "TENTENONE_HTTP_PORT": "0",
        "TENTENONE_SHUTDOWN_GRACE_S": "5",
        **extra,
    }


async def _ready_url(proc: PythonProcess) -> str:
    line = await proc.wait_for_output(r"^.*service tt-ledger ready.*$", 60)
    url = json.loads(line.group(0))["url"]
    assert isinstance(url, str)
    return url


@pytest.fixture
async def auditor(amqp_url: str, pg_url: str) -> AsyncIterator[ServiceRunner]:
    settings = audit.settings_cls(database_url=pg_url, amqp_url=amqp_url)
    runner = ServiceRunner(audit, settings, serve_http=False)
    await runner.start()
    yield runner
    await runner.stop(grace_s=2)


async def _audited_ids(runner: ServiceRunner) -> list[str]:
    assert runner.db is not None
    async with runner.db.transaction() as s:
        conn = await s.connection()
        return [r[0] for r in await conn.execute(select(AUDITED.c.event_id))]


async def _outbox_ids(pg_url: str) -> list[str]:
    async with Database(pg_url, service="tt-ledger") as db, db.transaction() as s:
        conn = await s.connection()
        return [r[0] for r in await conn.execute(select(OUTBOX.c.id))]


async def test_sigterm_stops_the_service_cleanly(spawn: Spawn, amqp_url: str, pg_url: str) -> None:
    proc = spawn("ledger", "tt-ledger", env=_env(amqp_url, pg_url))
    url = await _ready_url(proc)
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        assert (await http.get("/readyz")).status_code == 200
    assert proc.terminate(timeout=30) == 0
    assert re.search(r"service tt-ledger stopped", proc.output())


async def test_kill_between_commit_and_publish_still_delivers_once(
    spawn: Spawn, amqp_url: str, pg_url: str, auditor: ServiceRunner
) -> None:
    proc = spawn("ledger", "tt-ledger", env=_env(amqp_url, pg_url, LEDGER_HOLD_RELAY="1"))
    await proc.wait_for_output("relay held", 60)
    client = Bus.for_url("tt-client", amqp_url)
    await client.start()
    try:
        views = [await client.request(ADD_ENTRY, AddEntry(amount_sat=n)) for n in (1, 2, 3)]
    finally:
        await client.close()
    # Committed (the replies came after the commit) but not published:
    async with Database(pg_url, service="tt-ledger") as db, db.transaction() as s:
        assert (await pending_stats(s))[0] == 3
    assert await _audited_ids(auditor) == []
    proc.kill()
    proc.env.pop("LEDGER_HOLD_RELAY")
    proc.start()
    await wait_until(lambda: _has(auditor, 3), 60)
    assert sorted(await _audited_ids(auditor)) == sorted(v.event_id for v in views)


async def _has(runner: ServiceRunner, n: int) -> bool:
    return len(await _audited_ids(runner)) >= n


@pytest.mark.slow
async def test_kill_during_a_stream_loses_nothing_and_applies_nothing_twice(
    spawn: Spawn, amqp_url: str, pg_url: str, auditor: ServiceRunner
) -> None:
    proc = spawn("ledger", "tt-ledger", env=_env(amqp_url, pg_url, LEDGER_GENERATE="1"))
    for round_ in range(3):
        # Let it commit and relay for a while, then kill it wherever it is.
        await proc.wait_for_output(r"(committed .*\n){150}", 60)
        proc.kill()
        if round_ < 2:
            proc.start()
    proc.env.pop("LEDGER_GENERATE")
    proc.start()
    committed = await _outbox_ids(pg_url)
    assert len(committed) >= 450
    await wait_until(lambda: _has(auditor, len(committed)), 120)
    applied = await _audited_ids(auditor)
    assert len(applied) == len(set(applied)), "an event was applied twice"
    assert set(applied) == set(committed)
    assert auditor.db is not None
    async with auditor.db.transaction() as s:
        conn = await s.connection()
        assert (await conn.execute(select(func.count()).select_from(AUDITED))).scalar_one() == len(
            committed
        )
