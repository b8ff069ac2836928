"""RPC methods served in one transaction per group of waiting calls (group commit)."""

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select
from sqlmodel.ext.asyncio.session import AsyncSession

from tentenone.bus import Bus, RpcCall
from tentenone.bus.transactional import serve_transactional
from tentenone.errors import InvalidInput
from tentenone.logging import get_correlation_id
from tentenone.store import Database
from tentenone.testing import wait_until
from tentenone.wire import MalformedMessage, RpcMethod, WireModel

from .conftest import MakeBus

_METADATA = MetaData()
ROWS = Table("txrpc_rows", _METADATA, Column("n", Integer, primary_key=True))


class Put(WireModel):
    n: int
    fail: bool = False


class Done(WireModel):
    n: int
    trace: str | None


PUT = RpcMethod("txrpc-store", "put", Put, Done)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url, service="txrpc-store", metadata=_METADATA)
    await database.create_all()
    yield database
    await database.close()


async def _rows(db: Database) -> set[int]:
    async with db.transaction() as session:
        result = await (await session.connection()).execute(select(ROWS.c.n))
        return {r[0] for r in result}


async def _serve(make_bus: MakeBus, db: Database, sessions: list[int]) -> Bus:
    server = await make_bus("txrpc-store")

    async def put(session: AsyncSession, req: Put, call: RpcCall) -> Done:
        sessions.append(id(session))
        await (await session.connection()).execute(insert(ROWS).values(n=req.n))
        if req.fail:
            raise InvalidInput(f"{req.n} is refused", n=req.n)
        return Done(n=req.n, trace=get_correlation_id())

    await serve_transactional(server, db, PUT, put)
    return server


async def test_a_failing_call_leaves_no_row_and_fails_no_other(
    make_bus: MakeBus, db: Database
) -> None:
    await _serve(make_bus, db, [])
    client = await make_bus("txrpc-client")

    async def put(n: int) -> Done | BaseException:
        try:
            return await client.request(PUT, Put(n=n, fail=n == 7), timeout_s=10)
        except InvalidInput as exc:
            return exc

    outcomes = await asyncio.gather(*(put(n) for n in range(20)))
    assert isinstance(outcomes[7], InvalidInput) and outcomes[7].details == {"n": 7}
    assert [o.n for o in outcomes if isinstance(o, Done)] == [n for n in range(20) if n != 7]
    assert all(isinstance(o, Done) and o.trace for i, o in enumerate(outcomes) if i != 7)
    assert await _rows(db) == set(range(20)) - {7}


async def test_bad_arguments_and_a_failing_commit_are_that_calls_error(
    make_bus: MakeBus, db: Database
) -> None:
    await _serve(make_bus, db, [])
    client = await make_bus("txrpc-client")
    bad = client.call("txrpc-store", "put", kwargs={"n": "x"}, timeout_s=10)
    # The same key twice: whichever commits second fails on the primary key.
    dup = [client.request(PUT, Put(n=5), timeout_s=10) for _ in range(2)]
    good = [client.request(PUT, Put(n=n), timeout_s=10) for n in range(10, 14)]
    outcomes = await asyncio.gather(bad, *dup, *good, return_exceptions=True)
    assert isinstance(outcomes[0], MalformedMessage)
    assert sorted(type(o).__name__ for o in outcomes[1:3]) == ["Done", "RemoteError"]
    assert [o.n for o in outcomes[3:] if isinstance(o, Done)] == [10, 11, 12, 13]
    assert await _rows(db) == {5, 10, 11, 12, 13}


async def test_calls_waiting_for_a_group_go_together_in_one_group() -> None:
    bus = Bus.for_url("txrpc-group", None)
    await bus.start()
    release = asyncio.Event()
    groups: list[list[int]] = []

    async def handle(calls: Sequence[RpcCall]) -> list[Any]:
        groups.append([c.kwargs["n"] for c in calls])
        await release.wait()
        return [c.kwargs["n"] * 10 for c in calls]

    try:
        await bus.serve_grouped("put", handle, max_size=3)
        first = asyncio.ensure_future(bus.call("txrpc-group", "put", kwargs={"n": 0}))
        await wait_until(lambda: groups, 5)
        rest = [bus.call("txrpc-group", "put", kwargs={"n": n}) for n in range(1, 5)]
        later = asyncio.gather(*rest)
        group = bus._server._groups["put"]  # the four are waiting behind the first group
        await wait_until(lambda: len(group._waiting) == 4, 5)
        assert groups == [[0]]
        release.set()
        assert [await first, *await later] == [0, 10, 20, 30, 40]
        assert groups[0] == [0] and sorted(n for g in groups[1:] for n in g) == [1, 2, 3, 4]
        assert max(len(g) for g in groups[1:]) == 3  # bounded by max_size
    finally:
        await bus.close()
