"""Never two outcomes for one event: real oracle processes, kill -9, clock jumps, races.

Each test runs ``python -m tentenone_oracle`` as subprocesses on the test's
PostgreSQL database and RabbitMQ vhost, with expiries every 3 s, and listens
to everything they publish. The invariant checked after every scenario: the
database holds one attestation per event, and every signature ever
published for a nonce is the same (two would reveal the key).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from tentenone.crashpoint import CRASH_AT_ENV
from tentenone.store import Database
from tentenone.testing import PythonProcess, wait_until
from tentenone_oracle.models import AttestationRow, EventRow, EventState, NonceRow, OracleTable
from tentenone_oracle.oracle import AFTER_SIGN

pytestmark = pytest.mark.slow

Spawn = Callable[..., PythonProcess]


@pytest.fixture
def oracle_env(pg_url: str, amqp_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "TENTENONE_ORACLE_DATABASE_URL": pg_url,
        "TENTENONE_AMQP_URL": amqp_url,
        "TENTENONE_ORACLE_MODE": "devnet",
        "TENTENONE_ORACLE_KEY_FILE": str(tmp_path / "oracle.key"),
        "TENTENONE_ORACLE_PRICE_SOURCES": '["simulated"]',
        "TENTENONE_ORACLE_MIN_SOURCES": "1",
        "TENTENONE_EXPIRY_SCHEDULE": "every:3s",
        "TENTENONE_ORACLE_ANNOUNCE_AHEAD": "2",
        "TENTENONE_ORACLE_TICK_S": "0.5",
        "TENTENONE_ORACLE_INDEX_PRICE_INTERVAL_S": "60",
        "TENTENONE_ORACLE_SIM_SEED": "1",
        "TENTENONE_HTTP_PORT": "0",
        "TENTENONE_LOG_LEVEL": "INFO",
    }


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[Database]:
    database = Database(pg_url, service="oracle", metadata=OracleTable.metadata)
    yield database
    await database.close()


_READY = r'"msg": "service oracle ready".*?"url": "([^"]+)"'


async def _ready(proc: PythonProcess, starts: int = 3) -> str:
    """The process's URL once ready. A start that fails (the shared broker too slow to
    accept a connection under load) is retried, as Kubernetes restarts a pod: bounded."""
    for attempt in range(starts):
        try:
            found = await proc.wait_for_output(_READY, 60)
            return found.group(1)
        except RuntimeError:
            if "could not start" not in proc.output() or attempt == starts - 1:
                raise
            proc.start()
    raise AssertionError("unreachable")


async def _ticks(url: str) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        text = (await http.get("/metrics")).text
    found = re.search(
        r'^tentenone_oracle_scheduler_ticks_total\{oracle="oracle"\} (\S+)$', text, re.M
    )
    return float(found.group(1)) if found else 0.0


async def _attestations(db: Database) -> dict[str, AttestationRow]:
    async with db.session() as session:
        rows = (await session.exec(select(AttestationRow))).all()
    return {r.event_id: r for r in rows}


async def _events(db: Database) -> dict[str, EventRow]:
    async with db.session() as session:
        rows = (await session.exec(select(EventRow))).all()
    return {r.event_id: r for r in rows}


async def _nonces(db: Database) -> dict[str, list[str]]:
    query = select(NonceRow).order_by(NonceRow.event_id, NonceRow.idx)  # type: ignore[arg-type]
    async with db.session() as session:
        rows = (await session.exec(query)).all()
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(row.event_id, []).append(row.public_nonce)
    return found


async def _check_one_outcome_per_event(db: Database, seen: Any) -> None:
    """Every published signature of a nonce is the one in the database; nonces were stored."""
    stored_nonces = await _nonces(db)
    for announced in seen.announced:
        assert stored_nonces[announced.event_id] == announced.nonces
    stored = await _attestations(db)
    by_nonce: dict[str, set[str]] = {}
    for attested in seen.attested:
        row = stored[attested.event_id]
        assert json.loads(row.signatures) == attested.signatures
        assert row.outcome == attested.outcome
        for sig in attested.signatures:
            by_nonce.setdefault(sig[:64], set()).add(sig)
    assert all(len(sigs) == 1 for sigs in by_nonce.values())
    events = await _events(db)
    for event_id in stored:
        assert events[event_id].state == EventState.ATTESTED


async def test_kill_between_signing_and_storing(
    spawn: Spawn, oracle_env: dict[str, str], db: Database, client: tuple[Any, Any]
) -> None:
    _, seen = client
    crashing = spawn("tentenone_oracle", env={**oracle_env, CRASH_AT_ENV: AFTER_SIGN})
    await _ready(crashing)
    # It announces, signs the first matured event, and dies by SIGKILL before committing.
    await wait_until(lambda: crashing.returncode is not None, 60, what="the crash point")
    assert crashing.returncode == -9
    events = await _events(db)
    assert events and await _attestations(db) == {}
    assert seen.attested == []  # nothing signed left the dead process
    matured = [e for e in events.values() if e.maturity <= dt.datetime.now(dt.UTC)]
    assert matured, "the crash happened at a matured event"
    # Restarted with another price feed: a different outcome is fine, the first never left.
    crashing.env.pop(CRASH_AT_ENV)
    crashing.env["TENTENONE_ORACLE_SIM_SEED"] = "2"
    crashing.start()
    await _ready(crashing)
    await wait_until(
        lambda: {e.event_id for e in matured} <= {a.event_id for a in seen.attested},
        60,
        what="the matured events attested after the restart",
    )
    await _check_one_outcome_per_event(db, seen)


async def test_restart_with_the_clock_moved_back_never_reattests(
    spawn: Spawn, oracle_env: dict[str, str], db: Database, client: tuple[Any, Any]
) -> None:
    _, seen = client
    first = spawn("tentenone_oracle", env=oracle_env)
    await _ready(first)
    await wait_until(lambda: len(seen.attested) >= 2, 60, what="two attestations")
    first.kill()
    before = await _attestations(db)
    last = max(r.event_id for r in before.values())
    events = await _events(db)
    earliest = min(events[e].maturity for e in before)
    # Restart with a clock set to just before the earliest attested maturity, another feed.
    behind = (dt.datetime.now(dt.UTC) - earliest).total_seconds() + 1.5
    first.env["TENTENONE_ORACLE_CLOCK_OFFSET_S"] = str(-behind)
    first.env["TENTENONE_ORACLE_SIM_SEED"] = "3"
    first.start()
    url = await _ready(first)

    def shifted_now() -> dt.datetime:
        return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=behind)

    # Wait until its clock has passed every attested maturity and it has ticked since.
    await wait_until(lambda: shifted_now() > events[last].maturity, 60, what="clock catch-up")
    ticks = await _ticks(url)
    await wait_until(lambda: _more_ticks(url, ticks + 3), 30, what="three more ticks")
    after = await _attestations(db)
    for event_id, row in before.items():
        assert after[event_id].signatures == row.signatures
        assert after[event_id].attested_at == row.attested_at
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        served = (await http.get(f"/attestations/{last}")).json()
    assert served["signatures"] == json.loads(before[last].signatures)
    await _check_one_outcome_per_event(db, seen)


async def _more_ticks(url: str, target: float) -> bool:
    return await _ticks(url) >= target


async def test_two_processes_race_for_every_event(
    spawn: Spawn, oracle_env: dict[str, str], db: Database, client: tuple[Any, Any]
) -> None:
    _, seen = client
    # Same key, same database, different price feeds: each would sign another outcome.
    one = spawn("tentenone_oracle", env=oracle_env)
    two = spawn("tentenone_oracle", env={**oracle_env, "TENTENONE_ORACLE_SIM_SEED": "4"})
    await _ready(one)
    await _ready(two)
    await wait_until(lambda: len({a.event_id for a in seen.attested}) >= 3, 60, what="3 events")
    await _check_one_outcome_per_event(db, seen)
