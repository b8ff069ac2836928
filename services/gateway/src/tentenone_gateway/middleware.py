"""ASGI middleware of the gateway: forwarded headers, security headers, body limits, IP limits.

Order, outermost first (``install_middleware``): CORS, forwarded headers
(so everything after sees the real client), security headers, the per-IP
rate limit, the body size and media type checks. Each answers with a
problem+json of its own, since the app's exception handlers sit inside.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
from collections.abc import Callable, Sequence
from http import HTTPStatus

from fastapi import FastAPI, HTTPException
from redis.exceptions import RedisError
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tentenone.logging import get_correlation_id
from tentenone_gateway.errors import RateLimited
from tentenone_gateway.problems import PROBLEM_MEDIA_TYPE
from tentenone_gateway.ratelimit import Bucket, RateLimiter
from tentenone_gateway.settings import GatewaySettings

__all__ = [
    "BodyLimitMiddleware",
    "ForwardedMiddleware",
    "IpRateLimitMiddleware",
    "SecurityHeadersMiddleware",
    "install_middleware",
]

type _Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_SECURITY_HEADERS = [
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-site"),
    (b"cache-control", b"no-store"),
]
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


async def _send_problem(
    send: Send, status: int, code: str, detail: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """A problem+json answer from outside the app (no exception handler reaches here)."""
    body = json.dumps(
        {
            "type": f"urn:tentenone:problem:{code}",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": detail,
            "code": code,
            "instance": None,
            "details": {},
            "correlation_id": get_correlation_id(),
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


class ForwardedMiddleware:
    """Believe ``X-Forwarded-For``/``-Proto`` only when the peer is a configured proxy.

    The client is the rightmost address in ``X-Forwarded-For`` that is not
    itself a trusted proxy (what a proxy appends can be trusted; what the
    client wrote to the left of it cannot).
    """

    def __init__(self, app: ASGIApp, proxies: Sequence[_Network]) -> None:
        self.app = app
        self.proxies = list(proxies)

    def _trusted(self, host: str) -> bool:
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(addr in net for net in self.proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.proxies:
            client = scope.get("client")
            if client and self._trusted(client[0]):
                scope = dict(scope)
                forwarded = _header(scope, b"x-forwarded-for")
                if forwarded:
                    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
                    real = next((h for h in reversed(hops) if not self._trusted(h)), None)
                    if real is None and hops:
                        real = hops[0]
                    # Not an address: keep the proxy's.
                    if real is not None:
                        with contextlib.suppress(ValueError):
                            scope["client"] = (str(ipaddress.ip_address(real)), 0)
                proto = (_header(scope, b"x-forwarded-proto") or "").strip().lower()
                if proto in ("http", "https"):
                    ws = scope["type"] == "websocket"
                    scope["scheme"] = {"http": "ws", "https": "wss"}[proto] if ws else proto
        await self.app(scope, receive, send)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in _SECURITY_HEADERS if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def _client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class IpRateLimitMiddleware:
    """A token bucket per client address, for every API request and WebSocket handshake."""

    def __init__(
        self,
        app: ASGIApp,
        limiter: Callable[[Scope], RateLimiter | None],
        bucket: Bucket,
        prefix: str = "/api/",
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.bucket = bucket
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter = self.limiter(scope)
        if (
            scope["type"] not in ("http", "websocket")
            or not scope.get("path", "").startswith(self.prefix)
            or limiter is None
        ):
            await self.app(scope, receive, send)
            return
        try:
            wait = await limiter.take(self.bucket, _client_ip(scope))
        except (RedisError, OSError):
            # Fail closed: without the shared buckets nothing is limited.
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1013, "reason": "unavailable"})
                return
            await _send_problem(
                send,
                503,
                "unavailable",
                "rate limits are unreachable; try again shortly",
                [(b"retry-after", b"5")],
            )
            return
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        retry = max(1, int(wait + 0.999))
        detail = RateLimited(f"too many requests from this address; retry in {retry} s", retry)
        if scope["type"] == "websocket":
            # Refused before the handshake completes: the client sees HTTP 403.
            await send({"type": "websocket.close", "code": 1013, "reason": "rate limited"})
            return
        await _send_problem(
            send, 429, "rate_limited", detail.message, [(b"retry-after", str(retry).encode())]
        )


class BodyLimitMiddleware:
    """Refuse bodies above the route's limit (413) and bodies that are not JSON (415)."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str, str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        length_text = _header(scope, b"content-length")
        chunked = "chunked" in (_header(scope, b"transfer-encoding") or "").lower()
        try:
            length = int(length_text) if length_text is not None else None
        except ValueError:
            await _send_problem(send, 400, "invalid_input", "Content-Length is not a number")
            return
        if length is not None and length > limit:
            await _send_problem(
                send, 413, "payload_too_large", f"body of {length} bytes; the limit is {limit}"
            )
            return
        has_body = chunked or (length or 0) > 0
        media = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if has_body and media != "application/json":
            await _send_problem(
                send,
                415,
                "unsupported_media_type",
                f"send the body as application/json, not {media[:80] or 'nothing'!r}",
            )
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI passes HTTPException through while it reads the body.
                    raise HTTPException(413, f"body above the limit of {limit} bytes")
            return message

        await self.app(scope, counted, send)


def install_middleware(
    app: FastAPI,
    settings: GatewaySettings,
    limiter: Callable[[Scope], RateLimiter | None],
    limit_for: Callable[[str, str], int],
) -> None:
    """Add the gateway's middleware inside the platform's correlation-id middleware."""
    ip_bucket = Bucket("ip", settings.ip_burst, settings.ip_per_s)
    # user_middleware runs first-to-last from the outside in; the platform's
    # correlation middleware is first, so ours see the request's correlation id.
    app.user_middleware.extend(
        [
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "X-Correlation-Id"],
                expose_headers=["Retry-After", "X-Correlation-Id", "Location"],
                max_age=600,
            ),
            Middleware(ForwardedMiddleware, proxies=settings.proxy_networks),
            Middleware(SecurityHeadersMiddleware),
            Middleware(IpRateLimitMiddleware, limiter=limiter, bucket=ip_bucket),
            Middleware(BodyLimitMiddleware, limit_for=limit_for),
        ]
    )
