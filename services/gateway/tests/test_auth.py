"""Signing in with the node key, and what a token can and cannot reach (real Redis, RabbitMQ).

The DLC routes run against the throwaway DLC service of ``fake_dlc`` (the
real one comes with issue 9).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from tentenone.bitcoin.hashes import tagged_hash
from tentenone.testing import wait_until
from tentenone_gateway.challenges import Challenge, RedisChallengeStore
from tentenone_gateway.sessions import RedisSessionStore, Session, new_token, token_id

from .conftest import REDIS_URL, Stack, TraderKey, bearer


def _problem(reply: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = reply.json()
    assert body["status"] == status and body["code"] == code
    assert body["type"] == f"urn:tentenone:problem:{code}"
    assert body["detail"]
    return body


async def _session_count(prefix: str, public_key: str) -> int:
    redis = Redis.from_url(REDIS_URL)
    try:
        return int(await redis.zcard(f"{prefix}sessions:{public_key}"))
    finally:
        await redis.aclose()


async def test_challenge_flow_gives_a_token_bound_to_the_key(stack: Stack, http_factory) -> None:
    gw = await stack.gateway(auth_domain="coordinator.test")
    http = http_factory(gw)
    alice = TraderKey()
    challenge = await alice.challenge(http)
    # The message says what is signed, and the digest is its tagged hash: the app
    # can (and should) rebuild both itself before signing.
    expires = int(dt.datetime.fromisoformat(challenge["expires_at"]).timestamp())
    assert challenge["message"] == (
        f"tentenone auth v1\ndomain: coordinator.test\nkey: {alice.public_key}\n"
        f"nonce: {challenge['nonce']}\nexpires: {expires}"
    )
    assert 0 < expires - time.time() <= 60
    assert challenge["digest"] == tagged_hash("tentenone/auth", challenge["message"].encode()).hex()
    token = await alice.sign_in(http)
    me = await http.get("/api/v1/auth/session", headers=bearer(token))
    assert me.status_code == 200, me.text
    assert me.json()["public_key"] == alice.public_key


async def test_replayed_challenge_is_refused_and_makes_no_session(
    stack: Stack, http_factory
) -> None:
    gw = await stack.gateway()
    http = http_factory(gw)
    alice = TraderKey()
    challenge = await alice.challenge(http)
    body = {
        "public_key": alice.public_key,
        "nonce": challenge["nonce"],
        "signature": alice.sign(challenge["digest"]),
    }
    assert (await http.post("/api/v1/auth/session", json=body)).status_code == 201
    _problem(await http.post("/api/v1/auth/session", json=body), 401, "challenge_invalid")
    assert await _session_count(stack.redis_prefix, alice.public_key) == 1


async def test_a_failed_sign_in_spends_the_challenge(stack: Stack, http_factory) -> None:
    gw = await stack.gateway()
    http = http_factory(gw)
    alice, mallory = TraderKey(), TraderKey()
    challenge = await alice.challenge(http)
    forged = {
        "public_key": alice.public_key,
        "nonce": challenge["nonce"],
        "signature": mallory.sign(challenge["digest"]),
    }
    _problem(await http.post("/api/v1/auth/session", json=forged), 401, "signature_invalid")
    # Not even the right signature works now: one try per challenge.
    right = {**forged, "signature": alice.sign(challenge["digest"])}
    _problem(await http.post("/api/v1/auth/session", json=right), 401, "challenge_invalid")
    assert await _session_count(stack.redis_prefix, alice.public_key) == 0


async def test_signature_by_another_key_or_for_another_key_is_refused(
    stack: Stack, http_factory
) -> None:
    gw = await stack.gateway()
    http = http_factory(gw)
    alice, mallory = TraderKey(), TraderKey()
    # Mallory takes Alice's challenge and signs it as herself.
    challenge = await alice.challenge(http)
    claim = {
        "public_key": mallory.public_key,
        "nonce": challenge["nonce"],
        "signature": mallory.sign(challenge["digest"]),
    }
    _problem(await http.post("/api/v1/auth/session", json=claim), 401, "challenge_invalid")
    # A signature of some other message (not this challenge's digest) by the right key.
    challenge = await alice.challenge(http)
    other = alice.sign(tagged_hash("tentenone/auth", b"something else").hex())
    body = {"public_key": alice.public_key, "nonce": challenge["nonce"], "signature": other}
    _problem(await http.post("/api/v1/auth/session", json=body), 401, "signature_invalid")
    assert await _session_count(stack.redis_prefix, alice.public_key) == 0
    assert await _session_count(stack.redis_prefix, mallory.public_key) == 0


async def test_expired_challenge_is_refused(stack: Stack, http_factory) -> None:
    gw = await stack.gateway()
    http = http_factory(gw)
    alice = TraderKey()
    # A challenge whose expiry has passed (as if the app took too long), put where
    # the gateway keeps challenges; Redis would drop it soon anyway.
    redis = Redis.from_url(REDIS_URL)
    try:
        expired = Challenge("tentenone", alice.public_key, "ab" * 32, int(time.time()) - 1)
        await RedisChallengeStore(redis, stack.redis_prefix).put(expired, 60)
    finally:
        await redis.aclose()
    body = {
        "public_key": alice.public_key,
        "nonce": expired.nonce,
        "signature": alice.sign(expired.digest.hex()),
    }
    _problem(await http.post("/api/v1/auth/session", json=body), 401, "challenge_invalid")
    # And challenges are stored with their lifetime: Redis drops them by itself.
    challenge = await alice.challenge(http)
    redis = Redis.from_url(REDIS_URL)
    try:
        ttl = await redis.ttl(f"{stack.redis_prefix}challenge:{challenge['nonce']}")
    finally:
        await redis.aclose()
    assert 0 < ttl <= 60


async def test_expired_and_revoked_tokens_are_refused(stack: Stack, http_factory) -> None:
    gw = await stack.gateway()
    http = http_factory(gw)
    alice = TraderKey()
    # A session about to expire, put where the gateway keeps them: it works, then
    # it does not (the gateway checks the expiry; Redis drops the key too).
    stale = new_token()
    redis = Redis.from_url(REDIS_URL)
    try:
        now = int(time.time())
        session = Session(token_id(stale), alice.public_key, now, now + 2)
        await RedisSessionStore(redis, stack.redis_prefix).create(session, 10)
    finally:
        await redis.aclose()
    assert await _status(http, stale, 200)
    await wait_until(lambda: _status(http, stale, 401), 5, what="the session expired")
    reply = await http.get("/api/v1/positions", headers=bearer(stale))
    _problem(reply, 401, "token_invalid")
    assert reply.headers["www-authenticate"].startswith("Bearer")
    _problem(await http.get("/api/v1/positions"), 401, "token_invalid")
    _problem(
        await http.get("/api/v1/positions", headers=bearer("tt1_" + "A" * 43)), 401, "token_invalid"
    )

    first, second = await alice.sign_in(http), await alice.sign_in(http)
    assert (await http.delete("/api/v1/auth/session", headers=bearer(first))).status_code == 204
    _problem(await http.get("/api/v1/auth/session", headers=bearer(first)), 401, "token_invalid")
    assert (await http.get("/api/v1/auth/session", headers=bearer(second))).status_code == 200
    third = await alice.sign_in(http)
    revoked = await http.delete("/api/v1/auth/sessions", headers=bearer(third))
    assert revoked.json() == {"revoked": 2}
    for token in (second, third):
        _problem(
            await http.get("/api/v1/auth/session", headers=bearer(token)), 401, "token_invalid"
        )


async def _status(http: httpx.AsyncClient, token: str, status: int) -> bool:
    return (await http.get("/api/v1/auth/session", headers=bearer(token))).status_code == status


async def test_sessions_per_key_are_capped_oldest_first(stack: Stack, http_factory) -> None:
    gw = await stack.gateway(max_sessions_per_key=2)
    http = http_factory(gw)
    alice = TraderKey()
    tokens = [await alice.sign_in(http) for _ in range(3)]
    status = [
        (await http.get("/api/v1/auth/session", headers=bearer(t))).status_code for t in tokens
    ]
    assert status == [401, 200, 200]


@pytest.mark.parametrize(
    "body",
    [
        {"public_key": "00" * 32},  # x = 0 is not on the curve
        {"public_key": "AB" * 32},  # upper case
        {"public_key": "ab" * 31},
        {"public_key": "02" + "ab" * 32},  # compressed, not x-only
        {"public_key": "ab" * 32, "extra": 1},
        {},
    ],
)
async def test_challenge_for_a_malformed_key_is_refused(
    stack: Stack, http_factory, body: dict[str, Any]
) -> None:
    gw = await stack.gateway()
    http = http_factory(gw)
    _problem(await http.post("/api/v1/auth/challenge", json=body), 422, "invalid_input")
