"""The oracle core on real databases (SQLite, PostgreSQL): announce, attest once, never twice."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from tentenone.errors import InvalidInput
from tentenone.market.schedule import ExpirySchedule
from tentenone.oracle.hashing import OracleHashing
from tentenone.store import Database, fetch_unpublished, migrations_dir
from tentenone.store.statemachine import history, replay
from tentenone_oracle.aggregation import PRICE_REJECTED, AggregationRules, IndexPriceFeed
from tentenone_oracle.exchanges import make_exchange_source
from tentenone_oracle.keys import OracleKey
from tentenone_oracle.metrics import ATTEST_FAILURES
from tentenone_oracle.models import EVENT, AttestationRow, EventState, NonceRow, OracleTable
from tentenone_oracle.oracle import (
    EventConflict,
    EventNotFound,
    NotAttested,
    NotMatured,
    Oracle,
    OracleConfig,
)
from tentenone_oracle.signer import OracleSigner
from tentenone_oracle.simulated import SimulatedFeed

SECRET = bytes.fromhex("5376a94490ff9b07387511351fdf9fb56d0f704effaa9e55218ac82f712f8a26")
SCHEDULE = ExpirySchedule.every(60)
T0 = dt.datetime(2025, 11, 28, 8, 0, 30, tzinfo=dt.UTC)
FIRST = dt.datetime(2025, 11, 28, 8, 1, tzinfo=dt.UTC)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(
        db_url,
        service="oracle",
        metadata=OracleTable.metadata,
        migrations=migrations_dir("tentenone_oracle"),
    )
    await database.migrate()
    yield database
    await database.close()


@pytest.fixture
def make_oracle(db: Database) -> Callable[..., Oracle]:
    def _make(clock: Clock, seed: int = 1, prices: IndexPriceFeed | None = None) -> Oracle:
        feed = prices or IndexPriceFeed(
            [SimulatedFeed(seed=seed, clock=clock)], AggregationRules(min_sources=1), clock
        )
        signer = OracleSigner(OracleKey.from_secret(SECRET, "test"), OracleHashing.TAGGED)
        return Oracle(db, signer, feed, SCHEDULE, clock, OracleConfig(announce_ahead=4))

    return _make


async def _outbox(db: Database) -> list[Any]:
    async with db.transaction() as session:
        return await fetch_unpublished(session, limit=1000)


async def _count(db: Database, model: type[OracleTable]) -> int:
    async with db.session() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


async def test_announces_the_next_expiries_once(
    db: Database, make_oracle: Callable[..., Oracle]
) -> None:
    oracle = make_oracle(Clock(T0))
    announced = await oracle.announce_upcoming()
    assert [a.maturity for a in announced] == [FIRST + i * SCHEDULE.period for i in range(4)]
    assert [a.event_id for a in announced] == [SCHEDULE.event_id(a.maturity) for a in announced]
    for a in announced:
        assert oracle.signer.verify_announcement(a.announcement)
        assert a.state is EventState.ANNOUNCED
    assert await _count(db, NonceRow) == 80
    again = await oracle.announce_upcoming()
    assert [a.announcement for a in again] == [a.announcement for a in announced]
    events = await _outbox(db)
    assert [e.event_type for e in events] == ["oracle.announced"] * 4
    body = events[0].decoded_payload()
    assert body["event_id"] == announced[0].event_id
    assert body["announcement_tlv"] == announced[0].announcement.serialize().hex()
    assert body["hashing"] == "tagged"
    assert len(body["nonces"]) == 20


async def test_attests_at_maturity_with_the_simulated_price(
    db: Database, make_oracle: Callable[..., Oracle]
) -> None:
    clock = Clock(T0)
    oracle = make_oracle(clock)
    [first, *_] = await oracle.announce_upcoming()
    assert await oracle.attest_due() == []
    with pytest.raises(NotMatured, match="matures at"):
        await oracle.attest_price_event(first.event_id)
    clock.now = FIRST + dt.timedelta(seconds=2)
    [attested] = await oracle.attest_due()
    assert attested.event_id == first.event_id
    expected = SimulatedFeed(seed=1).price_of(FIRST)
    assert attested.price == expected
    assert attested.outcome == str(round(expected))
    assert int("".join(attested.attestation.outcomes), 2) == int(attested.outcome)
    assert oracle.signer.verify_attestation(first.announcement.oracle_event, attested.attestation)
    assert (attested.attested_at - attested.maturity) == dt.timedelta(seconds=2)
    # Asked again (REST, RPC, scheduler): the same attestation, nothing new signed.
    assert await oracle.attest_price_event(first.event_id) == attested
    assert await oracle.attest_due() == []
    assert (await oracle.get_announced(first.event_id)).state is EventState.ATTESTED  # type: ignore[union-attr]
    async with db.session() as session:
        log = await history(session, EVENT, first.event_id)
    assert [(t.reason, t.to_state) for t in log] == [("announced", 1), ("attested", 2)]
    assert replay(log, EVENT) is EventState.ATTESTED
    attested_events = [e for e in await _outbox(db) if e.event_type == "oracle.attested"]
    assert len(attested_events) == 1
    body = attested_events[0].decoded_payload()
    assert body["signatures"] == [s.hex() for s in attested.attestation.signatures]
    assert body["price_cents"] == int(expected * 100)


async def test_concurrent_attesters_with_different_prices_agree(
    db: Database, make_oracle: Callable[..., Oracle]
) -> None:
    clock = Clock(T0)
    [first, *_] = await make_oracle(clock).announce_upcoming()
    clock.now = FIRST + dt.timedelta(seconds=1)
    # Eight attesters whose feeds disagree: each would sign a different outcome.
    oracles = [make_oracle(clock, seed=s) for s in range(8)]
    outcomes = {str(round(SimulatedFeed(seed=s).price_of(FIRST))) for s in range(8)}
    assert len(outcomes) > 1
    results = await asyncio.gather(*(o.attest_price_event(first.event_id) for o in oracles))
    assert len({r.attestation.serialize() for r in results}) == 1
    assert await _count(db, AttestationRow) == 1
    attested = [e for e in await _outbox(db) if e.event_type == "oracle.attested"]
    assert len(attested) == 1


async def test_clock_moved_back_never_reattests(
    db: Database, make_oracle: Callable[..., Oracle]
) -> None:
    clock = Clock(T0)
    oracle = make_oracle(clock)
    [first, *_] = await oracle.announce_upcoming()
    clock.now = FIRST + dt.timedelta(seconds=1)
    [attested] = await oracle.attest_due()
    # A restart whose clock is a day behind and whose price feed differs.
    back = Clock(FIRST - dt.timedelta(days=1))
    restarted = make_oracle(back, seed=99)
    await restarted.announce_upcoming()
    assert await restarted.attest_due() == []
    assert await restarted.attest_price_event(first.event_id) == attested
    assert await restarted.get_attested(first.event_id) == attested
    assert await _count(db, AttestationRow) == 1


async def test_enumerated_event(db: Database, make_oracle: Callable[..., Oracle]) -> None:
    clock = Clock(T0)
    oracle = make_oracle(clock)
    announced = await oracle.announce_enum("weather-1", FIRST, ["sunny", "rainy"])
    assert announced.descriptor == {"outcomes": ["sunny", "rainy"]}
    with pytest.raises(EventConflict):
        await oracle.announce_enum("weather-1", FIRST, ["sunny", "snowy"])
    with pytest.raises(NotMatured):
        await oracle.attest_enum("weather-1", "rainy")
    clock.now = FIRST
    assert await oracle.attest_due() == []  # enumerated events wait for their outcome
    with pytest.raises(InvalidInput, match="is enumerated"):
        await oracle.attest_price_event("weather-1")
    with pytest.raises(InvalidInput, match="not one of the event's outcomes"):
        await oracle.attest_enum("weather-1", "hail")
    first = await oracle.attest_enum("weather-1", "rainy")
    assert first.attestation.outcomes == ("rainy",)
    assert oracle.signer.verify_attestation(announced.announcement.oracle_event, first.attestation)
    # A second, different outcome: the first attestation comes back, nothing is signed.
    assert await oracle.attest_enum("weather-1", "sunny") == first


@pytest.mark.parametrize("event_id", ["", " btcusd1", "x" * 101, "tab\there", 17, None])
async def test_malformed_ids(make_oracle: Callable[..., Oracle], event_id: Any) -> None:
    oracle = make_oracle(Clock(T0))
    with pytest.raises(InvalidInput, match="event id"):
        await oracle.get_announced(event_id)
    with pytest.raises(InvalidInput, match="event id"):
        await oracle.attest_enum(event_id, "x")


async def test_unknown_event(make_oracle: Callable[..., Oracle]) -> None:
    oracle = make_oracle(Clock(T0))
    for call in (oracle.attest_price_event, oracle.get_attested, oracle.get_announced):
        with pytest.raises(EventNotFound, match="no event btcusd1"):
            await call("btcusd1")
    with pytest.raises(InvalidInput, match="price events'"):
        await oracle.announce_enum("btcusd-anything", FIRST, ["a"])


async def test_out_of_range_price_keeps_the_event_pending(
    db: Database, make_oracle: Callable[..., Oracle], exchange_replay: Any
) -> None:
    clock = Clock(T0)
    feed = IndexPriceFeed(
        [make_exchange_source("bitstamp", exchange_replay.url, clock=clock)],
        AggregationRules(min_sources=1),
        clock,
    )
    oracle = make_oracle(clock, prices=feed)
    [first, *_] = await oracle.announce_upcoming()
    clock.now = FIRST + dt.timedelta(seconds=5)
    epoch = int(FIRST.timestamp())
    candle = {"timestamp": str(epoch), "open": "0.00001", "high": "1", "low": "0", "close": "1"}
    exchange_replay.answer("/api/v2/ohlc/btcusd/", json.dumps({"data": {"ohlc": [candle]}}))
    alerts = PRICE_REJECTED.labels("bitstamp", "out_of_range")._value.get()
    failures = ATTEST_FAILURES.labels("oracle", "oracle_no_index_price")._value.get()
    assert await oracle.attest_due() == []
    assert PRICE_REJECTED.labels("bitstamp", "out_of_range")._value.get() == alerts + 1
    assert ATTEST_FAILURES.labels("oracle", "oracle_no_index_price")._value.get() == failures + 1
    assert (await oracle.get_announced(first.event_id)).state is EventState.ANNOUNCED  # type: ignore[union-attr]
    assert await _count(db, AttestationRow) == 0
    with pytest.raises(NotAttested, match=r"matured at .* and is not attested yet"):
        await oracle.get_attested(first.event_id)
    # The source recovers: the next tick attests with its price.
    candle["open"] = "91208"
    exchange_replay.answer("/api/v2/ohlc/btcusd/", json.dumps({"data": {"ohlc": [candle]}}))
    [attested] = await oracle.attest_due()
    assert attested.outcome == "91208"
