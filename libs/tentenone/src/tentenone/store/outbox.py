"""The transactional outbox: events written in the same transaction as the state they describe.

A service calls :func:`add_event` inside the transaction that changes its
state; both commit or neither does. The relay (``tentenone.bus``) later reads
committed rows with :func:`fetch_unpublished`, publishes them and calls
:func:`mark_published`. Delivery is at least once; consumers drop duplicates
through the inbox (``tentenone.store.inbox``).

Ordering and concurrent relays: on PostgreSQL :func:`fetch_unpublished` takes a
transaction-scoped advisory lock per schema (``pg_try_advisory_xact_lock``);
while one relay's transaction holds it, any other relay of the same service
gets an empty batch. So one relay is active at a time and events go out in
``seq`` order, provided the relay fetches, publishes and marks inside one
transaction. ``seq`` is taken at insert time, so two transactions that commit
in the opposite order can publish in the opposite order too; events about
one entity keep their order as long as the state change (which locks the
entity's row) precedes ``add_event`` in the transaction. On SQLite each file
belongs to one process, which runs one relay.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from tentenone.errors import InvalidInput
from tentenone.logging import get_correlation_id
from tentenone.store import _validate
from tentenone.store.tables import OUTBOX
from tentenone.store.types import utcnow

__all__ = [
    "MAX_BATCH",
    "MAX_HEADERS_BYTES",
    "MAX_PAYLOAD_BYTES",
    "OUTBOX_ADDED_KEY",
    "SOURCE_KEY",
    "OutboxEvent",
    "add_event",
    "add_events",
    "fetch_unpublished",
    "mark_attempted",
    "mark_published",
    "pending_stats",
    "purge_published",
]

MAX_PAYLOAD_BYTES = 1024 * 1024
MAX_HEADERS_BYTES = 16 * 1024
MAX_BATCH = 10_000
#: ``session.info`` key naming the service that writes events (set by ``Database``).
SOURCE_KEY = "tentenone.service"
#: ``session.info`` key set when the transaction added events (``Database`` notifies on commit).
OUTBOX_ADDED_KEY = "tentenone.outbox_added"

# An AMQP topic routing key without wildcards: words of letters, digits, '_' or '-', dot-separated.
_EVENT_TYPE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)*$")
_HEADER_TYPES = (str, int, float, bool, type(None))


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """One outbox row. ``payload`` is the JSON text exactly as stored (the message body)."""

    id: str
    seq: int
    source: str
    event_type: str
    payload: str
    headers: dict[str, Any] = field(default_factory=dict)
    correlation_id: str | None = None
    occurred_at: dt.datetime = field(default_factory=utcnow)
    published_at: dt.datetime | None = None
    attempts: int = 0

    def decoded_payload(self) -> Any:
        return json.loads(self.payload)


async def add_event(
    session: AsyncSession,
    *,
    event_type: str,
    payload: Mapping[str, Any] | BaseModel,
    event_id: Any = None,
    correlation_id: str | None = None,
    headers: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> OutboxEvent:
    """Add an event to the outbox inside the caller's transaction.

    ``event_id`` defaults to a new UUID4, ``correlation_id`` to the current one
    (``tentenone.logging``), ``source`` to the service the session belongs to.
    Everything is checked before anything is written.
    """
    _validate.session(session)
    source = _source(session, source)
    event_type = _event_type(event_type)
    body = _payload(payload)
    header_text = _headers(headers)
    eid = _validate.event_id(event_id) if event_id is not None else _new_event_id()
    if correlation_id is None:
        correlation_id = get_correlation_id()
    correlation_id = _validate.optional_text("correlation_id", correlation_id, max_len=128)
    occurred_at = utcnow()
    conn = await session.connection()
    seq = (
        await conn.execute(
            insert(OUTBOX)
            .values(
                id=eid,
                source=source,
                event_type=event_type,
                payload=body,
                headers=header_text,
                correlation_id=correlation_id,
                occurred_at=occurred_at,
                attempts=0,
            )
            .returning(OUTBOX.c.seq)
        )
    ).scalar_one()
    session.info[OUTBOX_ADDED_KEY] = True
    return OutboxEvent(
        id=eid,
        seq=seq,
        source=source,
        event_type=event_type,
        payload=body,
        headers=json.loads(header_text),
        correlation_id=correlation_id,
        occurred_at=occurred_at,
    )


async def add_events(
    session: AsyncSession, events: Sequence[Mapping[str, Any]], *, source: str | None = None
) -> list[str]:
    """Add several events in one statement, in list order (their ``seq`` follows it).

    Each item has ``add_event``'s keyword arguments (``event_type``, ``payload``,
    optional ``event_id``, ``correlation_id``, ``headers``). All are checked
    before anything is written; returns the event ids. For writers that change
    many things per transaction, where one round trip per event would dominate.
    """
    _validate.session(session)
    if isinstance(events, str | bytes) or not isinstance(events, Sequence):
        raise InvalidInput(f"events must be a sequence, got {type(events).__name__}")
    if len(events) > MAX_BATCH:
        raise InvalidInput(f"{len(events)} events given; at most {MAX_BATCH} per call")
    source = _source(session, source)
    current = get_correlation_id()
    occurred_at = utcnow()
    rows: list[dict[str, Any]] = []
    for item in events:
        spec = _validate.mapping("event", item)
        unknown = set(spec) - {"event_type", "payload", "event_id", "correlation_id", "headers"}
        if unknown:
            raise InvalidInput(f"unknown event fields {sorted(unknown)}")
        eid = spec.get("event_id")
        cid = spec.get("correlation_id", current)
        rows.append(
            {
                "id": _validate.event_id(eid) if eid is not None else _new_event_id(),
                "source": source,
                "event_type": _event_type(spec.get("event_type")),
                "payload": _payload(spec.get("payload")),
                "headers": _headers(spec.get("headers")),
                "correlation_id": _validate.optional_text("correlation_id", cid, max_len=128),
                "occurred_at": occurred_at,
                "attempts": 0,
            }
        )
    if rows:
        conn = await session.connection()
        await conn.execute(insert(OUTBOX), rows)
        session.info[OUTBOX_ADDED_KEY] = True
    return [r["id"] for r in rows]


async def fetch_unpublished(session: AsyncSession, limit: int = 100) -> list[OutboxEvent]:
    """Up to ``limit`` committed, unpublished events in ``seq`` order.

    On PostgreSQL an empty list also means another relay holds the outbox
    (see the module docstring); try again later.
    """
    _validate.session(session)
    _validate.positive_int("limit", limit, maximum=MAX_BATCH)
    conn = await session.connection()
    if not await _take_relay_lock(conn):
        return []
    rows = await conn.execute(
        select(OUTBOX).where(OUTBOX.c.published_at.is_(None)).order_by(OUTBOX.c.seq).limit(limit)
    )
    return [
        OutboxEvent(
            id=row.id,
            seq=row.seq,
            source=row.source,
            event_type=row.event_type,
            payload=row.payload,
            headers=json.loads(row.headers),
            correlation_id=row.correlation_id,
            occurred_at=row.occurred_at,
            published_at=row.published_at,
            attempts=row.attempts,
        )
        for row in rows
    ]


async def mark_published(session: AsyncSession, ids: Sequence[str]) -> int:
    """Record that the events ``ids`` were published (and confirmed); returns rows changed."""
    _validate.session(session)
    checked = _ids(ids)
    if not checked:
        return 0
    conn = await session.connection()
    result = await conn.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(checked), OUTBOX.c.published_at.is_(None))
        .values(published_at=utcnow(), attempts=OUTBOX.c.attempts + 1)
    )
    return result.rowcount


async def mark_attempted(session: AsyncSession, ids: Sequence[str]) -> int:
    """Count a failed publish attempt for ``ids`` (they stay unpublished); returns rows changed."""
    _validate.session(session)
    checked = _ids(ids)
    if not checked:
        return 0
    conn = await session.connection()
    result = await conn.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(checked), OUTBOX.c.published_at.is_(None))
        .values(attempts=OUTBOX.c.attempts + 1)
    )
    return result.rowcount


async def pending_stats(session: AsyncSession) -> tuple[int, float]:
    """(number of unpublished events, age in seconds of the oldest; 0.0 when none)."""
    _validate.session(session)
    conn = await session.connection()
    count, oldest = (
        await conn.execute(
            select(func.count(), func.min(OUTBOX.c.occurred_at)).where(
                OUTBOX.c.published_at.is_(None)
            )
        )
    ).one()
    if not count or oldest is None:
        return 0, 0.0
    return int(count), max(0.0, (utcnow() - oldest).total_seconds())


async def purge_published(session: AsyncSession, older_than_s: float) -> int:
    """Delete events published more than ``older_than_s`` seconds ago; returns rows deleted."""
    _validate.session(session)
    age = _validate.non_negative_number("older_than_s", older_than_s)
    cutoff = utcnow() - dt.timedelta(seconds=age)
    conn = await session.connection()
    result = await conn.execute(
        delete(OUTBOX).where(OUTBOX.c.published_at.is_not(None), OUTBOX.c.published_at < cutoff)
    )
    return result.rowcount


def _new_event_id() -> str:
    return str(uuid.uuid4())


def _source(session: AsyncSession, source: str | None) -> str:
    if source is None:
        source = session.info.get(SOURCE_KEY)
        if source is None:
            raise InvalidInput(
                "no event source: pass source=... or use a session from Database, "
                "which knows its service"
            )
    return _validate.text("source", source, max_len=100)


def _event_type(value: object) -> str:
    name = _validate.text("event_type", value, max_len=255)
    if not _EVENT_TYPE_RE.fullmatch(name):
        raise InvalidInput(
            f"invalid event type {name!r}: dot-separated words of letters, digits, '_' or '-' "
            "(a routing key without wildcards), e.g. 'order.accepted'"
        )
    return name


def _payload(payload: object) -> str:
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json")
    return _validate.json_text(
        "payload", _validate.mapping("payload", payload), max_bytes=MAX_PAYLOAD_BYTES
    )


def _headers(headers: object) -> str:
    if headers is None:
        return "{}"
    checked = _validate.mapping("headers", headers)
    for key, value in checked.items():
        if not isinstance(value, _HEADER_TYPES):
            raise InvalidInput(
                f"header {key!r} must be a string, number, boolean or null, "
                f"got {type(value).__name__}"
            )
    return _validate.json_text("headers", dict(checked), max_bytes=MAX_HEADERS_BYTES)


def _ids(ids: object) -> list[str]:
    if isinstance(ids, str | bytes) or not isinstance(ids, Sequence):
        raise InvalidInput(f"ids must be a sequence of event ids, got {type(ids).__name__}")
    if len(ids) > MAX_BATCH:
        raise InvalidInput(f"{len(ids)} ids given; at most {MAX_BATCH} per call")
    return [_validate.event_id(i) for i in ids]


def _relay_lock_key(schema: str) -> int:
    digest = hashlib.blake2b(f"tentenone.outbox:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def _take_relay_lock(conn: AsyncConnection) -> bool:
    if conn.dialect.name != "postgresql":
        return True
    sync = conn.sync_connection
    options = sync.get_execution_options() if sync is not None else {}
    schema_map = options.get("schema_translate_map") or {}
    schema = schema_map.get(None) or "public"
    acquired = await conn.scalar(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _relay_lock_key(schema)}
    )
    return bool(acquired)
