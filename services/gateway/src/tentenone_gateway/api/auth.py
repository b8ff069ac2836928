"""``/auth``: challenge, sign in, who am I, sign out (one session or all of the key's)."""

# No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.
import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials

from tentenone.wire.gateway import (
    ChallengeCreate,
    ChallengePublic,
    RevokedPublic,
    SessionCreate,
    SessionInfo,
    SessionPublic,
)
from tentenone_gateway.api.common import PREFIX, PRIVATE_PROBLEMS, PUBLIC_PROBLEMS
from tentenone_gateway.auth import BEARER, Trader, client_ip, issue_challenge, sign_in
from tentenone_gateway.openapi import operation_id
from tentenone_gateway.problems import problem_responses
from tentenone_gateway.ratelimit import enforce
from tentenone_gateway.sessions import token_id
from tentenone_gateway.state import State

__all__ = ["router"]

router = APIRouter(prefix=f"{PREFIX}/auth", tags=["auth"], generate_unique_id_function=operation_id)


def _utc(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


async def _auth_rate(state: State, request: Request) -> None:
    await enforce(state.limiter, state.auth_bucket, client_ip(request), "address")


AuthRate = Depends(_auth_rate)


@router.post(
    "/challenge",
    status_code=status.HTTP_201_CREATED,
    responses=PUBLIC_PROBLEMS,
    dependencies=[AuthRate],
    summary="A challenge to sign with the node key (valid once, for a minute)",
)
async def create_challenge(state: State, body: ChallengeCreate) -> ChallengePublic:
    challenge = await issue_challenge(state, body.public_key)
    return ChallengePublic(
        public_key=challenge.public_key,
        nonce=challenge.nonce,
        domain=challenge.domain,
        expires_at=_utc(challenge.expires_at),
        message=challenge.message,
        digest=challenge.digest.hex(),
    )


@router.post(
    "/session",
    status_code=status.HTTP_201_CREATED,
    responses={**PUBLIC_PROBLEMS, **problem_responses(401)},
    dependencies=[AuthRate],
    summary="Sign in: the challenge's signature for a session token bound to the key",
)
async def create_session(state: State, body: SessionCreate) -> SessionPublic:
    token, session = await sign_in(state, body.public_key, body.nonce, body.signature)
    return SessionPublic(
        token=token, public_key=session.public_key, expires_at=_utc(session.expires_at)
    )


@router.get("/session", responses=PRIVATE_PROBLEMS, summary="The session of this token")
async def read_session(trader: Trader) -> SessionInfo:
    return SessionInfo(
        public_key=trader.public_key,
        created_at=_utc(trader.created_at),
        expires_at=_utc(trader.expires_at),
    )


@router.delete(
    "/session",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=PRIVATE_PROBLEMS,
    summary="Sign out: revoke this token",
)
async def delete_session(
    state: State,
    trader: Trader,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Response:
    assert credentials is not None  # Trader checked it
    await state.sessions.revoke(token_id(credentials.credentials))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/sessions",
    responses=PRIVATE_PROBLEMS,
    summary="Revoke every session of this key (this one too)",
)
async def delete_sessions(state: State, trader: Trader) -> RevokedPublic:
    return RevokedPublic(revoked=await state.sessions.revoke_all(trader.public_key))
