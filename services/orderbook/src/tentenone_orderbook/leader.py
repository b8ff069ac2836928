"""One writer at a time: a PostgreSQL advisory lock to wait for, an epoch to fence with.

Kubernetes runs two replicas. Both start; one takes the session-level
advisory lock of the order book's schema and becomes the writer, the other
waits on it (a standby: it serves nothing until the lock is its own, which
happens when the writer's database session ends, e.g. its process dies).

The lock alone is not enough: a writer cut off from the database may not
know it lost the lock. So each new writer takes the next ``writer.epoch``,
and every batch it commits first updates the writer row *where the epoch is
still its own*; a stale writer's batch changes no row, is rolled back, and
that replica stops (``repository.FencedOut``). On SQLite (the embedded
default: one process per file) there is no lock to wait for; the epoch
still fences.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tentenone.store import Database, utcnow
from tentenone.store.engine import Backend
from tentenone_orderbook import repository

__all__ = ["Leadership"]

_log = logging.getLogger(__name__)
_LOG_EVERY_S = 30.0


class Leadership:
    def __init__(self, db: Database, holder: str, poll_s: float = 1.0) -> None:
        self._db = db
        self._holder = holder
        self._poll_s = poll_s
        self._conn: AsyncConnection | None = None
        self.epoch: int | None = None

    def _lock_key(self) -> int:
        name = f"tentenone.orderbook.writer:{self._db.schema or self._db.service}"
        return int.from_bytes(
            hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
        )

    async def acquire(self) -> int:
        """Wait until this replica may write; its epoch."""
        if self._db.backend is Backend.POSTGRESQL:
            await self._wait_for_lock()
        async with self._db.transaction() as session:
            self.epoch = await repository.claim_writer(session, self._holder, utcnow())
        _log.info("writer of the order book", extra={"epoch": self.epoch, "holder": self._holder})
        return self.epoch

    async def _wait_for_lock(self) -> None:
        self._conn = await self._db.engine.connect()
        key = self._lock_key()
        started = last_log = time.monotonic()
        while True:
            got = await self._conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
            # Commit the implicit transaction: the lock is the session's, not a transaction's.
            await self._conn.commit()
            if got:
                return
            now = time.monotonic()
            if now - last_log >= _LOG_EVERY_S:
                _log.info(
                    "standby: another replica writes the order book",
                    extra={"waiting_s": round(now - started)},
                )
                last_log = now
            await asyncio.sleep(self._poll_s)

    async def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()  # ends the session: the lock goes with it
