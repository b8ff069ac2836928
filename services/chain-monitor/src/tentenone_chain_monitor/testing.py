"""Helpers for tests and benchmarks of the chain monitor (no pytest import).

- ``EventLog``: a client on the bus that keeps every chain-monitor event it
  receives, redeliveries included, so a test can check that each fact was
  published under one event id only;
- ``start_client``: that client, on RabbitMQ or an in-process broker;
- ``monitor_env``: the environment a ``tentenone-chain-monitor`` process needs;
- ``READY``: the log line a ready process prints (with its URL).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tentenone.bus import Bus
from tentenone.bus.errors import BusUnavailable
from tentenone.bus.events import ReceivedEvent
from tentenone.bus.memory import MemoryBroker
from tentenone.wire.base import Event
from tentenone.wire.chain import ChainReorg, OutpointSpent, TxConfirmed, TxsConfirmed

__all__ = ["READY", "EventLog", "monitor_env", "start_client"]

READY = r'"msg": "service chain-monitor ready".*?"url": "([^"]+)"'


@dataclass
class EventLog:
    """Every event received, in arrival order: (event id, payload)."""

    received: list[tuple[str, Event]] = field(default_factory=list)

    async def on_event(self, event: ReceivedEvent[Any]) -> None:
        payload = event.payload
        if isinstance(payload, TxsConfirmed):
            # One per confirmation, under ids that a redelivery of the batch repeats.
            self.received.extend(
                (f"{event.event_id}/{n}", item) for n, item in enumerate(payload.confirmations)
            )
        else:
            self.received.append((event.event_id, payload))

    def unique(self) -> dict[str, Event]:
        """One payload per event id (a redelivery carries the same id and body)."""
        return dict(self.received)

    def of[E: Event](self, kind: type[E], watch_id: str | None = None) -> list[E]:
        """Distinct events of ``kind`` (of ``watch_id``), in first-arrival order."""
        out = []
        for event in self.unique().values():
            if isinstance(event, kind) and (
                watch_id is None or getattr(event, "watch_id", None) == watch_id
            ):
                out.append(event)
        return out

    def confirmations(self, watch_id: str | None = None) -> list[tuple[str, int, str]]:
        """(txid, depth, block hash) of every distinct ``chain.tx_confirmed``."""
        return [(e.txid, e.depth, e.block_hash) for e in self.of(TxConfirmed, watch_id)]

    def doubled(self) -> list[tuple[Any, ...]]:
        """Facts published under more than one event id: there must be none.

        A fact is (watch, tx, depth, block) for a confirmation, (watch,
        spending tx, block or mempool) for a spend, (old tip, new tip, part)
        for a reorganisation. (A transaction taken away by a reorganisation
        and mined again in the very same block is reported again; tests here
        never do that.)
        """
        facts: Counter[tuple[Any, ...]] = Counter()
        for event in self.unique().values():
            if isinstance(event, ChainReorg):
                facts[("reorg", event.old_tip.hash, event.new_tip.hash, event.part)] += 1
            elif isinstance(event, TxConfirmed):
                facts[("confirmed", event.watch_id, event.txid, event.depth, event.block_hash)] += 1
            elif isinstance(event, OutpointSpent):
                where = event.block_hash or "mempool"
                facts[("spent", event.watch_id, event.spending_txid, where)] += 1
        return [fact for fact, n in facts.items() if n > 1]


async def start_client(
    amqp_url: str | None,
    *,
    name: str = "tt-chain-client",
    broker: MemoryBroker | None = None,
    prefix: str = "",
    tries: int = 3,
) -> tuple[Bus, EventLog]:
    """A bus client subscribed to every chain-monitor event type."""
    bus = Bus.for_url(name, amqp_url, broker=broker, prefix=prefix)
    await _retry(bus.start, tries)
    log = EventLog()
    for kind in (TxConfirmed, TxsConfirmed, OutpointSpent, ChainReorg):
        await bus.subscribe(kind, log.on_event, name=f"seen_{kind.event_type.replace('.', '_')}")
    return bus, log


async def _retry(start: Callable[[], Awaitable[object]], tries: int) -> None:
    """The shared broker can be slow to accept a connection under load: bounded tries."""
    for attempt in range(tries):
        try:
            await start()
            return
        except BusUnavailable:
            if attempt == tries - 1:
                raise


def monitor_env(
    *, database_url: str, amqp_url: str | None, electrum: list[str], **extra: str
) -> dict[str, str]:
    """Environment of a ``tentenone-chain-monitor`` process (``extra``: more settings)."""
    env = {
        "TENTENONE_CHAIN_MONITOR_DATABASE_URL": database_url,
        "TENTENONE_CHAIN_MONITOR_ELECTRUM_SERVERS": ",".join(electrum),
        "TENTENONE_HTTP_PORT": "0",
        "TENTENONE_LOG_LEVEL": "INFO",
    }
    if amqp_url:
        env["TENTENONE_AMQP_URL"] = amqp_url
    for key, value in extra.items():
        env[f"TENTENONE_CHAIN_MONITOR_{key.upper()}"] = value
    return env
