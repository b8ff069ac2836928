"""Reading and writing the oracle's tables; every function runs in the caller's session.

Records returned (``Announced``, ``Attested``) are built from committed rows
and the TLVs stored with them, never from objects still in flight.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from tentenone.dlc.oracle_messages import OracleAnnouncement, OracleAttestation
from tentenone.store.statemachine import create, transition
from tentenone_oracle.events import descriptor_json, kind_of
from tentenone_oracle.models import (
    AttestationRow,
    EventKind,
    EventRow,
    EventState,
    NonceRow,
)

__all__ = [
    "Announced",
    "Attested",
    "announcement_of",
    "get_announced",
    "get_announced_or_attested",
    "get_attested",
    "insert_announcement",
    "insert_attestation",
    "list_announced",
    "lock_event",
    "matured_pending",
]


@dataclass(frozen=True, slots=True)
class Announced:
    event_id: str
    kind: EventKind
    maturity: dt.datetime
    state: EventState
    announcement: OracleAnnouncement
    announced_at: dt.datetime

    @property
    def descriptor(self) -> dict[str, Any]:
        return descriptor_json(self.announcement.oracle_event.event_descriptor)


@dataclass(frozen=True, slots=True)
class Attested:
    event_id: str
    outcome: str
    attestation: OracleAttestation
    price: Decimal | None
    price_sources: list[dict[str, str]] | None
    attested_at: dt.datetime
    maturity: dt.datetime


def announcement_of(row: EventRow) -> OracleAnnouncement:
    return OracleAnnouncement.parse(bytes.fromhex(row.announcement_tlv))


def _announced(row: EventRow) -> Announced:
    return Announced(
        event_id=row.event_id,
        kind=EventKind(row.kind),
        maturity=row.maturity,
        state=EventState(row.state),
        announcement=announcement_of(row),
        announced_at=row.announced_at,
    )


def _attested(row: AttestationRow, maturity: dt.datetime) -> Attested:
    return Attested(
        event_id=row.event_id,
        outcome=row.outcome,
        attestation=OracleAttestation.parse(bytes.fromhex(row.attestation_tlv)),
        price=Decimal(row.price) if row.price is not None else None,
        price_sources=json.loads(row.price_sources) if row.price_sources else None,
        attested_at=row.attested_at,
        maturity=maturity,
    )


async def get_announced(session: AsyncSession, event_id: str) -> Announced | None:
    row = await session.get(EventRow, event_id)
    return _announced(row) if row is not None else None


async def list_announced(
    session: AsyncSession,
    *,
    limit: int,
    after: dt.datetime | None = None,
    state: EventState | None = None,
) -> list[Announced]:
    """Events by maturity, oldest first, strictly after ``after`` when given."""
    query = select(EventRow).order_by(col(EventRow.maturity), col(EventRow.event_id))
    if after is not None:
        query = query.where(col(EventRow.maturity) > after)
    if state is not None:
        query = query.where(col(EventRow.state) == int(state))
    rows = (await session.exec(query.limit(limit))).all()
    return [_announced(r) for r in rows]


async def matured_pending(
    session: AsyncSession, before: dt.datetime, limit: int, kind: EventKind = EventKind.NUMERIC
) -> list[str]:
    """Ids of announced, unattested events of ``kind`` whose maturity is at or before ``before``."""
    query = (
        select(EventRow.event_id)
        .where(col(EventRow.state) == int(EventState.ANNOUNCED))
        .where(col(EventRow.kind) == kind.value)
        .where(col(EventRow.maturity) <= before)
        .order_by(col(EventRow.maturity))
        .limit(limit)
    )
    return list((await session.exec(query)).all())


async def get_announced_or_attested(
    session: AsyncSession, event_id: str
) -> Announced | Attested | None:
    """The attestation if the event has one, else the announced event, else None."""
    event = await session.get(EventRow, event_id)
    if event is None:
        return None
    if event.state == EventState.ATTESTED:
        row = await session.get(AttestationRow, event_id)
        assert row is not None  # attested events have their row (same transaction)
        return _attested(row, event.maturity)
    return _announced(event)


async def get_attested(session: AsyncSession, event_id: str) -> Attested | None:
    row = await session.get(AttestationRow, event_id)
    if row is None:
        return None
    event = await session.get(EventRow, event_id)
    assert event is not None  # the foreign key
    return _attested(row, event.maturity)


async def lock_event(session: AsyncSession, event_id: str) -> EventRow | None:
    """The event row, locked until the transaction ends (PostgreSQL ``FOR UPDATE``).

    On SQLite the whole database is locked from ``BEGIN IMMEDIATE`` on, which
    serialises attesters the same way.
    """
    query = select(EventRow).where(col(EventRow.event_id) == event_id).with_for_update()
    return (await session.exec(query)).first()


async def insert_announcement(
    session: AsyncSession,
    announcement: OracleAnnouncement,
    maturity: dt.datetime,
    now: dt.datetime,
) -> Announced:
    """The event and each nonce's use, in the caller's transaction."""
    event = announcement.oracle_event
    descriptor = event.event_descriptor
    row = EventRow(
        event_id=event.event_id,
        kind=kind_of(descriptor).value,
        maturity=maturity,
        descriptor=json.dumps(descriptor_json(descriptor)),
        oracle_public_key=announcement.oracle_public_key.hex(),
        announcement_tlv=announcement.serialize().hex(),
        state=int(EventState.ANNOUNCED),
        announced_at=now,
    )
    # The event row first (create() flushes it): the nonces' foreign key needs it.
    await create(session, row, "announced", maturity=maturity.isoformat())
    for idx, nonce in enumerate(event.oracle_nonces):
        session.add(NonceRow(event_id=event.event_id, idx=idx, public_nonce=nonce.hex()))
    await session.flush()
    return Announced(
        row.event_id, EventKind(row.kind), maturity, EventState.ANNOUNCED, announcement, now
    )


async def insert_attestation(
    session: AsyncSession,
    event: EventRow,
    outcome: str,
    attestation: OracleAttestation,
    now: dt.datetime,
    price: Decimal | None = None,
    price_sources: list[dict[str, str]] | None = None,
) -> Attested:
    """Store the attestation and move the event to ATTESTED, in the caller's transaction.

    The primary key on ``attestations.event_id`` and the state machine's
    versioned update (ANNOUNCED -> ATTESTED, logged) both stop a second
    attestation of the same event; either raises (``IntegrityError``,
    ``InvalidTransition``, ``ConcurrentModification``) and the caller's
    transaction rolls back with nothing written.
    """
    row = AttestationRow(
        event_id=event.event_id,
        outcome=outcome,
        outcomes=json.dumps(list(attestation.outcomes)),
        signatures=json.dumps([s.hex() for s in attestation.signatures]),
        attestation_tlv=attestation.serialize().hex(),
        price=str(price) if price is not None else None,
        price_sources=json.dumps(price_sources) if price_sources is not None else None,
        attested_at=now,
    )
    session.add(row)
    await session.flush()
    await transition(session, event, EventState.ATTESTED, "attested", outcome=outcome)
    return _attested(row, event.maturity)
