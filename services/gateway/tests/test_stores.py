"""The stores behind the gateway, Redis and in-memory (the embedded demo), held to one contract."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from redis.asyncio import Redis

from tentenone.testing import wait_until
from tentenone_gateway.challenges import (
    MemoryChallengeStore,
    RedisChallengeStore,
    new_challenge,
)
from tentenone_gateway.channels import Entry, MemoryChannelLog, RedisChannelLog
from tentenone_gateway.ratelimit import Bucket, MemoryRateLimiter, RedisRateLimiter
from tentenone_gateway.sessions import MemorySessionStore, RedisSessionStore, Session

from .conftest import REDIS_URL


@dataclass
class Stores:
    challenges: Any
    sessions: Any
    limiter: Any
    log: Any


@pytest.fixture(params=["redis", "memory"])
async def stores(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[Stores]:
    if request.param == "memory":
        yield Stores(
            MemoryChallengeStore(), MemorySessionStore(), MemoryRateLimiter(), MemoryChannelLog()
        )
        return
    redis = Redis.from_url(REDIS_URL)
    yield Stores(
        RedisChallengeStore(redis, redis_prefix),
        RedisSessionStore(redis, redis_prefix),
        RedisRateLimiter(redis, redis_prefix),
        RedisChannelLog(redis, redis_prefix, 600),
    )
    await redis.aclose()


async def test_a_challenge_is_taken_once_even_by_racing_sign_ins(stores: Stores) -> None:
    challenge = new_challenge("d", "ab" * 32, 60)
    await stores.challenges.put(challenge, 60)
    taken = await asyncio.gather(*(stores.challenges.take(challenge.nonce) for _ in range(10)))
    assert [t for t in taken if t is not None] == [challenge]
    assert await stores.challenges.take("cd" * 32) is None


async def test_sessions_expire_cap_and_revoke(stores: Stores) -> None:
    now = int(time.time())
    key, other = "ab" * 32, "cd" * 32
    made = [Session(f"{i:064x}", key, now, now + 100 + i) for i in range(4)]
    for s in made:
        await stores.sessions.create(s, 3)
    await stores.sessions.create(Session("f" * 64, other, now, now + 100), 3)
    assert await stores.sessions.get(made[0].token_id) is None  # the oldest went
    assert await stores.sessions.get(made[3].token_id) == made[3]
    await stores.sessions.create(Session("e" * 64, key, now - 10, now - 1), 3)
    assert await stores.sessions.get("e" * 64) is None  # expired
    assert await stores.sessions.revoke(made[1].token_id) is True
    assert await stores.sessions.revoke(made[1].token_id) is False
    assert await stores.sessions.revoke_all(key) == 2
    assert await stores.sessions.get(made[2].token_id) is None
    assert await stores.sessions.get("f" * 64) is not None  # another key's stays


async def test_token_bucket_allows_the_burst_then_refills(stores: Stores) -> None:
    bucket = Bucket("t", burst=3, per_s=20.0)
    waits = [await stores.limiter.take(bucket, "who") for _ in range(4)]
    assert waits[:3] == [0, 0, 0]
    assert 0 < waits[3] <= 1 / 20 + 0.01
    assert await stores.limiter.take(bucket, "someone else") == 0
    await wait_until(lambda: _allowed(stores, bucket), 2, what="a token refilled")


async def _allowed(stores: Stores, bucket: Bucket) -> bool:
    return bool(await stores.limiter.take(bucket, "who") == 0)


async def test_channel_history_numbers_dedups_and_reports_gaps(stores: Stores) -> None:
    heard: list[tuple[str, Entry]] = []
    await stores.log.start(lambda key, entry: heard.append((key, entry)))
    try:
        log = stores.log
        # Numbered here: a redelivered event (same id) is dropped.
        assert await log.append("price", '{"p":1}', event_id="e1", history=3) == 1
        assert await log.append("price", '{"p":1}', event_id="e1", history=3) is None
        for i in (2, 3, 4):
            assert await log.append("price", f'{{"p":{i}}}', event_id=f"e{i}", history=3) == i
        assert await log.since("price", 1, 10) == [
            Entry(2, '{"p":2}'),
            Entry(3, '{"p":3}'),
            Entry(4, '{"p":4}'),
        ]
        assert await log.since("price", 4, 10) == []
        assert await log.since("price", 0, 10) is None  # 1 is no longer kept
        assert await log.since("price", 9, 10) is None  # ahead of us (a reset)
        assert await log.since("price", 2, 1) == [Entry(3, '{"p":3}')]
        # Numbered by the source: out of order is fine, a repeat is dropped.
        for seq in (1, 3, 2, 3):
            await log.append(
                "positions:k", f'{{"s":{seq}}}', event_id=f"p{seq}", seq=seq, history=5
            )
        assert [e.seq for e in await log.since("positions:k", 0, 10) or []] == [1, 2, 3]
        await log.append("positions:k", "{}", event_id="p5", seq=5, history=5)
        assert await log.since("positions:k", 3, 10) is None  # 4 is missing
        assert [e.seq for e in await log.since("positions:k", 1, 10) or []] == [2, 3]
        await log.announce("protocol:k", 7, '{"m":7}')
        await wait_until(lambda: len(heard) >= 9, 5, what="every update announced")
        assert [(k, e.seq) for k, e in heard if k == "price"] == [
            ("price", i) for i in (1, 2, 3, 4)
        ]
        assert ("protocol:k", Entry(7, '{"m":7}')) in heard
        assert (await log.latest("price")) == Entry(4, '{"p":4}')
        assert [e.seq for e in await log.tail("price", 2)] == [3, 4]
    finally:
        await stores.log.stop()
