"""What one running gateway holds: its stores, its channel history and its WebSocket hub."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends
from redis.asyncio import Redis
from starlette.types import Scope

from tentenone.errors import Unavailable
from tentenone.service import Context, ServiceContext
from tentenone_gateway.challenges import ChallengeStore
from tentenone_gateway.channels import ChannelLog
from tentenone_gateway.ratelimit import Bucket, RateLimiter
from tentenone_gateway.sessions import SessionStore
from tentenone_gateway.settings import GatewaySettings

__all__ = ["EXTRAS_KEY", "GatewayState", "State", "get_state", "state_of_scope"]

EXTRAS_KEY = "gateway"


@dataclass
class GatewayState:
    ctx: ServiceContext
    settings: GatewaySettings
    challenges: ChallengeStore
    sessions: SessionStore
    limiter: RateLimiter
    log: ChannelLog
    redis: Redis | None
    #: the WebSocket hub (tentenone_gateway.hub.Hub), set once started
    hub: Any = None
    #: where each channel kind catches up (tentenone_gateway.feeds.build_sources)
    sources: dict[Any, Any] = field(default_factory=dict)
    key_bucket: Bucket = field(init=False)
    auth_bucket: Bucket = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.key_bucket = Bucket("key", s.key_burst, s.key_per_s)
        self.auth_bucket = Bucket("auth", s.auth_burst, s.auth_per_s)


def _state(ctx: ServiceContext) -> GatewayState:
    state = ctx.extras.get(EXTRAS_KEY)
    if not isinstance(state, GatewayState):
        raise Unavailable("the gateway is not started")
    return state


def get_state(ctx: Context) -> GatewayState:
    """FastAPI dependency: the running gateway's state."""
    return _state(ctx)


State = Annotated[GatewayState, Depends(get_state)]


def state_of_scope(scope: Scope) -> GatewayState | None:
    """The state from inside ASGI middleware (None while starting or stopping)."""
    app = scope.get("app")
    ctx = getattr(getattr(app, "state", None), "ctx", None)
    if not isinstance(ctx, ServiceContext):
        return None
    state = ctx.extras.get(EXTRAS_KEY)
    return state if isinstance(state, GatewayState) else None
