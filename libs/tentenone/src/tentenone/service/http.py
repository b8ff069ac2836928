"""The HTTP side of every service: /healthz, /readyz, /metrics, correlation ids, request metrics."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tentenone.errors import TentenoneError, Unavailable
from tentenone.logging import CORRELATION_HEADER, bind_correlation_id, new_correlation_id
from tentenone.metrics import CONTENT_TYPE_LATEST, HTTP_LATENCY, HTTP_REQUESTS, render
from tentenone.service.context import ServiceContext

if TYPE_CHECKING:
    from tentenone.service.runner import ServiceRunner

__all__ = ["Context", "CorrelationMiddleware", "build_app", "get_context"]

_CID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_CHECK_TIMEOUT_S = 3.0


class CorrelationMiddleware:
    """Takes ``X-Correlation-Id`` from the request (or makes one), binds it, echoes it, counts."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cid = _incoming_cid(scope) or new_correlation_id()
        status = 500
        started = time.perf_counter()

        async def send_with_cid(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((CORRELATION_HEADER.encode(), cid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with bind_correlation_id(cid, self.service):
            try:
                await self.app(scope, receive, send_with_cid)
            finally:
                route = scope.get("route")
                path = getattr(route, "path", None) or "unmatched"
                method = scope.get("method", "")
                HTTP_REQUESTS.labels(self.service, method, path, str(status)).inc()
                HTTP_LATENCY.labels(self.service, method, path).observe(
                    time.perf_counter() - started
                )


def _incoming_cid(scope: Scope) -> str | None:
    wanted = CORRELATION_HEADER.encode()
    for key, value in scope.get("headers", []):
        if key.lower() == wanted:
            text = value.decode("latin-1")
            # Only ids that are safe to log and to forward; anything else gets a new one.
            return text if _CID_OK.match(text) else None
    return None


def get_context(request: Request) -> ServiceContext:
    """FastAPI dependency: the running service's context (503 while it starts or stops)."""
    ctx = getattr(request.app.state, "ctx", None)
    if not isinstance(ctx, ServiceContext):
        raise Unavailable("the service is not ready")
    return ctx


Context = Annotated[ServiceContext, Depends(get_context)]


async def _check(name: str, probe: Callable[[], Awaitable[Any]]) -> tuple[str, str | None]:
    try:
        async with asyncio.timeout(_CHECK_TIMEOUT_S):
            await probe()
    except TimeoutError:
        return name, f"no answer within {_CHECK_TIMEOUT_S} s"
    except Exception as exc:
        return name, f"{type(exc).__name__}: {exc}"
    return name, None


def build_app(runner: ServiceRunner) -> FastAPI:
    service = runner.service
    app = FastAPI(title=f"tentenone {service.name}", description=service.description)
    app.add_middleware(CorrelationMiddleware, service=service.name)

    @app.exception_handler(TentenoneError)
    async def tentenone_error(request: Request, exc: TentenoneError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service.name}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        checks = await runner.readiness()
        ok = all(v == "ok" for v in checks.values())
        body = {"status": "ready" if ok else "unready", "service": service.name, "checks": checks}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(render(), media_type=CONTENT_TYPE_LATEST)

    for router, kwargs in service.routers:
        app.include_router(router, **kwargs)
    for configure in service.app_hooks:
        configure(app, runner.settings)
    return app


async def run_checks(probes: Mapping[str, Callable[[], Awaitable[Any]]]) -> dict[str, str]:
    """Run readiness probes at once; ``ok`` or what failed, per probe."""
    results = await asyncio.gather(*(_check(n, p) for n, p in probes.items()))
    return {name: err or "ok" for name, err in results}
