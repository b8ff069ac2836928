import asyncio
import uuid
from enum import IntEnum
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlmodel import Field, SQLModel

from tentenone.errors import InvalidInput, InvalidTransition
from tentenone.logging import bind_correlation_id
from tentenone.store import ConcurrentModification, Database, PayloadTooLarge, service_registry
from tentenone.store.statemachine import (
    Stateful,
    StateMachine,
    Transition,
    create,
    history,
    replay,
    transition,
)
from tentenone.store.tables import TRANSITIONS
from tentenone.testing import wait_until


class ContractState(IntEnum):
    OFFERED = 1
    ACCEPTED = 2
    SIGNED = 3
    CONFIRMED = 4
    CLOSED = 5
    REJECTED = 6
    REFUNDED = 7


S = ContractState
CONTRACT = StateMachine(
    "contract",
    ContractState,
    initial={S.OFFERED},
    transitions={
        S.OFFERED: {S.ACCEPTED, S.REJECTED},
        S.ACCEPTED: {S.SIGNED, S.REJECTED},
        S.SIGNED: {S.CONFIRMED, S.REFUNDED},
        S.CONFIRMED: {S.CLOSED, S.REFUNDED},
    },
)


class DlcTable(SQLModel, registry=service_registry()):
    pass


class Contract(DlcTable, Stateful, table=True):
    state_machine: ClassVar[StateMachine[ContractState]] = CONTRACT
    id: str = Field(primary_key=True)
    collateral_sat: int


class NotStateful(DlcTable, table=True):
    id: int | None = Field(default=None, primary_key=True)
    state: int = 0
    version: int = 0


@pytest.fixture
async def dlc_db(db_url: str) -> Any:
    database = Database(db_url, service="dlc", metadata=DlcTable.metadata)
    await database.create_all()
    try:
        yield database
    finally:
        await database.close()


async def _new(db: Database, cid: str | None = None) -> Contract:
    async with db.transaction() as s:
        row = Contract(id=cid or uuid.uuid4().hex, state=S.OFFERED, collateral_sat=100_000)
        await create(s, row, "offer received", peer="app-1")
    return row


async def _log_count(db: Database) -> int:
    async with db.transaction() as s:
        conn = await s.connection()
        return int((await conn.execute(select(func.count()).select_from(TRANSITIONS))).scalar_one())


async def test_create_and_transition_write_the_log(dlc_db: Database) -> None:
    row = await _new(dlc_db, "c1")
    assert (row.state, row.version) == (S.OFFERED, 1)
    with bind_correlation_id("trade-7"):
        async with dlc_db.transaction() as s:
            await transition(s, row, S.ACCEPTED, "accept received", fee_sat=250)
            await transition(s, row, S.SIGNED, "sign received")
    assert (CONTRACT.state_of(row), row.version) == (S.SIGNED, 3)
    async with dlc_db.transaction() as s:
        fresh = await s.get(Contract, "c1")
        log = await history(s, CONTRACT, "c1")
    assert fresh is not None and (fresh.state, fresh.version) == (S.SIGNED, 3)
    assert [(t.version, t.from_state, t.to_state) for t in log] == [
        (1, None, S.OFFERED),
        (2, S.OFFERED, S.ACCEPTED),
        (3, S.ACCEPTED, S.SIGNED),
    ]
    assert log[0].data == {"peer": "app-1"} and log[1].data == {"fee_sat": 250}
    assert log[1].reason == "accept received" and log[1].correlation_id == "trade-7"
    assert log[0].at is not None and log[0].at.tzinfo is not None
    assert replay(log, CONTRACT) is S.SIGNED


async def test_forbidden_transition_raises_and_changes_nothing(dlc_db: Database) -> None:
    row = await _new(dlc_db, "c2")
    async with dlc_db.transaction() as s:
        with pytest.raises(InvalidTransition) as info:
            await transition(s, row, S.CONFIRMED, "skip ahead")
    err = info.value
    assert "contract c2" in err.message and "OFFERED" in err.message and "CONFIRMED" in err.message
    assert err.details == {
        "machine": "contract",
        "entity_id": "c2",
        "from_state": "OFFERED",
        "to_state": "CONFIRMED",
    }
    assert (row.state, row.version) == (S.OFFERED, 1)
    async with dlc_db.transaction() as s:
        fresh = await s.get(Contract, "c2")
        assert fresh is not None and (fresh.state, fresh.version) == (S.OFFERED, 1)
    assert await _log_count(dlc_db) == 1


async def test_stale_writer_fails_cleanly(dlc_db: Database) -> None:
    """Two copies read at version 1: the first write wins, the second is refused."""
    await _new(dlc_db, "c3")
    async with dlc_db.transaction() as s:
        first = await s.get(Contract, "c3")
    async with dlc_db.transaction() as s:
        second = await s.get(Contract, "c3")
    assert first is not None and second is not None
    async with dlc_db.transaction() as s:
        s.add(first)
        await transition(s, first, S.ACCEPTED, "accepted")
    with pytest.raises(ConcurrentModification, match="changed since it was read"):
        async with dlc_db.transaction() as s:
            s.add(second)
            await transition(s, second, S.REJECTED, "rejected")
    async with dlc_db.transaction() as s:
        log = await history(s, CONTRACT, "c3")
        fresh = await s.get(Contract, "c3")
    assert fresh is not None and (fresh.state, fresh.version) == (S.ACCEPTED, 2)
    assert [t.to_state for t in log] == [S.OFFERED, S.ACCEPTED]


async def test_concurrent_writers_on_postgres(pg_url: str) -> None:
    """A second transaction blocked on the row lock fails once the first commits."""
    db = Database(pg_url, service="dlc", metadata=DlcTable.metadata)
    try:
        await db.create_all()
        await _new(db, "c4")
        async with db.transaction() as s:
            a = await s.get(Contract, "c4")
        async with db.transaction() as s:
            b = await s.get(Contract, "c4")
        assert a is not None and b is not None
        first_done = asyncio.Event()

        async def second_writer() -> None:
            async with db.transaction() as s:
                s.add(b)
                await first_done.wait()
                await transition(s, b, S.REJECTED, "rejected")

        async def blocked_on_row_lock() -> bool:
            async with db.engine.connect() as conn:
                waiting = await conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                )
            return bool(waiting)

        async with db.transaction() as s:
            s.add(a)
            await transition(s, a, S.ACCEPTED, "accepted")
            task = asyncio.create_task(second_writer())
            first_done.set()
            await wait_until(blocked_on_row_lock, 10, what="second writer waiting on the row")
        with pytest.raises(ConcurrentModification):
            await asyncio.wait_for(task, 10)
        async with db.transaction() as s:
            assert [t.to_state for t in await history(s, CONTRACT, "c4")] == [
                S.OFFERED,
                S.ACCEPTED,
            ]
    finally:
        await db.close()


async def test_bad_input_is_refused_and_changes_nothing(dlc_db: Database) -> None:
    row = await _new(dlc_db, "c5")
    async with dlc_db.transaction() as s:
        s.add(row)
        with pytest.raises(InvalidInput, match="unknown state 99"):
            await transition(s, row, 99, "nonsense")
        with pytest.raises(InvalidInput, match="unknown state"):
            await transition(s, row, "ACCEPTED", "nonsense")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="reason must not be empty"):
            await transition(s, row, S.ACCEPTED, " ")
        with pytest.raises(InvalidInput, match="reason must be a string"):
            await transition(s, row, S.ACCEPTED, None)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="not JSON-serialisable"):
            await transition(s, row, S.ACCEPTED, "ok", blob=object())
        with pytest.raises(PayloadTooLarge):
            await transition(s, row, S.ACCEPTED, "ok", blob="x" * 70_000)
        with pytest.raises(InvalidInput, match="not a Stateful row"):
            await transition(s, NotStateful(), S.ACCEPTED, "ok")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="AsyncSession"):
            await transition(None, row, S.ACCEPTED, "ok")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="needs a saved row"):
            await transition(
                s, Contract(id="x", state=S.OFFERED, collateral_sat=1), S.ACCEPTED, "ok"
            )
        with pytest.raises(InvalidInput, match="create\\(\\) takes a new row"):
            await create(s, row, "again")
        with pytest.raises(InvalidTransition, match="from creation to ACCEPTED"):
            await create(s, Contract(id="c6", state=S.ACCEPTED, collateral_sat=1), "bad start")
    async with dlc_db.transaction() as s:
        s.add(row)
        row.state = S.CLOSED
        with pytest.raises(InvalidInput, match="state was set directly"):
            await transition(s, row, S.ACCEPTED, "ok")
        await s.rollback()
    async with dlc_db.transaction() as s:
        fresh = await s.get(Contract, "c5")
        assert fresh is not None and (fresh.state, fresh.version) == (S.OFFERED, 1)
        assert await s.get(Contract, "c6") is None
    assert await _log_count(dlc_db) == 1


def test_machine_declaration_and_replay_checks() -> None:
    with pytest.raises(TypeError, match="IntEnum"):
        StateMachine("x", int, initial=[1], transitions={})  # type: ignore[type-var]
    with pytest.raises(ValueError, match="initial"):
        StateMachine("x", ContractState, initial=[], transitions={})
    with pytest.raises(ValueError):
        StateMachine[S]("x", S, initial=[S.OFFERED], transitions={S.OFFERED: {42}})  # type: ignore[arg-type]
    assert CONTRACT.is_final(S.CLOSED) and not CONTRACT.is_final(S.SIGNED)

    def entry(version: int, src: int | None, dst: int) -> Transition:
        return Transition("contract", "e", version, src, dst, "r", {})

    with pytest.raises(InvalidInput, match="empty log"):
        CONTRACT.replay([])
    with pytest.raises(InvalidInput, match="misses version 2"):
        CONTRACT.replay([entry(1, None, S.OFFERED), entry(3, S.OFFERED, S.ACCEPTED)])
    with pytest.raises(InvalidInput, match="starts from"):
        CONTRACT.replay([entry(1, None, S.OFFERED), entry(2, S.ACCEPTED, S.SIGNED)])
    with pytest.raises(InvalidTransition):
        CONTRACT.replay([entry(1, None, S.OFFERED), entry(2, S.OFFERED, S.CLOSED)])
    log = [entry(2, S.OFFERED, S.REJECTED), entry(1, None, S.OFFERED)]
    assert CONTRACT.replay(log) is S.REJECTED


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
async def test_replay_of_the_log_equals_the_row(dlc_db: Database, data: st.DataObject) -> None:
    """Random walks, valid and forbidden moves mixed, one transaction per move."""
    row = await _new(dlc_db)
    for _ in range(data.draw(st.integers(0, 10), label="steps")):
        current = CONTRACT.state_of(row)
        allowed = sorted(CONTRACT.allowed.get(current, ()))
        pick_valid = bool(allowed) and data.draw(st.booleans(), label="valid?")
        target = data.draw(
            st.sampled_from(allowed if pick_valid else list(ContractState)), label="to"
        )
        async with dlc_db.transaction() as s:
            s.add(row)
            if CONTRACT.can(current, target):
                await transition(s, row, target, "step", n=int(target))
            else:
                with pytest.raises(InvalidTransition):
                    await transition(s, row, target, "step")
    async with dlc_db.transaction() as s:
        fresh = await s.get(Contract, row.id, populate_existing=True)
        log = await history(s, CONTRACT, row.id)
    assert fresh is not None
    assert replay(log, CONTRACT) == fresh.state == row.state
    assert fresh.version == len(log) == row.version
