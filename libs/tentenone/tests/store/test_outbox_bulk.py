"""add_events: many events in one statement, in order, all checked before any is written."""

import pytest
from sqlalchemy import func, select

from tentenone.errors import InvalidInput
from tentenone.logging import bind_correlation_id
from tentenone.store import Database, add_event, add_events, fetch_unpublished
from tentenone.store.tables import OUTBOX


async def _count(db: Database) -> int:
    async with db.transaction() as s:
        conn = await s.connection()
        return int((await conn.execute(select(func.count()).select_from(OUTBOX))).scalar_one())


async def test_bulk_events_keep_list_order_after_earlier_ones(db: Database) -> None:
    async with db.transaction() as s:
        first = await add_event(s, event_type="a.first", payload={"i": -1})
        with bind_correlation_id("cid-bulk"):
            ids = await add_events(
                s,
                [
                    {"event_type": "a.b", "payload": {"i": i}, "headers": {"n": i}}
                    for i in range(50)
                ],
            )
    async with db.transaction() as s:
        events = await fetch_unpublished(s, 100)
    assert [e.id for e in events] == [first.id, *ids]
    assert [e.decoded_payload()["i"] for e in events[1:]] == list(range(50))
    assert all(e.correlation_id == "cid-bulk" and e.source == "svc" for e in events[1:])
    assert events[7].headers == {"n": 6}


@pytest.mark.parametrize(
    "bad",
    [
        {"event_type": "no wildcards *", "payload": {}},
        {"event_type": "a.b", "payload": [1]},
        {"event_type": "a.b", "payload": {}, "surprise": 1},
        {"event_type": "a.b", "payload": {}, "headers": {"x": [1]}},
        "a.b",
    ],
)
async def test_one_bad_event_writes_none(db: Database, bad: object) -> None:
    async with db.transaction() as s:
        with pytest.raises(InvalidInput):
            await add_events(s, [{"event_type": "a.ok", "payload": {}}, bad])  # type: ignore[list-item]
    assert await _count(db) == 0
