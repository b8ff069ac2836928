"""Oracle benchmark: signing costs per event, and attesting through PostgreSQL.

``python -m bench oracle`` (or ``make bench``). Measures, for one 20-digit
BTC/USD event: deriving its nonces, signing the announcement, signing the
attestation, a client verifying both; the simulated feed's price lookup; and
announce + attest through the real oracle core on the machine's PostgreSQL,
one attester and eight racing ones (the guarded transaction under
contention). Results replace the ``## oracle`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._report import machine, write_section
from tentenone.market.schedule import ExpirySchedule
from tentenone.oracle.hashing import OracleHashing
from tentenone.store import Database, migrations_dir
from tentenone.testing import postgres
from tentenone_oracle.aggregation import AggregationRules, IndexPriceFeed
from tentenone_oracle.events import numeric_descriptor
from tentenone_oracle.keys import OracleKey
from tentenone_oracle.models import OracleTable
from tentenone_oracle.nonces import NonceDeriver
from tentenone_oracle.oracle import Oracle, OracleConfig
from tentenone_oracle.signer import OracleSigner, outcomes_for
from tentenone_oracle.simulated import SimulatedFeed

HERE = Path(__file__).parent
SECRET = bytes.fromhex("5376a94490ff9b07387511351fdf9fb56d0f704effaa9e55218ac82f712f8a26")
EPOCH = 1764316800


def _per_call_ms(fn: Callable[[int], object], n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - started) * 1000 / n


def _signing(n: int) -> dict[str, float]:
    signer = OracleSigner(OracleKey.from_secret(SECRET, "bench"), OracleHashing.TAGGED)
    deriver = NonceDeriver(SECRET)
    descriptor = numeric_descriptor()
    announcements = [
        signer.announce(f"btcusd{EPOCH + 60 * i}", EPOCH, descriptor) for i in range(n)
    ]
    outcomes = outcomes_for(descriptor, 91210)
    attestations = [signer.attest(a.oracle_event, outcomes) for a in announcements]
    feed = SimulatedFeed(seed=1)
    t0 = dt.datetime(2025, 11, 28, tzinfo=dt.UTC)
    return {
        "derive 20 nonces": _per_call_ms(lambda i: deriver.nonces(f"btcusd{i}", 20), n),
        "sign announcement": _per_call_ms(
            lambda i: signer.announce(f"btcusd{EPOCH + 60 * i}", EPOCH, descriptor), n
        ),
        "sign attestation (20 digits)": _per_call_ms(
            lambda i: signer.attest(announcements[i].oracle_event, outcomes), n
        ),
        "verify announcement": _per_call_ms(
            lambda i: signer.verify_announcement(announcements[i]), n
        ),
        "verify attestation": _per_call_ms(
            lambda i: signer.verify_attestation(announcements[i].oracle_event, attestations[i]), n
        ),
        "simulated price lookup": _per_call_ms(
            lambda i: feed.price_of(t0 + dt.timedelta(seconds=i)), n * 10
        ),
    }


async def _database(n: int) -> dict[str, float]:
    postgres.ensure_postgres(HERE.parent)
    name = postgres.create_database()
    db = Database(
        postgres.async_url(name),
        service="oracle",
        metadata=OracleTable.metadata,
        migrations=migrations_dir("tentenone_oracle"),
    )
    try:
        await db.migrate()
        return await _announce_and_attest(db, n)
    finally:
        await db.close()
        postgres.drop_database(name)


async def _announce_and_attest(db: Database, n: int) -> dict[str, float]:
    schedule = ExpirySchedule.every(60)
    first = dt.datetime(2025, 11, 28, 8, 1, tzinfo=dt.UTC)
    now = {"t": first - dt.timedelta(seconds=30)}

    def clock() -> dt.datetime:
        return now["t"]

    def make(seed: int) -> Oracle:
        feed = IndexPriceFeed([SimulatedFeed(seed=seed, clock=clock)], AggregationRules(1), clock)
        signer = OracleSigner(OracleKey.from_secret(SECRET, "bench"), OracleHashing.TAGGED)
        return Oracle(db, signer, feed, schedule, clock, OracleConfig(announce_ahead=n))

    oracle = make(1)
    started = time.perf_counter()
    announced = await oracle.announce_upcoming()
    announce_ms = (time.perf_counter() - started) * 1000 / n
    now["t"] = announced[-1].maturity + dt.timedelta(seconds=1)
    half = n // 2
    single = []
    for a in announced[:half]:
        started = time.perf_counter()
        await oracle.attest_price_event(a.event_id)
        single.append((time.perf_counter() - started) * 1000)
    racers = [make(seed) for seed in range(8)]
    raced = []
    for a in announced[half:]:
        started = time.perf_counter()
        await asyncio.gather(*(r.attest_price_event(a.event_id) for r in racers))
        raced.append((time.perf_counter() - started) * 1000)
    return {
        "announce (sign + store + outbox)": announce_ms,
        "attest, one attester (median)": statistics.median(single),
        "attest, 8 racing attesters (median, all 8 done)": statistics.median(raced),
    }


async def _service_delay(events: int) -> dict[str, float]:
    """Maturity to attestation in the running service (embedded default, expiries every 2 s)."""
    import tempfile

    from tentenone.service import ServiceRunner
    from tentenone_oracle.service import service

    with tempfile.TemporaryDirectory() as tmp:
        settings = service.settings_cls(
            database_url=f"sqlite+aiosqlite:///{tmp}/oracle.db",
            mode="devnet",
            key_file=Path(tmp) / "oracle.key",
            price_sources=["simulated"],
            min_sources=1,
            expiry_schedule="every:2s",
            announce_ahead=2,
            tick_s=5.0,
        )
        runner = ServiceRunner(service, settings, serve_http=False)
        await runner.start()
        try:
            assert runner.ctx is not None
            oracle = runner.ctx.extras["oracle"]
            delays: list[float] = []
            deadline = time.monotonic() + 20 + 3 * events
            while len(delays) < events and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                async with oracle.db.session() as session:
                    rows = await _attested_rows(session)
                delays = [(r.attested_at - e).total_seconds() * 1000 for r, e in rows]
        finally:
            await runner.stop(grace_s=3)
    label = "service (SQLite, in-process bus): maturity to attestation"
    return {
        f"{label}, median of {len(delays)}": statistics.median(delays),
        f"{label}, max": max(delays),
    }


async def _attested_rows(session: Any) -> list[tuple[Any, dt.datetime]]:
    from sqlmodel import select

    from tentenone_oracle.models import AttestationRow, EventRow

    query = select(AttestationRow, EventRow.maturity).join(
        EventRow,
        AttestationRow.event_id == EventRow.event_id,  # type: ignore[arg-type]
    )
    return [(a, m) for a, m in (await session.exec(query)).all()]


def _report(signing: dict[str, float], database: dict[str, float], n: int) -> str:
    lines = [
        "## oracle",
        "",
        f"`python -m bench oracle` on {machine()}, "
        f"{time.strftime('%Y-%m-%d')}. One BTC/USD event: "
        f"base 2, 20 digits, tagged hashing; means over {n} events (signing) and "
        "medians over PostgreSQL round trips (machine's shared server). No reference: the "
        "oracle's costs are bounded by the 20 BIP-340 signatures and one transaction.",
        "",
        "| step | ms |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v:.2f} |" for k, v in {**signing, **database}.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench oracle")
    parser.add_argument("-n", type=int, default=40, help="events per measurement")
    parser.add_argument("--no-write", action="store_true", help="print, do not update RESULTS.md")
    args = parser.parse_args(argv)
    signing = _signing(args.n)
    database = asyncio.run(_database(args.n))
    database.update(asyncio.run(_service_delay(5)))
    section = _report(signing, database, args.n)
    print(section)
    if not args.no_write:
        write_section("oracle", section)
    return 0
