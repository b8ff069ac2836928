"""Sign-in challenges: a server nonce, bound to a key and an expiry, usable once.

The app proves it holds a key by signing, with BIP-340, the tagged hash
``hash_tentenone/auth(message)`` of this text (UTF-8, ``\\n`` line ends)::

    tentenone auth v1
    domain: <the gateway's auth_domain>
    key: <x-only public key, 64 hex>
    nonce: <32 random bytes, 64 hex>
    expires: <Unix seconds>

The tag separates these signatures from every other use of the node key
(transactions, DLC and Lightning messages): no signature made here can be
replayed as one of those, nor the other way round. The app should build the
text itself from the fields and check the domain before signing.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from tentenone.bitcoin.hashes import tagged_hash

__all__ = [
    "AUTH_TAG",
    "Challenge",
    "ChallengeStore",
    "MemoryChallengeStore",
    "RedisChallengeStore",
    "new_challenge",
]

AUTH_TAG = "tentenone/auth"
_VERSION_LINE = "tentenone auth v1"


@dataclass(frozen=True, slots=True)
class Challenge:
    domain: str
    public_key: str
    nonce: str
    expires_at: int

    @property
    def message(self) -> str:
        return (
            f"{_VERSION_LINE}\ndomain: {self.domain}\nkey: {self.public_key}\n"
            f"nonce: {self.nonce}\nexpires: {self.expires_at}"
        )

    @property
    def digest(self) -> bytes:
        """The 32 bytes BIP-340 signs."""
        return tagged_hash(AUTH_TAG, self.message.encode())

    def to_json(self) -> str:
        return json.dumps(
            {"d": self.domain, "k": self.public_key, "n": self.nonce, "e": self.expires_at}
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Challenge:
        data = json.loads(text)
        return cls(data["d"], data["k"], data["n"], int(data["e"]))


def new_challenge(domain: str, public_key: str, ttl_s: int) -> Challenge:
    return Challenge(domain, public_key, secrets.token_hex(32), int(time.time()) + ttl_s)


class ChallengeStore(Protocol):
    async def put(self, challenge: Challenge, ttl_s: int) -> None: ...

    async def take(self, nonce: str) -> Challenge | None:
        """The challenge, removed so that nobody can use it again (None: unknown or used)."""
        ...


class RedisChallengeStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}challenge:"

    async def put(self, challenge: Challenge, ttl_s: int) -> None:
        await self._redis.set(self._prefix + challenge.nonce, challenge.to_json(), ex=ttl_s)

    async def take(self, nonce: str) -> Challenge | None:
        # GETDEL is atomic: of two concurrent sign-ins with one nonce, one gets it.
        raw = await self._redis.getdel(self._prefix + nonce)
        return None if raw is None else Challenge.from_json(raw)


class MemoryChallengeStore:
    """For the embedded demo (one process): the same rules, in a dict."""

    def __init__(self, max_items: int = 100_000) -> None:
        self._items: dict[str, tuple[Challenge, float]] = {}
        self._max = max_items

    async def put(self, challenge: Challenge, ttl_s: int) -> None:
        now = time.monotonic()
        if len(self._items) >= self._max:
            self._items = {k: v for k, v in self._items.items() if v[1] > now}
            if len(self._items) >= self._max:
                self._items.pop(next(iter(self._items)))
        self._items[challenge.nonce] = (challenge, now + ttl_s)

    async def take(self, nonce: str) -> Challenge | None:
        found = self._items.pop(nonce, None)
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]
