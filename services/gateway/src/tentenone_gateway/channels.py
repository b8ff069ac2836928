"""WebSocket channels: their names, and the recent history every replica shares.

Public channels: ``book:<market>``, ``trades:<market>``, ``price``. Private
ones, after ``auth``: ``orders``, ``positions``, ``protocol`` (each the
authenticated key's own; internally ``orders:<key>``...).

Every update of a channel has a sequence number. Where the source numbers
its updates without gaps (the order book's book deltas, the DLC service's
state numbers and protocol message numbers) that number is used as is;
otherwise the gateway numbers them (``price``, ``trades``, ``orders``).

``ChannelLog`` appends an update to the channel's history and announces it
to every replica (``listen``); ``since`` reads what a resuming client missed.
In Redis the history is a sorted set per channel (score = sequence number):
updates with a source number may arrive out of order and are still read in
order, a duplicate (same number, same event id) is dropped, and the set is
cut to its newest ``history`` entries. The announcement is a Redis PUBLISH
in the same script, so no replica hears of an update the history lacks.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from tentenone.errors import InvalidInput, Unavailable

__all__ = [
    "PRIVATE_KINDS",
    "Channel",
    "ChannelKind",
    "ChannelLog",
    "Entry",
    "Listener",
    "MemoryChannelLog",
    "RedisChannelLog",
    "Resync",
    "parse_channel",
]

_log = logging.getLogger(__name__)
_MARKET = re.compile(r"^[a-z0-9_-]{1,64}$")
_OWNER = re.compile(r"^[0-9a-f]{64}$")


class ChannelKind(StrEnum):
    BOOK = "book"
    TRADES = "trades"
    PRICE = "price"
    ORDERS = "orders"
    POSITIONS = "positions"
    PROTOCOL = "protocol"


PRIVATE_KINDS = frozenset({ChannelKind.ORDERS, ChannelKind.POSITIONS, ChannelKind.PROTOCOL})
_MARKET_KINDS = frozenset({ChannelKind.BOOK, ChannelKind.TRADES})


@dataclass(frozen=True, slots=True)
class Channel:
    kind: ChannelKind
    #: the market of book/trades, the owner's key of private channels
    arg: str | None = None

    @property
    def name(self) -> str:
        """What the client calls it."""
        if self.kind in _MARKET_KINDS:
            return f"{self.kind.value}:{self.arg}"
        return self.kind.value

    @property
    def key(self) -> str:
        """What the gateway calls it (private channels carry their owner)."""
        return self.kind.value if self.arg is None else f"{self.kind.value}:{self.arg}"

    @property
    def private(self) -> bool:
        return self.kind in PRIVATE_KINDS

    @classmethod
    def from_key(cls, key: str) -> Channel:
        kind, _, arg = key.partition(":")
        return cls(ChannelKind(kind), arg or None)


class InvalidChannel(InvalidInput):
    code = "invalid_channel"


def parse_channel(name: object, owner: str | None) -> Channel:
    """The channel a client named; private ones become ``owner``'s."""
    if not isinstance(name, str) or len(name) > 80:
        raise InvalidChannel("a channel is a string of at most 80 characters")
    kind_text, sep, arg = name.partition(":")
    try:
        kind = ChannelKind(kind_text)
    except ValueError:
        raise InvalidChannel(
            f"unknown channel {name!r}: book:<market>, trades:<market>, price, "
            "orders, positions or protocol"
        ) from None
    if kind in _MARKET_KINDS:
        if not sep or not _MARKET.fullmatch(arg):
            raise InvalidChannel(f"{kind.value} needs a market: {kind.value}:<market>")
        return Channel(kind, arg)
    if sep:
        raise InvalidChannel(f"{kind.value} takes no argument")
    if kind in PRIVATE_KINDS:
        if owner is None or not _OWNER.fullmatch(owner):
            raise InvalidChannel(f"{kind.value} is private: authenticate first")
        return Channel(kind, owner)
    return Channel(kind)


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    #: the update's data, JSON text (serialized once, sent as is)
    data: str


#: called with (channel key, entry) for every update, on every replica
type Listener = Callable[[str, Entry], None]
#: called when announcements may have been missed (the fan-out link came back)
type Resync = Callable[[], None]


class ChannelLog(Protocol):
    async def append(
        self, key: str, data: str, *, event_id: str, seq: int | None = None, history: int
    ) -> int | None:
        """Keep and announce an update; its sequence number (None: a duplicate, dropped)."""
        ...

    async def announce(self, key: str, seq: int, data: str) -> None:
        """Announce an update without keeping it (its source keeps it: protocol messages)."""
        ...

    async def since(self, key: str, after: int, limit: int) -> list[Entry] | None:
        """Up to ``limit`` updates after ``after``, in order; None if some are no longer kept."""
        ...

    async def latest(self, key: str) -> Entry | None: ...

    async def tail(self, key: str, count: int) -> list[Entry]:
        """The newest ``count`` updates kept, oldest first."""
        ...

    async def start(self, listener: Listener, resync: Resync | None = None) -> None: ...

    async def stop(self) -> None: ...

    def check(self) -> None:
        """Raise ``Unavailable`` while announcements cannot be heard (for /readyz)."""
        ...


def _gapless(entries: list[Entry], after: int) -> list[Entry] | None:
    if not entries or entries[0].seq != after + 1:
        return None
    for prev, nxt in itertools.pairwise(entries):
        if nxt.seq != prev.seq + 1:
            return entries[: entries.index(nxt)]
    return entries


# KEYS: history, counter, seen-marker; ARGV: data, seq or '', history, ttl, fanout, key
_APPEND = """
local seq
if ARGV[2] == '' then
  if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[4]) then return -1 end
  seq = redis.call('INCR', KEYS[2])
else
  seq = tonumber(ARGV[2])
  if redis.call('ZCOUNT', KEYS[1], seq, seq) > 0 then return -1 end
  -- Older than everything a full history keeps: it would be cut at once.
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if oldest[2] and seq < tonumber(oldest[2])
     and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
    return -1
  end
end
redis.call('ZADD', KEYS[1], seq, seq .. ' ' .. ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[3]) + 1))
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6] .. '\\n' .. seq .. '\\n' .. ARGV[1])
return seq
"""


def _entry(member: object) -> Entry:
    assert isinstance(member, bytes)  # the client does not decode responses
    seq, _, data = member.partition(b" ")
    return Entry(int(seq), data.decode())


class RedisChannelLog:
    """History in Redis sorted sets, announcements over Redis pub/sub."""

    def __init__(self, redis: Redis, prefix: str, ttl_s: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_s
        self._fanout = f"{prefix}fanout"
        self._append = redis.register_script(_APPEND)
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    def _keys(self, key: str, event_id: str) -> list[str]:
        p = self._prefix
        return [f"{p}log:{key}", f"{p}seq:{key}", f"{p}seen:{event_id}"]

    async def append(
        self, key: str, data: str, *, event_id: str, seq: int | None = None, history: int
    ) -> int | None:
        got = await self._append(
            keys=self._keys(key, event_id),
            args=[data, "" if seq is None else seq, history, self._ttl, self._fanout, key],
        )
        return None if int(got) < 0 else int(got)

    async def announce(self, key: str, seq: int, data: str) -> None:
        await self._redis.publish(self._fanout, f"{key}\n{seq}\n{data}")

    async def since(self, key: str, after: int, limit: int) -> list[Entry] | None:
        log = f"{self._prefix}log:{key}"
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrangebyscore(log, f"({after}", "+inf", start=0, num=limit)
            pipe.zrange(log, -1, -1)
            found, newest = await pipe.execute()
        entries = [_entry(m) for m in found]
        if entries:
            return _gapless(entries, after)
        return [] if newest and _entry(newest[0]).seq == after else None

    async def latest(self, key: str) -> Entry | None:
        newest = await self._redis.zrange(f"{self._prefix}log:{key}", -1, -1)
        return _entry(newest[0]) if newest else None

    async def tail(self, key: str, count: int) -> list[Entry]:
        found = await self._redis.zrange(f"{self._prefix}log:{key}", -count, -1)
        return [_entry(m) for m in found]

    async def start(self, listener: Listener, resync: Resync | None = None) -> None:
        self._task = asyncio.create_task(self._listen(listener, resync), name="gateway fanout")
        await asyncio.wait_for(self._subscribed.wait(), 10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def check(self) -> None:
        if not self._subscribed.is_set():
            raise Unavailable("the fan-out subscription to Redis is down; reconnecting")

    async def _listen(self, listener: Listener, resync: Resync | None) -> None:
        backoff = 0.2
        first = True
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._fanout)
                self._subscribed.set()
                backoff = 0.2
                if not first and resync is not None:
                    # Whatever was announced while we were away went unheard.
                    resync()
                first = False
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._dispatch(listener, message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._subscribed.clear()
                _log.warning("fanout connection lost (%s); resubscribing in %.1f s", exc, backoff)
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(backoff)
            backoff = min(2.0, backoff * 2)

    @staticmethod
    def _dispatch(listener: Listener, raw: bytes) -> None:
        try:
            key, seq, data = raw.decode().split("\n", 2)
            listener(key, Entry(int(seq), data))
        except Exception:
            _log.exception("dropping a malformed or failing fanout message")


class MemoryChannelLog:
    """For the embedded demo (one process): bounded deques, listeners called directly."""

    def __init__(self, max_seen: int = 100_000) -> None:
        self._logs: dict[str, deque[Entry]] = {}
        self._counters: dict[str, int] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._max_seen = max_seen
        self._listener: Listener | None = None

    async def append(
        self, key: str, data: str, *, event_id: str, seq: int | None = None, history: int
    ) -> int | None:
        log = self._logs.setdefault(key, deque(maxlen=history))
        if seq is None:
            if event_id in self._seen:
                return None
            self._seen[event_id] = None
            if len(self._seen) > self._max_seen:
                self._seen.popitem(last=False)
            seq = self._counters[key] = self._counters.get(key, 0) + 1
            log.append(Entry(seq, data))
        else:
            if any(e.seq == seq for e in log):
                return None
            if len(log) == log.maxlen and seq < log[0].seq:
                return None
            log.append(Entry(seq, data))
            if len(log) > 1 and log[-2].seq > seq:
                ordered = sorted(log, key=lambda e: e.seq)
                log.clear()
                log.extend(ordered)
        await self.announce(key, seq, data)
        return seq

    async def announce(self, key: str, seq: int, data: str) -> None:
        if self._listener is not None:
            self._listener(key, Entry(seq, data))

    async def since(self, key: str, after: int, limit: int) -> list[Entry] | None:
        log = self._logs.get(key, ())
        entries = [e for e in log if e.seq > after][:limit]
        if entries:
            return _gapless(entries, after)
        return [] if log and log[-1].seq == after else None

    async def latest(self, key: str) -> Entry | None:
        log = self._logs.get(key)
        return log[-1] if log else None

    async def tail(self, key: str, count: int) -> list[Entry]:
        return list(self._logs.get(key, ()))[-count:]

    async def start(self, listener: Listener, resync: Resync | None = None) -> None:
        self._listener = listener

    async def stop(self) -> None:
        self._listener = None

    def check(self) -> None:
        return None
