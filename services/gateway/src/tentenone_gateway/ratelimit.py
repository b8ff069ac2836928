"""Token buckets: ``burst`` requests at once, refilled at ``per_s`` a second.

In Redis, one hash per bucket updated by a script with Redis's own clock, so
every gateway replica draws from the same bucket and their clocks do not
matter. A refused request takes no token; the answer says how long until
one is there (429 with ``Retry-After``).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from tentenone_gateway.errors import RateLimited

__all__ = ["Bucket", "MemoryRateLimiter", "RateLimiter", "RedisRateLimiter", "enforce"]


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    burst: int
    per_s: float


class RateLimiter(Protocol):
    async def take(self, bucket: Bucket, who: str, cost: int = 1) -> float:
        """0 if allowed (a token taken), else the seconds until ``cost`` tokens are there."""
        ...


async def enforce(limiter: RateLimiter, bucket: Bucket, who: str, what: str) -> None:
    """Raise ``RateLimited`` (429) when ``who`` has no token left in ``bucket``."""
    wait = await limiter.take(bucket, who)
    if wait > 0:
        retry = max(1, math.ceil(wait))
        raise RateLimited(
            f"too many requests from this {what}; retry in {retry} s",
            retry_after_s=retry,
            limit=bucket.name,
        )


# KEYS: the bucket; ARGV: burst, per_s, cost
_TAKE = """
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local v = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(v[1])
local ts = tonumber(v[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisRateLimiter:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._prefix = f"{prefix}rl:"
        self._take = redis.register_script(_TAKE)

    async def take(self, bucket: Bucket, who: str, cost: int = 1) -> float:
        raw = await self._take(
            keys=[f"{self._prefix}{bucket.name}:{who}"],
            args=[bucket.burst, repr(bucket.per_s), cost],
        )
        return float(raw.decode() if isinstance(raw, bytes) else raw)


class MemoryRateLimiter:
    """For the embedded demo (one process); forgets the least recently used buckets."""

    def __init__(self, max_buckets: int = 100_000) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max = max_buckets

    async def take(self, bucket: Bucket, who: str, cost: int = 1) -> float:
        key = f"{bucket.name}:{who}"
        now = time.monotonic()
        tokens, ts = self._buckets.pop(key, (float(bucket.burst), now))
        tokens = min(float(bucket.burst), tokens + (now - ts) * bucket.per_s)
        wait = 0.0
        if tokens >= cost:
            tokens -= cost
        else:
            wait = (cost - tokens) / bucket.per_s
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return wait
