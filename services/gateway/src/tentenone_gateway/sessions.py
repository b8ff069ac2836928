"""Session tokens: opaque bearer tokens bound to one public key, expiring, revocable.

A token is 32 random bytes (``tt1_`` + URL-safe base64). The store keeps
only its SHA-256, so a copy of the store gives no usable token. Each key has
at most ``max_sessions_per_key`` live sessions (the oldest goes first) and
can revoke one or all of them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

__all__ = [
    "MemorySessionStore",
    "RedisSessionStore",
    "Session",
    "SessionStore",
    "new_token",
    "token_id",
]

_TOKEN_PREFIX = "tt1_"  # noqa: S105 - a format marker, not a secret


def new_token() -> str:
    return _TOKEN_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def token_id(token: str) -> str:
    """What the store keys a session by: the token's SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    token_id: str
    public_key: str
    created_at: int
    expires_at: int

    def to_json(self) -> str:
        return json.dumps({"k": self.public_key, "c": self.created_at, "e": self.expires_at})

    @classmethod
    def from_json(cls, tid: str, text: str | bytes) -> Session:
        data = json.loads(text)
        return cls(tid, data["k"], int(data["c"]), int(data["e"]))


class SessionStore(Protocol):
    async def create(self, session: Session, max_per_key: int) -> None: ...

    async def get(self, tid: str) -> Session | None: ...

    async def revoke(self, tid: str) -> bool: ...

    async def revoke_all(self, public_key: str) -> int: ...


# KEYS: session key, the key's index (sorted set: token id by expiry, unix seconds)
# ARGV: session JSON, token id, expires_at (unix s), ttl_s, max sessions, session key prefix
# The key expires at the session's own expiry (EXAT), so Redis and `get` agree on
# when a session ends and revoke-all never counts one that already ended.
# The score is the expiry plus the creation's microseconds: sessions made in the
# same second still leave oldest first (a tie would go by token id instead).
_CREATE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1])
redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]) + tonumber(clock[2]) / 1000000, ARGV[2])
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if extra > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[2], extra)
  for i = 1, #popped, 2 do redis.call('DEL', ARGV[6] .. popped[i]) end
end
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('EXPIREAT', KEYS[2], math.ceil(tonumber(last[2])))
return 1
"""

# KEYS: the key's index; ARGV: session key prefix
_REVOKE_ALL = """
local revoked = 0
for _, tid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  revoked = revoked + redis.call('DEL', ARGV[1] .. tid)
end
redis.call('DEL', KEYS[1])
return revoked
"""


class RedisSessionStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._session = f"{prefix}session:"
        self._index = f"{prefix}sessions:"
        self._create = redis.register_script(_CREATE)
        self._revoke_all = redis.register_script(_REVOKE_ALL)

    async def create(self, session: Session, max_per_key: int) -> None:
        ttl = max(1, session.expires_at - int(time.time()))
        await self._create(
            keys=[self._session + session.token_id, self._index + session.public_key],
            args=[
                session.to_json(),
                session.token_id,
                session.expires_at,
                ttl,
                max_per_key,
                self._session,
            ],
        )

    async def get(self, tid: str) -> Session | None:
        raw = await self._redis.get(self._session + tid)
        if raw is None:
            return None
        session = Session.from_json(tid, raw)
        return session if session.expires_at > time.time() else None

    async def revoke(self, tid: str) -> bool:
        raw = await self._redis.getdel(self._session + tid)
        if raw is None:
            return False
        await self._redis.zrem(self._index + Session.from_json(tid, raw).public_key, tid)
        return True

    async def revoke_all(self, public_key: str) -> int:
        count = await self._revoke_all(keys=[self._index + public_key], args=[self._session])
        return int(count)


class MemorySessionStore:
    """For the embedded demo (one process)."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    def _live(self, public_key: str) -> list[Session]:
        now = time.time()
        return sorted(
            (
                s
                for s in self._sessions.values()
                if s.public_key == public_key and s.expires_at > now
            ),
            key=lambda s: s.expires_at,
        )

    async def create(self, session: Session, max_per_key: int) -> None:
        now = time.time()
        self._sessions = {k: s for k, s in self._sessions.items() if s.expires_at > now}
        self._sessions[session.token_id] = session
        live = self._live(session.public_key)
        for old in live[: max(0, len(live) - max_per_key)]:
            self._sessions.pop(old.token_id, None)

    async def get(self, tid: str) -> Session | None:
        session = self._sessions.get(tid)
        return session if session is not None and session.expires_at > time.time() else None

    async def revoke(self, tid: str) -> bool:
        return self._sessions.pop(tid, None) is not None

    async def revoke_all(self, public_key: str) -> int:
        live = self._live(public_key)
        self._sessions = {k: s for k, s in self._sessions.items() if s.public_key != public_key}
        return len(live)
