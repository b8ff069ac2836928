"""The oracle's clockwork: announce ahead, attest what has matured, report the index price.

One loop per oracle. Each tick announces the next expiries that are not
announced yet and attests every matured, pending price event; a failure in
one step is logged and retried on the next tick, never fatal. The loop
sleeps until the next tick or the next maturity, whichever comes first, so
attestations follow maturity closely whatever the tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from tentenone.errors import TentenoneError, Unavailable
from tentenone.logging import get_logger
from tentenone_oracle import metrics, repository
from tentenone_oracle.oracle import Oracle

__all__ = ["Scheduler"]

_log = get_logger(__name__)
_PROGRESS_EVERY_S = 30.0


class Scheduler:
    def __init__(
        self,
        oracle: Oracle,
        tick_s: float,
        on_index_price: Callable[[], Awaitable[None]] | None = None,
        index_price_every_s: float = 5.0,
    ) -> None:
        self.oracle = oracle
        self.tick_s = tick_s
        self._on_index_price = on_index_price
        self._index_every = index_price_every_s
        self._stop = asyncio.Event()
        self.ticks = 0
        #: ``time.monotonic()`` of the last finished tick (readiness: is the clockwork turning)
        self.last_tick = time.monotonic()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Tick until ``stop()``; every step bounded, every failure retried next tick."""
        last_progress = last_index = 0.0
        while not self._stop.is_set():
            await self.tick()
            now = time.monotonic()
            if self._on_index_price is not None and now - last_index >= self._index_every:
                last_index = now
                await self._guarded("index price", self._on_index_price())
            if now - last_progress >= _PROGRESS_EVERY_S:
                last_progress = now
                _log.info("oracle scheduler running", extra={"ticks": self.ticks})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), await self._sleep_s())

    async def tick(self) -> None:
        self.ticks += 1
        await self._guarded("announce", self.oracle.announce_upcoming())
        await self._guarded("attest", self.oracle.attest_due())
        await self._guarded("pending gauge", self._count_pending())
        metrics.TICKS.labels(self.oracle.config.name).inc()
        self.last_tick = time.monotonic()

    def check_alive(self) -> None:
        """Raise ``Unavailable`` if no tick finished for a while (a stuck step)."""
        quiet = time.monotonic() - self.last_tick
        if quiet > max(30.0, 5 * self.tick_s):
            raise Unavailable(f"the oracle's scheduler has not ticked for {quiet:.0f} s")

    async def _sleep_s(self) -> float:
        """Until the next tick, or just past the next maturity if sooner."""
        oracle = self.oracle
        next_maturity = oracle.schedule.next_after(oracle.clock())
        due_in = (next_maturity + oracle.config.attest_after - oracle.clock()).total_seconds()
        return max(0.05, min(self.tick_s, due_in + 0.05))

    async def _count_pending(self) -> None:
        cutoff = self.oracle.clock() - self.oracle.config.attest_after
        async with self.oracle.db.session() as session:
            pending = await repository.matured_pending(session, cutoff, limit=10_000)
        metrics.PENDING.labels(self.oracle.config.name).set(len(pending))

    async def _guarded(self, what: str, step: Awaitable[object]) -> None:
        try:
            await step
        except TentenoneError as exc:
            _log.warning("oracle %s failed: %s", what, exc.message, extra={"code": exc.code})
        except Exception:
            _log.exception("oracle %s failed", what)
