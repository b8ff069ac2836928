"""The inbox: each consumer applies an event's effect once, however often it is delivered.

A consumer calls :func:`claim` first thing inside the transaction that applies
the event. The first claim inserts ``(consumer, event_id)`` and returns True;
a redelivery finds the row and returns False, and the consumer acks without
doing anything. Because the claim commits or rolls back with the effect, a
crash half-way leaves no claim behind and the redelivery is applied.

Two concurrent deliveries of one event: on PostgreSQL the second insert waits
for the first transaction, then sees the conflict (False) once it commits, or
inserts (True) if it rolled back. On SQLite writers are serialised by
``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tentenone.errors import InvalidInput
from tentenone.store import _validate
from tentenone.store.tables import INBOX
from tentenone.store.types import utcnow

__all__ = ["MAX_BATCH", "MAX_ID_LENGTH", "claim", "claim_many", "purge_inbox"]

MAX_ID_LENGTH = 200
MAX_BATCH = 10_000


async def claim(session: AsyncSession, consumer: str, event_id: str) -> bool:
    """True the first time ``consumer`` claims ``event_id`` (in this transaction), else False."""
    _validate.session(session)
    consumer = _validate.text("consumer", consumer, max_len=MAX_ID_LENGTH)
    event_id = _validate.text("event_id", event_id, max_len=MAX_ID_LENGTH)
    conn = await session.connection()
    values = {"consumer": consumer, "event_id": event_id, "received_at": utcnow()}
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = (
        dialect_insert(INBOX)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
        .returning(INBOX.c.event_id)
    )
    inserted = (await conn.execute(stmt)).first()
    return inserted is not None


async def claim_many(session: AsyncSession, consumer: str, event_ids: Sequence[str]) -> set[str]:
    """Claim a batch in one statement; returns the ids claimed now (the others are duplicates).

    For consumers that apply a batch of events in one transaction.
    """
    _validate.session(session)
    consumer = _validate.text("consumer", consumer, max_len=MAX_ID_LENGTH)
    if isinstance(event_ids, str | bytes) or not isinstance(event_ids, Sequence):
        raise InvalidInput(f"event_ids must be a sequence, got {type(event_ids).__name__}")
    if len(event_ids) > MAX_BATCH:
        raise InvalidInput(f"{len(event_ids)} event ids given; at most {MAX_BATCH} per call")
    ids = list(
        dict.fromkeys(_validate.text("event_id", e, max_len=MAX_ID_LENGTH) for e in event_ids)
    )
    if not ids:
        return set()
    conn = await session.connection()
    now = utcnow()
    rows = [{"consumer": consumer, "event_id": e, "received_at": now} for e in ids]
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    # One cached statement, executed with many parameter sets: SQLAlchemy batches it
    # into multi-row INSERTs ("insertmanyvalues") without compiling per batch size.
    stmt = (
        dialect_insert(INBOX)
        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
        .returning(INBOX.c.event_id)
    )
    return {row.event_id for row in await conn.execute(stmt, rows)}


async def purge_inbox(session: AsyncSession, older_than_s: float) -> int:
    """Forget claims older than ``older_than_s`` seconds; returns rows deleted.

    Only safe beyond the longest time a redelivery can arrive (queue TTLs, retries).
    """
    _validate.session(session)
    age = _validate.non_negative_number("older_than_s", older_than_s)
    cutoff = utcnow() - dt.timedelta(seconds=age)
    conn = await session.connection()
    result = await conn.execute(delete(INBOX).where(INBOX.c.received_at < cutoff))
    return result.rowcount
