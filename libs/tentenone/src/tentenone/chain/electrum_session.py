"""One Electrum-protocol connection: newline-delimited JSON-RPC 2.0 over TCP or TLS."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tentenone.chain.errors import InvalidChainInput, MalformedReply, ServerMisbehaved
from tentenone.logging import get_logger

__all__ = [
    "PROTOCOL_VERSION",
    "ConnectionLost",
    "ElectrumSession",
    "ServerAddress",
    "ServerError",
]

PROTOCOL_VERSION = "1.4"
_CLIENT_NAME = "tentenone"
# A chunk of 2016 headers is 322 KB of hex; leave room for large transactions.
_LINE_LIMIT = 16 * 1024 * 1024

_log = get_logger(__name__)


class ConnectionLost(Exception):
    """The connection closed or a request timed out; another server may answer."""


class ServerError(Exception):
    """The server answered a request with a JSON-RPC error object."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """``tcp://host:port`` or ``ssl://host:port`` (``tls://`` is accepted for ``ssl://``)."""

    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, text: str) -> ServerAddress:
        parts = urlsplit(text if "://" in text else f"tcp://{text}")
        if parts.scheme not in {"tcp", "ssl", "tls"}:
            raise InvalidChainInput(f"server {text!r}: scheme must be tcp://, ssl:// or tls://")
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or port is None:
            raise InvalidChainInput(f"server {text!r}: expected scheme://host:port")
        return cls(parts.hostname, port, parts.scheme != "tcp")

    def __str__(self) -> str:
        return f"{'ssl' if self.tls else 'tcp'}://{self.host}:{self.port}"


Notification = tuple[str, list[Any]]


class ElectrumSession:
    """A connected, handshaken session. Closed for good once the connection drops."""

    def __init__(
        self,
        server: ServerAddress,
        *,
        request_timeout: float,
        on_notification: Callable[[str, list[Any]], None],
        observe: Callable[[str, float], None] | None = None,
    ) -> None:
        self.server = server
        self.request_timeout = request_timeout
        self._on_notification = on_notification
        self._observe = observe
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self.close_reason = ""
        #: Set when the session ended because the server broke the protocol.
        self.misbehaved: ServerMisbehaved | None = None

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def open(self, connect_timeout: float, tls_context: ssl.SSLContext | None) -> None:
        ctx = (tls_context or ssl.create_default_context()) if self.server.tls else None
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(
                    self.server.host, self.server.port, ssl=ctx, limit=_LINE_LIMIT
                ),
                connect_timeout,
            )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise ConnectionLost(f"cannot connect to {self.server}: {exc!r}") from exc
        self._read_task = asyncio.create_task(
            self._read_loop(), name=f"electrum-read {self.server}"
        )
        # "server.version ... must be the first message sent" (protocol-methods, server.version)
        reply = await self.request("server.version", [_CLIENT_NAME, PROTOCOL_VERSION])
        if not isinstance(reply, list) or len(reply) != 2:
            raise MalformedReply(f"{self.server}: server.version replied {reply!r}")

    async def request(self, method: str, params: list[Any], within_s: float | None = None) -> Any:
        if self.closed or self._writer is None:
            raise ConnectionLost(f"{self.server}: session closed ({self.close_reason})")
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        line = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        try:
            self._writer.write(line.encode() + b"\n")
            await self._writer.drain()
            started = time.monotonic()
            result = await asyncio.wait_for(future, within_s or self.request_timeout)
            if self._observe is not None:
                self._observe(method, time.monotonic() - started)
            return result
        except TimeoutError:
            await self.close(f"{method} timed out")
            raise ConnectionLost(f"{self.server}: {method} timed out") from None
        except OSError as exc:
            await self.close(f"write failed: {exc!r}")
            raise ConnectionLost(f"{self.server}: {exc!r}") from exc
        finally:
            self._pending.pop(request_id, None)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def close(self, reason: str, error: ServerMisbehaved | None = None) -> None:
        """Close for good; pending requests fail with ``error`` or ``ConnectionLost``."""
        if self.closed:
            return
        self.close_reason = reason
        self.misbehaved = error
        self._closed.set()
        _log.info(
            "electrum session to %s closed: %s",
            self.server,
            reason,
            extra={"server": str(self.server), "reason": reason},
        )
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error or ConnectionLost(f"{self.server}: {reason}"))
        if self._read_task is not None and self._read_task is not asyncio.current_task():
            self._read_task.cancel()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._writer.wait_closed(), 1.0)

    async def _read_loop(self) -> None:
        assert self._reader is not None
        reason = "server closed the connection"
        error: ServerMisbehaved | None = None
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                self._dispatch(line)
        except MalformedReply as exc:
            reason, error = exc.message, exc
        except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
            reason = f"read failed: {exc!r}"
        await self.close(reason, error)

    def _dispatch(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            raise MalformedReply(f"{self.server} sent a line that is not JSON") from None
        if not isinstance(message, dict):
            raise MalformedReply(f"{self.server} sent JSON that is not an object")
        if "method" in message and "id" not in message:
            params = message.get("params")
            if isinstance(message["method"], str) and isinstance(params, list):
                self._on_notification(message["method"], params)
            return
        future = self._pending.get(message.get("id"))  # type: ignore[arg-type]
        if future is None or future.done():
            return
        error = message.get("error")
        if error is not None:
            code = error.get("code", 0) if isinstance(error, dict) else 0
            text = error.get("message", str(error)) if isinstance(error, dict) else str(error)
            future.set_exception(ServerError(int(code), str(text)))
        elif "result" in message:
            future.set_result(message["result"])
        else:
            future.set_exception(
                MalformedReply(f"{self.server}: reply with neither result nor error")
            )
