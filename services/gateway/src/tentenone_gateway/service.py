"""The gateway as a tentenone service: the app's only door into the coordinator.

REST under ``/api/v1`` and one WebSocket (``/api/v1/ws``); AMQP RPC to the
services behind it; sessions, rate limits and the WebSocket channels' recent
history in Redis (``TENTENONE_REDIS_URL``), or in memory without it (the
embedded demo). No database and no business logic of its own.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from tentenone.config import BaseServiceSettings
from tentenone.errors import Unavailable
from tentenone.service import Service, ServiceContext
from tentenone_gateway.api import ROUTERS
from tentenone_gateway.api.backups import BACKUP_PATH
from tentenone_gateway.api.common import PREFIX
from tentenone_gateway.book_feeds import book_sources, subscribe_book_feeds
from tentenone_gateway.challenges import MemoryChallengeStore, RedisChallengeStore
from tentenone_gateway.channels import MemoryChannelLog, RedisChannelLog
from tentenone_gateway.feeds import build_sources, subscribe_feeds
from tentenone_gateway.hub import Hub
from tentenone_gateway.middleware import install_middleware
from tentenone_gateway.openapi import configure_openapi
from tentenone_gateway.problems import install_problem_handlers
from tentenone_gateway.ratelimit import MemoryRateLimiter, RedisRateLimiter
from tentenone_gateway.sessions import MemorySessionStore, RedisSessionStore
from tentenone_gateway.settings import GatewaySettings
from tentenone_gateway.state import EXTRAS_KEY, GatewayState, state_of_scope

__all__ = ["service"]

_log = logging.getLogger(__name__)


def _settings(ctx: ServiceContext) -> GatewaySettings:
    settings = ctx.settings
    assert isinstance(settings, GatewaySettings)
    return settings


async def _connect_redis(url: str, max_connections: int) -> Redis:
    # A blocking pool: a burst above max_connections waits for a free connection
    # (up to 5 s) instead of failing at once (redis-py's default pool raises).
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=5,
        socket_timeout=5,
        socket_connect_timeout=5,
        health_check_interval=30,
    )
    redis = Redis.from_pool(pool)
    try:
        await redis.ping()
    except (RedisError, OSError) as exc:
        await redis.aclose()
        raise Unavailable(f"Redis cannot be reached: {exc}") from exc
    return redis


async def _start(ctx: ServiceContext) -> None:
    settings = _settings(ctx)
    prefix = settings.redis_prefix
    if settings.redis_url is not None:
        redis = await _connect_redis(
            settings.redis_url.get_secret_value(), settings.redis_max_connections
        )
        state = GatewayState(
            ctx=ctx,
            settings=settings,
            challenges=RedisChallengeStore(redis, prefix),
            sessions=RedisSessionStore(redis, prefix),
            limiter=RedisRateLimiter(redis, prefix),
            log=RedisChannelLog(redis, prefix, settings.channel_ttl_s),
            redis=redis,
        )
    else:
        _log.info("no TENTENONE_REDIS_URL: sessions and rate limits live in this process")
        state = GatewayState(
            ctx=ctx,
            settings=settings,
            challenges=MemoryChallengeStore(),
            sessions=MemorySessionStore(),
            limiter=MemoryRateLimiter(),
            log=MemoryChannelLog(),
            redis=None,
        )
    hub = Hub()
    state.hub = hub
    state.sources = {**build_sources(state), **book_sources(state)}
    await state.log.start(hub.dispatch, hub.resync)
    ctx.extras[EXTRAS_KEY] = state
    await subscribe_feeds(state)
    await subscribe_book_feeds(state)


async def _stop(ctx: ServiceContext) -> None:
    state = ctx.extras.pop(EXTRAS_KEY, None)
    if not isinstance(state, GatewayState):
        return
    await state.hub.close_all(1001, "server stopping")
    await state.log.stop()
    if state.redis is not None:
        await state.redis.aclose()


async def _ping_redis(ctx: ServiceContext) -> None:
    state = ctx.extras.get(EXTRAS_KEY)
    if isinstance(state, GatewayState) and state.redis is not None:
        await state.redis.ping()
        state.log.check()


def _body_limit(settings: GatewaySettings) -> Any:
    def limit_for(method: str, path: str) -> int:
        if method == "PUT" and path == BACKUP_PATH:
            return settings.max_backup_body_bytes
        if (
            method == "POST"
            and path.startswith(f"{PREFIX}/positions/")
            and path.endswith("/messages")
        ):
            return settings.max_protocol_body_bytes
        return settings.max_body_bytes

    return limit_for


def _configure(app: FastAPI, settings: BaseServiceSettings) -> None:
    assert isinstance(settings, GatewaySettings)
    install_problem_handlers(app)

    def limiter(scope: Any) -> Any:
        state = state_of_scope(scope)
        return state.limiter if state is not None else None

    install_middleware(app, settings, limiter, _body_limit(settings))
    configure_openapi(app)


def _demo_settings(data_dir: Path) -> dict[str, Any]:
    return {"auth_domain": "tentenone-demo"}


service = Service(
    "gateway",
    settings=GatewaySettings,
    description="API gateway: REST and one WebSocket for the app, signed-key sessions",
    demo_settings=_demo_settings,
    # Client messages are small: refuse big frames before they are buffered. No
    # per-message deflate: it would compress every update once per subscriber.
    http_options={
        "ws_max_size": 64 * 1024,
        "ws_ping_interval": 20.0,
        "ws_ping_timeout": 20.0,
        "ws_per_message_deflate": False,
    },
)
service.on_startup(_start)
service.on_shutdown(_stop)
service.probe("redis")(_ping_redis)
service.configure_app(_configure)
for _router in ROUTERS:
    service.include_router(_router)
