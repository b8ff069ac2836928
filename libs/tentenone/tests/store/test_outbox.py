import uuid
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import func, select

from tentenone.errors import InvalidInput
from tentenone.logging import bind_correlation_id
from tentenone.store import (
    Database,
    PayloadTooLarge,
    add_event,
    fetch_unpublished,
    mark_attempted,
    mark_published,
    pending_stats,
    purge_published,
)
from tentenone.store.outbox import MAX_PAYLOAD_BYTES
from tentenone.store.tables import OUTBOX


async def _count(db: Database) -> int:
    async with db.transaction() as s:
        conn = await s.connection()
        return int((await conn.execute(select(func.count()).select_from(OUTBOX))).scalar_one())


async def test_events_come_back_in_seq_order_with_their_fields(db: Database) -> None:
    async with db.transaction() as s:
        first = await add_event(s, event_type="order.accepted", payload={"qty": 1})
        second = await add_event(
            s,
            event_type="order.filled",
            payload={"qty": 1, "price": "65000"},
            headers={"x": "y", "n": 2},
            correlation_id="cid-1",
        )
    assert second.seq > first.seq
    async with db.transaction() as s:
        events = await fetch_unpublished(s, 10)
    assert [e.id for e in events] == [first.id, second.id]
    got = events[1]
    assert got.source == "svc"
    assert got.event_type == "order.filled"
    assert got.decoded_payload() == {"qty": 1, "price": "65000"}
    assert got.headers == {"x": "y", "n": 2}
    assert got.correlation_id == "cid-1"
    assert got.occurred_at.tzinfo is not None
    assert got.published_at is None and got.attempts == 0
    uuid.UUID(got.id)


async def test_limit_and_mark_published(db: Database) -> None:
    async with db.transaction() as s:
        ids = [(await add_event(s, event_type="a.b", payload={"i": i})).id for i in range(5)]
    async with db.transaction() as s:
        batch = await fetch_unpublished(s, 3)
        assert [e.id for e in batch] == ids[:3]
        assert await mark_published(s, [e.id for e in batch]) == 3
    async with db.transaction() as s:
        rest = await fetch_unpublished(s, 10)
        assert [e.id for e in rest] == ids[3:]
        # Marking twice changes nothing the second time.
        assert await mark_published(s, ids[:3]) == 0
        assert await mark_attempted(s, [ids[3]]) == 1
    async with db.transaction() as s:
        rest = await fetch_unpublished(s, 10)
    assert [(e.id, e.attempts) for e in rest] == [(ids[3], 1), (ids[4], 0)]


async def test_rolled_back_events_are_never_seen(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as s:
            await add_event(s, event_type="a.b", payload={})
            raise RuntimeError("handler failed")
    assert await _count(db) == 0


async def test_pending_stats_counts_unpublished_and_oldest_age(db: Database) -> None:
    async with db.transaction() as s:
        assert await pending_stats(s) == (0, 0.0)
        e1 = await add_event(s, event_type="a.b", payload={})
        await add_event(s, event_type="a.b", payload={})
    async with db.transaction() as s:
        count, age = await pending_stats(s)
        assert count == 2 and 0.0 <= age < 60
        await mark_published(s, [e1.id])
    async with db.transaction() as s:
        assert (await pending_stats(s))[0] == 1


async def test_purge_published_keeps_unpublished(db: Database) -> None:
    async with db.transaction() as s:
        e1 = await add_event(s, event_type="a.b", payload={})
        await add_event(s, event_type="a.b", payload={})
        await mark_published(s, [e1.id])
    async with db.transaction() as s:
        assert await purge_published(s, 3600) == 0
        assert await purge_published(s, 0) == 1
    assert await _count(db) == 1


async def test_event_id_and_correlation_id_defaults(db: Database) -> None:
    given = uuid.uuid4()
    with bind_correlation_id("from-context"):
        async with db.transaction() as s:
            event = await add_event(s, event_type="a.b", payload={}, event_id=given)
    assert event.id == str(given)
    assert event.correlation_id == "from-context"


async def test_pydantic_payload_is_dumped_as_json(db: Database) -> None:
    class Accepted(BaseModel):
        order_id: uuid.UUID
        qty: int

    oid = uuid.uuid4()
    async with db.transaction() as s:
        accepted = Accepted(order_id=oid, qty=3)
        event = await add_event(s, event_type="order.accepted", payload=accepted)
    assert event.decoded_payload() == {"order_id": str(oid), "qty": 3}


async def test_duplicate_event_id_fails_and_rolls_back(db: Database) -> None:
    eid = str(uuid.uuid4())
    async with db.transaction() as s:
        await add_event(s, event_type="a.b", payload={}, event_id=eid)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        async with db.transaction() as s:
            await add_event(s, event_type="a.b", payload={}, event_id=eid)
    assert await _count(db) == 1


BAD_ADD_EVENT: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"event_type": "order.*"}, InvalidInput, "invalid event type"),
    ({"event_type": "order.#"}, InvalidInput, "invalid event type"),
    ({"event_type": ""}, InvalidInput, "event_type must not be empty"),
    ({"event_type": 7}, InvalidInput, "event_type must be a string"),
    ({"event_type": "a" * 256}, InvalidInput, "at most 255"),
    ({"payload": [1, 2]}, InvalidInput, "payload must be a mapping"),
    ({"payload": {"x": object()}}, InvalidInput, "not JSON-serialisable"),
    ({"payload": {"x": float("nan")}}, InvalidInput, "not JSON-serialisable"),
    ({"payload": {1: "x"}}, InvalidInput, "keys must be strings"),
    ({"payload": {"x": "y" * MAX_PAYLOAD_BYTES}}, PayloadTooLarge, "bytes as JSON"),
    ({"event_id": "not-a-uuid"}, InvalidInput, "must be a UUID"),
    ({"event_id": 12}, InvalidInput, "must be a UUID"),
    ({"headers": {"x": [1]}}, InvalidInput, "header 'x' must be"),
    ({"headers": "x=1"}, InvalidInput, "headers must be a mapping"),
    ({"correlation_id": 5}, InvalidInput, "correlation_id must be a string"),
    ({"source": ""}, InvalidInput, "source must not be empty"),
]


@pytest.mark.parametrize(("override", "error", "message"), BAD_ADD_EVENT)
async def test_bad_input_is_refused_and_writes_nothing(
    db: Database, override: dict[str, Any], error: type[Exception], message: str
) -> None:
    kwargs: dict[str, Any] = {"event_type": "a.b", "payload": {}, **override}
    async with db.transaction() as s:
        with pytest.raises(error, match=message):
            await add_event(s, **kwargs)
    assert await _count(db) == 0


async def test_bad_arguments_to_the_relay_functions(db: Database) -> None:
    async with db.transaction() as s:
        await add_event(s, event_type="a.b", payload={})
    async with db.transaction() as s:
        for limit in (0, -1, "10", 10_001, True):
            with pytest.raises(InvalidInput, match="limit must be"):
                await fetch_unpublished(s, limit)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="ids must be a sequence"):
            await mark_published(s, "abc")
        with pytest.raises(InvalidInput, match="must be a UUID"):
            await mark_published(s, ["nope"])
        with pytest.raises(InvalidInput, match="older_than_s"):
            await purge_published(s, -1)
        with pytest.raises(InvalidInput, match="AsyncSession"):
            await fetch_unpublished(object(), 1)  # type: ignore[arg-type]
    async with db.transaction() as s:
        assert len(await fetch_unpublished(s, 10)) == 1


async def test_session_without_service_needs_a_source(db: Database) -> None:
    from sqlalchemy.ext.asyncio import AsyncSession

    async with AsyncSession(db.engine) as s, s.begin():
        with pytest.raises(InvalidInput, match="no event source"):
            await add_event(s, event_type="a.b", payload={})
        event = await add_event(s, event_type="a.b", payload={}, source="other")
    assert event.source == "other"


async def test_commit_notifies_outbox_listeners_rollback_does_not(db: Database) -> None:
    calls: list[str] = []
    unsubscribe = db.add_outbox_listener(lambda: calls.append("commit"))
    async with db.transaction() as s:
        await add_event(s, event_type="a.b", payload={})
    assert calls == ["commit"]
    with pytest.raises(RuntimeError):
        async with db.transaction() as s:
            await add_event(s, event_type="a.b", payload={})
            raise RuntimeError
    async with db.transaction() as s:
        await pending_stats(s)  # a commit without events
    assert calls == ["commit"]
    unsubscribe()
    async with db.transaction() as s:
        await add_event(s, event_type="a.b", payload={})
    assert calls == ["commit"]
