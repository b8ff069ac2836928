"""The outbox relay: publishes committed outbox rows in ``seq`` order, then marks them sent.

Each round runs in one database transaction: fetch a batch of unpublished
rows (on PostgreSQL under the outbox's advisory lock, so one relay per
service is active), publish them all with publisher confirms, mark them
published, commit. A crash or broker failure anywhere before the commit
leaves the rows unpublished and they go out again: at least once, with the
duplicates absorbed by the consumers' inbox.

It wakes as soon as a transaction that added events commits (the
``Database`` outbox listener), and polls every ``poll_interval_s`` as a
fallback (other processes writing the same schema, missed wake-ups).
Failures back off exponentially up to ``max_backoff_s`` and never stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from tentenone.bus.bus import Bus
from tentenone.errors import InvalidInput, TentenoneError
from tentenone.metrics import OUTBOX_LAG, OUTBOX_PENDING
from tentenone.store import (
    Database,
    add_event,
    add_events,
    fetch_unpublished,
    mark_published,
    pending_stats,
)
from tentenone.store.outbox import OutboxEvent
from tentenone.wire.base import REGISTRY, Event

__all__ = ["OutboxRelay", "enqueue", "enqueue_many"]

_log = logging.getLogger(__name__)


async def enqueue(
    session: AsyncSession,
    event: Event,
    *,
    event_id: str | None = None,
    headers: Mapping[str, Any] | None = None,
) -> str:
    """Write ``event`` to the outbox of the session's service, in the caller's transaction.

    It is published once the transaction commits; returns the event id.
    """
    if not isinstance(event, Event):
        raise InvalidInput(f"enqueue takes an Event, got {type(event).__name__}")
    REGISTRY.event_class(getattr(event, "event_type", None))  # type: ignore[arg-type]
    row = await add_event(
        session,
        event_type=event.event_type,
        payload=event,
        event_id=event_id,
        headers=headers,
        source=event.source,
    )
    return row.id


async def enqueue_many(session: AsyncSession, events: Sequence[Event]) -> list[str]:
    """Like ``enqueue`` for several events of this session's service, in one statement."""
    for event in events:
        if not isinstance(event, Event):
            raise InvalidInput(f"enqueue_many takes Events, got {type(event).__name__}")
        REGISTRY.event_class(getattr(event, "event_type", None))  # type: ignore[arg-type]
    sources = {e.source for e in events}
    if len(sources) > 1:
        raise InvalidInput(f"enqueue_many takes events of one source, got {sorted(sources)}")
    return await add_events(
        session,
        [{"event_type": e.event_type, "payload": e} for e in events],
        source=sources.pop() if sources else None,
    )


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        bus: Bus,
        *,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        max_backoff_s: float = 10.0,
        stats_interval_s: float = 5.0,
    ) -> None:
        self._db = db
        self._bus = bus
        self._batch = batch_size
        self._poll = poll_interval_s
        self._max_backoff = max_backoff_s
        self._stats_interval = stats_interval_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Any = None
        self._last_stats = 0.0
        self.published = 0

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._unsubscribe = self._db.add_outbox_listener(self.wake)
            self._task = asyncio.create_task(self._run(), name=f"outbox relay {self._db.service}")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def flush(self, timeout_s: float) -> bool:
        """Publish everything committed so far; False if that did not finish in time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                    if await self.relay_once() == 0 and await self._pending() == 0:
                        return True
            except TimeoutError:
                break
            except TentenoneError as exc:
                _log.warning("outbox flush: %r", exc)
                await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        return False

    async def relay_once(self) -> int:
        """One round: publish up to a batch of committed events; how many went out.

        When some publishes fail, the confirmed ones are still marked, so a
        broker failure mid-batch re-sends only the rest.
        """
        started = time.perf_counter()
        failure: BaseException | None = None
        async with self._db.transaction() as session:
            rows = await fetch_unpublished(session, self._batch)
            if not rows:
                return 0
            # All in flight at once (the channel keeps their order); the broker's
            # confirms come back together.
            results = await asyncio.gather(
                *(self._publish(row) for row in rows), return_exceptions=True
            )
            confirmed = [row.id for row, r in zip(rows, results, strict=True) if r is None]
            failure = next((r for r in results if isinstance(r, BaseException)), None)
            if confirmed:
                await mark_published(session, confirmed)
        self.published += len(confirmed)
        _log.debug(
            "relayed %d of %d events in %.3f s",
            len(confirmed),
            len(rows),
            time.perf_counter() - started,
        )
        if failure is not None:
            raise failure
        return len(confirmed)

    async def _publish(self, row: OutboxEvent) -> None:
        # Rows were validated by add_event when they were written.
        await self._bus.publish_checked(
            row.source,
            row.event_type,
            row.payload.encode(),
            event_id=row.id,
            occurred_at=row.occurred_at,
            correlation_id=row.correlation_id,
            headers=row.headers,
        )

    async def _pending(self) -> int:
        async with self._db.transaction() as session:
            count, lag = await pending_stats(session)
        OUTBOX_PENDING.labels(self._db.service).set(count)
        OUTBOX_LAG.labels(self._db.service).set(lag)
        self._last_stats = time.monotonic()
        return count

    async def _run(self) -> None:
        backoff = 0.0
        while True:
            # Cleared before the round, so a commit during the round wakes the next one.
            self._wake.clear()
            try:
                sent = await self.relay_once()
                if time.monotonic() - self._last_stats >= self._stats_interval:
                    await self._pending()
                backoff = 0.0
            except Exception as exc:
                backoff = min(self._max_backoff, max(0.2, backoff * 2))
                _log.warning("outbox relay round failed (%r); retrying in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)
                continue
            if sent == self._batch:
                continue  # more are waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)
