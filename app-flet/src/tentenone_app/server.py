"""The app as a web page: Flet's web client served from this machine only (ADR 0120).

Flet's Python server (``flet_web``) serves the prebuilt Flutter web client
and talks to it over one WebSocket. Two things keep every byte local:

- ``no_cdn=True``: CanvasKit/skwasm, Roboto and the icon fonts come from the
  ``flet-web`` wheel instead of gstatic and Google Fonts;
- a Content-Security-Policy that allows only this origin, so the one URL
  compiled into the client that points elsewhere (the Rive runtime on
  jsdelivr, unused here) is refused by the browser before any request.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import flet as ft
import uvicorn
from fastapi import FastAPI, Request, Response
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from tentenone.errors import Unavailable
from tentenone.logging import get_logger

__all__ = ["CONTENT_SECURITY_POLICY", "AppServer", "web_app"]

_log = get_logger(__name__)

#: Everything from this origin; WebAssembly compiled in the page; workers from blobs
#: (skwasm); inline scripts because Flet writes its config into index.html.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval' blob:",
        "worker-src 'self' blob:",
        "connect-src 'self' blob: data:",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "style-src 'self' 'unsafe-inline'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
    ]
)

type PageMain = Callable[[ft.Page], Awaitable[None]]


class _LocalOnly(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def web_app(main: PageMain, *, name: str = "tentenone") -> FastAPI:
    """The ASGI app: Flet's web client (no CDN) with ``main`` run for every browser tab."""
    import flet_web.fastapi as flet_fastapi

    app: FastAPI = flet_fastapi.app(
        main, no_cdn=True, app_name=name, app_short_name=name, app_description=name
    )
    app.add_middleware(_LocalOnly)
    return app


class AppServer:
    """Serves :func:`web_app` on a loopback port (0: any free one) inside the running loop."""

    def __init__(self, main: PageMain, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = web_app(main)
        self._host, self._port = host, port
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.url = ""

    async def start(self, timeout_s: float = 30.0) -> str:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        sock.listen(128)
        port = sock.getsockname()[1]
        config = uvicorn.Config(self._app, log_level="warning")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._serve(sock), name="app-http")
        await self._wait_started(timeout_s)
        host = f"[{self._host}]" if family == socket.AF_INET6 else self._host
        self.url = f"http://{host}:{port}/"
        _log.info("app served", extra={"url": self.url})
        return self.url

    async def _serve(self, sock: socket.socket) -> None:
        assert self._server is not None
        try:
            await self._server.serve(sockets=[sock])
        finally:
            sock.close()

    async def _wait_started(self, timeout_s: float) -> None:
        assert self._server is not None and self._task is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise Unavailable("the app's web server stopped while starting")
            if loop.time() > deadline:
                raise Unavailable(f"the app's web server did not start in {timeout_s:.0f} s")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            try:
                await asyncio.wait_for(self._task, timeout=10)
            except TimeoutError:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
        self._server = None

    async def __aenter__(self) -> AppServer:
        await self.start()
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        await self.stop()
