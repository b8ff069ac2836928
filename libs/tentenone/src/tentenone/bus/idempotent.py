"""Idempotent consumers: an event's effect is applied once, whatever the redeliveries.

The handler runs inside a database transaction that first claims the event id
in the inbox (``tentenone.store.claim``). A duplicate finds the claim and is
acknowledged without effect; a failure rolls the claim back with the effect,
so the retry applies it. The batch form claims a whole batch with one
statement and applies it in one transaction (one commit instead of one per event); if it fails, the
subscription falls back to one transaction per event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from tentenone.bus.events import ReceivedEvent
from tentenone.bus.subscription import BatchHandler, Handler
from tentenone.logging import bind_correlation_id
from tentenone.metrics import MESSAGES
from tentenone.store import Database, claim, claim_many

__all__ = ["TransactionalHandler", "idempotent"]

type TransactionalHandler[P] = Callable[[AsyncSession, ReceivedEvent[P]], Awaitable[None]]


def idempotent[P](
    db: Database, consumer: str, handler: TransactionalHandler[P]
) -> tuple[Handler[P], BatchHandler[P]]:
    """The (single, batch) handlers that apply ``handler`` once per event id for ``consumer``."""

    async def apply(session: AsyncSession, event: ReceivedEvent[P]) -> None:
        if await claim(session, consumer, event.event_id):
            with bind_correlation_id(event.correlation_id, db.service):
                await handler(session, event)
        else:
            MESSAGES.labels(db.service, "consumed", "event", "duplicate").inc()

    async def single(event: ReceivedEvent[P]) -> None:
        async with db.transaction() as session:
            await apply(session, event)

    async def batch(events: Sequence[ReceivedEvent[P]]) -> None:
        async with db.transaction() as session:
            # One statement claims the whole batch; a repeat inside it is a duplicate too.
            fresh = await claim_many(session, consumer, [e.event_id for e in events])
            for event in events:
                if event.event_id in fresh:
                    fresh.discard(event.event_id)
                    with bind_correlation_id(event.correlation_id, db.service):
                        await handler(session, event)
                else:
                    MESSAGES.labels(db.service, "consumed", "event", "duplicate").inc()

    return single, batch
