"""Signing in with the node key (BIP-340 challenge) and the bearer-token dependency.

``issue_challenge`` -> the app signs ``Challenge.digest`` -> ``sign_in``
checks and consumes the challenge and returns a session token bound to the
key. ``Trader`` (a FastAPI dependency) turns ``Authorization: Bearer <token>``
into the session, and spends a token of that key's rate-limit bucket.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tentenone.bitcoin.curve import point_from_xonly
from tentenone.errors import InvalidInput, TentenoneError
from tentenone.oracle import schnorr
from tentenone_gateway.challenges import Challenge, new_challenge
from tentenone_gateway.errors import ChallengeInvalid, SignatureInvalid, TokenInvalid
from tentenone_gateway.metrics import SIGN_INS
from tentenone_gateway.ratelimit import enforce
from tentenone_gateway.sessions import Session, new_token, token_id
from tentenone_gateway.state import GatewayState, State

__all__ = [
    "BEARER",
    "Trader",
    "authenticate",
    "client_ip",
    "current_session",
    "issue_challenge",
    "sign_in",
]

#: The OpenAPI security scheme; auto_error off so a missing token is our 401 problem.
BEARER = HTTPBearer(auto_error=False, scheme_name="session", description="tt1_... from /auth")


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _check_key(public_key: str) -> bytes:
    key = bytes.fromhex(public_key)
    try:
        point_from_xonly(key, "public_key")
    except InvalidInput:
        raise InvalidInput(
            "public_key is not an x-only key on the curve", field="public_key"
        ) from None
    return key


async def issue_challenge(state: GatewayState, public_key: str) -> Challenge:
    _check_key(public_key)
    s = state.settings
    challenge = new_challenge(s.auth_domain, public_key, s.challenge_ttl_s)
    await state.challenges.put(challenge, s.challenge_ttl_s)
    return challenge


async def sign_in(
    state: GatewayState, public_key: str, nonce: str, signature: str
) -> tuple[str, Session]:
    """A new session token for ``public_key``; the challenge is spent whatever the outcome."""
    try:
        token, session = await _sign_in(state, public_key, nonce, signature)
    except TentenoneError as exc:
        SIGN_INS.labels(exc.code).inc()
        raise
    SIGN_INS.labels("ok").inc()
    return token, session


async def _sign_in(
    state: GatewayState, public_key: str, nonce: str, signature: str
) -> tuple[str, Session]:
    challenge = await state.challenges.take(nonce)
    if challenge is None:
        raise ChallengeInvalid("unknown, expired or already used challenge: ask for a new one")
    if challenge.public_key != public_key or challenge.domain != state.settings.auth_domain:
        raise ChallengeInvalid("this challenge was issued for another key: ask for a new one")
    if challenge.expires_at <= time.time():
        raise ChallengeInvalid("the challenge expired: ask for a new one")
    key = _check_key(public_key)
    if not schnorr.verify(key, challenge.digest, bytes.fromhex(signature)):
        raise SignatureInvalid(
            "the signature does not verify under this key for this challenge's digest"
        )
    token = new_token()
    now = int(time.time())
    session = Session(token_id(token), public_key, now, now + state.settings.session_ttl_s)
    await state.sessions.create(session, state.settings.max_sessions_per_key)
    return token, session


async def authenticate(state: GatewayState, token: str | None) -> Session:
    """The live session of ``token``; ``TokenInvalid`` (401) otherwise."""
    if not token:
        raise TokenInvalid("this needs a session token: Authorization: Bearer <token>")
    if len(token) > 200:
        raise TokenInvalid("unknown, expired or revoked session token")
    session = await state.sessions.get(token_id(token))
    if session is None:
        raise TokenInvalid("unknown, expired or revoked session token")
    return session


async def current_session(
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Session:
    """FastAPI dependency: the caller's session, after its key's rate limit."""
    session = await authenticate(state, credentials.credentials if credentials else None)
    await enforce(state.limiter, state.key_bucket, session.public_key, "key")
    return session


Trader = Annotated[Session, Depends(current_session)]
