"""The WebSocket hub of one replica: which connection listens to which channel.

The channel log calls ``dispatch`` for every update of every channel (on
every replica); the hub builds the update's text once and hands it to the
connections subscribed here. Handing over never waits: a connection whose
queue is full is cut (see ``Connection``), the others are not slowed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Protocol

from tentenone_gateway.channels import Channel, Entry

__all__ = ["Hub", "Subscriber", "control_text", "snapshot_text", "update_text"]


class Subscriber(Protocol):
    def on_update(self, key: str, entry: Entry, text: str) -> None: ...

    def resync(self) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


def update_text(channel: Channel, entry: Entry) -> str:
    # Channel names are checked ([a-z0-9:_-]); data is JSON already: no re-encoding.
    return f'{{"type":"update","channel":"{channel.name}","seq":{entry.seq},"data":{entry.data}}}'


def snapshot_text(channel: Channel, seq: int, data: str) -> str:
    return f'{{"type":"snapshot","channel":"{channel.name}","seq":{seq},"data":{data}}}'


def control_text(kind: str, **fields: object) -> str:
    return json.dumps({"type": kind, **fields}, separators=(",", ":"), default=str)


class Hub:
    def __init__(self) -> None:
        self._channels: dict[str, set[Subscriber]] = {}
        self.connections: set[Subscriber] = set()

    def subscribe(self, key: str, subscriber: Subscriber) -> None:
        self._channels.setdefault(key, set()).add(subscriber)

    def unsubscribe(self, key: str, subscriber: Subscriber) -> None:
        subs = self._channels.get(key)
        if subs is not None:
            subs.discard(subscriber)
            if not subs:
                del self._channels[key]

    def subscribers(self, key: str) -> int:
        return len(self._channels.get(key, ()))

    def dispatch(self, key: str, entry: Entry) -> None:
        subs = self._channels.get(key)
        if not subs:
            return
        text = update_text(Channel.from_key(key), entry)
        for subscriber in tuple(subs):
            subscriber.on_update(key, entry, text)

    def resync(self) -> None:
        """Every subscription catches up from its source (announcements may have been lost)."""
        for connection in tuple(self.connections):
            connection.resync()

    async def close_all(self, code: int, reason: str) -> None:
        await asyncio.gather(
            *(c.close(code, reason) for c in tuple(self.connections)), return_exceptions=True
        )
