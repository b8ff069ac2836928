"""The oracle: announce each expiry's price event ahead, attest it once at maturity.

Announcing (idempotent): the event row, one row per nonce (unique) and the
``oracle.announced`` outbox event commit in one transaction, so a nonce's
use is on disk before the announcement can be published.

Attesting (ADR 0073), one database transaction:

1. lock the event row (PostgreSQL ``FOR UPDATE``; SQLite ``BEGIN IMMEDIATE``);
2. already attested: return the stored attestation, sign nothing;
3. sign the outcome with the announced nonces, in memory;
4. insert the attestation (primary key: the event id), move the event to
   ATTESTED (versioned update), add ``oracle.attested`` to the outbox; commit.

Signatures leave the process only as committed rows (REST, RPC and the
outbox all read the table), so signatures of an outcome that lost a race,
or of a process killed before its commit, are never seen by anyone. The
price is fetched before the transaction: a slow exchange never holds a lock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from tentenone.bus.relay import enqueue
from tentenone.crashpoint import crashpoint, declare
from tentenone.dlc.oracle_messages import (
    DigitDecompositionEventDescriptor,
    EnumEventDescriptor,
    EventDescriptor,
)
from tentenone.errors import (
    ConflictError,
    InvalidInput,
    InvalidTransition,
    NotFound,
    TentenoneError,
)
from tentenone.logging import get_logger
from tentenone.market.schedule import ExpirySchedule
from tentenone.store import ConcurrentModification, Database
from tentenone_oracle import metrics, repository
from tentenone_oracle.aggregation import IndexPrice, IndexPriceFeed
from tentenone_oracle.clock import Clock
from tentenone_oracle.events import enum_descriptor, numeric_descriptor, numeric_outcome
from tentenone_oracle.models import EventKind, EventState
from tentenone_oracle.payloads import announced_event, attested_event
from tentenone_oracle.repository import Announced, Attested
from tentenone_oracle.signer import OracleSigner, outcomes_for

__all__ = [
    "AFTER_SIGN",
    "EventConflict",
    "EventNotFound",
    "NotAttested",
    "NotMatured",
    "Oracle",
    "OracleConfig",
]

_log = get_logger(__name__)

#: Crash tests kill the process here: signed in memory, nothing committed yet.
AFTER_SIGN = declare(
    "oracle.service.attest.after_sign",
    "attestation signed in memory, before the transaction storing it commits",
).name
_MAX_EVENT_ID = 100
_U32_MAX = 2**32 - 1


class EventNotFound(NotFound):
    code = "oracle_unknown_event"


class NotMatured(ConflictError):
    """An attestation was asked for before the event's maturity."""

    code = "oracle_not_matured"


class NotAttested(ConflictError):
    """The event has matured but is not attested yet (e.g. no index price so far)."""

    code = "oracle_not_attested"


class EventConflict(ConflictError):
    """An event id already announced with another descriptor or maturity."""

    code = "oracle_event_conflict"


@dataclass(frozen=True, slots=True)
class OracleConfig:
    name: str = "oracle"
    announce_ahead: int = 4
    nb_digits: int = 20
    unit: str = "USD"
    attest_after: dt.timedelta = dt.timedelta(0)


class Oracle:
    """One oracle key's events, announcements and attestations."""

    def __init__(
        self,
        db: Database,
        signer: OracleSigner,
        prices: IndexPriceFeed,
        schedule: ExpirySchedule,
        clock: Clock,
        config: OracleConfig | None = None,
    ) -> None:
        self.db = db
        self.signer = signer
        self.prices = prices
        self.schedule = schedule
        self.clock = clock
        self.config = config or OracleConfig()
        self._descriptor = numeric_descriptor(self.config.nb_digits, self.config.unit)

    # -- announcing ----------------------------------------------------------

    async def announce_upcoming(self) -> list[Announced]:
        """Announce the next ``announce_ahead`` expiries that are not announced yet."""
        expiries = self.schedule.upcoming(self.clock(), self.config.announce_ahead)
        return [await self.announce_expiry(expiry) for expiry in expiries]

    async def announce_expiry(self, expiry: dt.datetime) -> Announced:
        event_id = self.schedule.event_id(expiry)
        return await self._announce(event_id, expiry, self._descriptor)

    async def announce_enum(
        self, event_id: str, maturity: dt.datetime, outcomes: Sequence[str]
    ) -> Announced:
        """Announce an enumerated event (tests, future products)."""
        _check_event_id(event_id)
        if event_id.startswith(self.schedule.symbol):
            raise InvalidInput(
                f"event ids starting with {self.schedule.symbol!r} are the price events'"
            )
        return await self._announce(event_id, maturity, enum_descriptor(list(outcomes)))

    async def _announce(
        self, event_id: str, maturity: dt.datetime, descriptor: EventDescriptor
    ) -> Announced:
        existing = await self.get_announced(event_id, missing_ok=True)
        if existing is not None:
            return _same_or_conflict(existing, maturity, descriptor)
        announcement = self.signer.announce(event_id, _epoch(maturity), descriptor)
        try:
            async with self.db.transaction() as session:
                announced = await repository.insert_announcement(
                    session, announcement, maturity, self.clock()
                )
                await enqueue(
                    session, announced_event(self.config.name, self.signer.hashing.value, announced)
                )
        except IntegrityError:
            # Announced concurrently by another task or replica: same nonces, keep theirs.
            existing = await self.get_announced(event_id, missing_ok=True)
            if existing is None:
                raise
            return _same_or_conflict(existing, maturity, descriptor)
        metrics.ANNOUNCED.labels(self.config.name, _kind(descriptor)).inc()
        _log.info(
            "announced %s maturing %s",
            event_id,
            maturity.isoformat(),
            extra={"event_id": event_id, "maturity": maturity.isoformat()},
        )
        return announced

    # -- attesting -----------------------------------------------------------

    async def attest_due(self, limit: int = 100) -> list[Attested]:
        """Attest every matured, pending price event; one failing leaves the others going."""
        cutoff = self.clock() - self.config.attest_after
        async with self.db.transaction() as session:
            due = await repository.matured_pending(session, cutoff, limit)
        done = []
        for event_id in due:
            try:
                done.append(await self.attest_price_event(event_id))
            except TentenoneError as exc:  # no index price, mostly; the others keep going
                metrics.ATTEST_FAILURES.labels(self.config.name, exc.code).inc()
                _log.warning(
                    "attestation of %s postponed: %s",
                    event_id,
                    exc.message,
                    extra={"event_id": event_id, "why": exc.message},
                )
        return done

    async def attest_price_event(self, event_id: str) -> Attested:
        """Attest a numeric event with the index price at its maturity (once)."""
        announced = await self._attestable(event_id)
        if isinstance(announced, Attested):
            return announced
        descriptor = announced.announcement.oracle_event.event_descriptor
        if not isinstance(descriptor, DigitDecompositionEventDescriptor):
            raise InvalidInput(f"event {event_id} is enumerated: attest it with an outcome")
        index = await self.prices.price_at(announced.maturity)
        value = numeric_outcome(index.price, descriptor)
        return await self._attest(event_id, str(value), outcomes_for(descriptor, value), index)

    async def attest_enum(self, event_id: str, outcome: str) -> Attested:
        """Attest an enumerated event with ``outcome`` (once; a repeat returns the first)."""
        announced = await self._attestable(event_id)
        if isinstance(announced, Attested):
            return announced
        descriptor = announced.announcement.oracle_event.event_descriptor
        if not isinstance(descriptor, EnumEventDescriptor):
            raise InvalidInput(f"event {event_id} is numeric: it is attested from the price")
        return await self._attest(event_id, outcome, outcomes_for(descriptor, outcome), None)

    async def _attestable(self, event_id: str) -> Announced | Attested:
        """The stored attestation, or the announced event if it has matured; else an error."""
        _check_event_id(event_id)
        async with self.db.session() as session:
            found = await repository.get_announced_or_attested(session, event_id)
        if found is None:
            raise EventNotFound(f"no event {event_id}", event_id=event_id)
        if isinstance(found, Attested):
            return found
        announced = found
        now = self.clock()
        if now < announced.maturity + self.config.attest_after:
            raise NotMatured(
                f"event {event_id} matures at {announced.maturity.isoformat()}; "
                f"it is {now.isoformat()}",
                maturity=announced.maturity.isoformat(),
            )
        return announced

    async def _attest(
        self, event_id: str, outcome: str, outcomes: list[str], index: IndexPrice | None
    ) -> Attested:
        try:
            async with self.db.transaction() as session:
                event = await repository.lock_event(session, event_id)
                if event is None:
                    raise EventNotFound(f"no event {event_id}", event_id=event_id)
                if event.state == EventState.ATTESTED:
                    attested = await repository.get_attested(session, event_id)
                    assert attested is not None
                    return attested
                parsed = repository.announcement_of(event)
                attestation = self.signer.attest(parsed.oracle_event, outcomes)
                crashpoint(AFTER_SIGN)
                now = self.clock()
                stored = await repository.insert_attestation(
                    session, event, outcome, attestation, now, *_price_fields(index)
                )
                await enqueue(session, attested_event(self.config.name, stored))
        except (IntegrityError, InvalidTransition, ConcurrentModification):
            # Another attester committed first: theirs is the attestation.
            attested = await self.get_attested(event_id, missing_ok=True)
            if attested is None:
                raise
            return attested
        self._count_attested(stored)
        return stored

    def _count_attested(self, stored: Attested) -> None:
        kind = EventKind.NUMERIC if stored.price is not None else EventKind.ENUM
        metrics.ATTESTED.labels(self.config.name, kind.value).inc()
        delay = (stored.attested_at - stored.maturity).total_seconds()
        metrics.ATTESTATION_DELAY.labels(self.config.name).observe(max(0.0, delay))
        _log.info(
            "attested %s: %s (%.2f s after maturity)",
            stored.event_id,
            stored.outcome,
            delay,
            extra={"event_id": stored.event_id, "outcome": stored.outcome, "delay_s": delay},
        )

    # -- reading -------------------------------------------------------------

    async def get_announced(self, event_id: str, missing_ok: bool = False) -> Announced | None:
        _check_event_id(event_id)
        async with self.db.session() as session:
            found = await repository.get_announced(session, event_id)
        if found is None and not missing_ok:
            raise EventNotFound(f"no event {event_id}", event_id=event_id)
        return found

    async def get_attested(self, event_id: str, missing_ok: bool = False) -> Attested | None:
        _check_event_id(event_id)
        async with self.db.session() as session:
            found = await repository.get_attested(session, event_id)
        if found is None and not missing_ok:
            announced = await self.get_announced(event_id)  # unknown event: EventNotFound
            assert announced is not None
            self._raise_not_attested(announced)
        return found

    def _raise_not_attested(self, announced: Announced) -> None:
        maturity = announced.maturity.isoformat()
        if self.clock() < announced.maturity:
            raise NotMatured(
                f"event {announced.event_id} matures at {maturity}",
                event_id=announced.event_id,
                maturity=maturity,
            )
        raise NotAttested(
            f"event {announced.event_id} matured at {maturity} and is not attested yet",
            event_id=announced.event_id,
            maturity=maturity,
        )

    async def list_announced(
        self, limit: int = 100, after: dt.datetime | None = None
    ) -> list[Announced]:
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be 1..1000, got {limit!r:.20}")
        async with self.db.session() as session:
            return await repository.list_announced(session, limit=limit, after=after)


def _check_event_id(event_id: object) -> None:
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= _MAX_EVENT_ID:
        raise InvalidInput(f"event id must be 1-{_MAX_EVENT_ID} characters, got {event_id!r:.40}")
    if not event_id.isprintable() or event_id.strip() != event_id:
        raise InvalidInput(f"event id {event_id!r:.40} has unprintable or surrounding space")


def _epoch(maturity: dt.datetime) -> int:
    if maturity.tzinfo is None:
        raise InvalidInput("maturity must be timezone-aware (UTC)")
    epoch = int(maturity.timestamp())
    if not 0 <= epoch <= _U32_MAX or epoch != maturity.timestamp():
        raise InvalidInput(f"maturity {maturity.isoformat()} is not whole u32 Unix seconds")
    return epoch


def _kind(descriptor: EventDescriptor) -> str:
    return "enum" if isinstance(descriptor, EnumEventDescriptor) else "numeric"


def _same_or_conflict(
    existing: Announced, maturity: dt.datetime, descriptor: EventDescriptor
) -> Announced:
    event = existing.announcement.oracle_event
    if event.event_descriptor != descriptor or existing.maturity != maturity:
        raise EventConflict(
            f"event {existing.event_id} is already announced with another descriptor or maturity"
        )
    return existing


def _price_fields(index: IndexPrice | None) -> tuple[Any, Any]:
    if index is None:
        return None, None
    sources = [
        {"source": q.source, "price": str(q.price), "at": q.observed_at.isoformat()}
        for q in index.quotes
    ]
    return index.price, sources
