"""HTTP transport of the JSON-RPC interface, with bitcoind's authentication.

Like bitcoind: HTTP Basic auth against the cookie (``__cookie__:<hex>``,
written to ``<datadir>/.cookie`` mode 0600 and removed on clean shutdown)
and/or a configured ``user:password``; a bad or missing credential gets
HTTP 401 with an empty body; only POST is served.
"""

from __future__ import annotations

import base64
import hmac
import logging
import os
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tentenone_devnet.jsonrpc import handle_body
from tentenone_devnet.rpc import NodeRpc

__all__ = ["COOKIE_USER", "RpcServer", "write_cookie"]

COOKIE_USER = "__cookie__"
_log = logging.getLogger(__name__)
_MAX_BODY = 32 * 1024 * 1024


def write_cookie(path: Path) -> str:
    """Write a fresh ``__cookie__:<hex>`` file readable by the owner only; returns it."""
    secret = f"{COOKIE_USER}:{secrets.token_hex(32)}"
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret)
    os.replace(tmp, path)
    return secret


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the body waits for the
    # client's delayed ACK of the headers: about 40 ms per call on a kept-alive link.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        _log.debug("http: " + format, *args)

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(header[6:], validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        return any(hmac.compare_digest(given, cred) for cred in self.server.credentials)

    def do_GET(self) -> None:
        self._send(405, b"")

    def do_POST(self) -> None:
        if not self._authorized():
            self._send(401, b"", {"WWW-Authenticate": 'Basic realm="jsonrpc"'})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self._send(413, b"")
            return
        body = self.rfile.read(length)
        status, text = handle_body(self.server.rpc.dispatch, body)
        self._send(status, text.encode(), {"Content-Type": "application/json"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], rpc: NodeRpc, credentials: list[str]) -> None:
        super().__init__(address, _Handler)
        self.rpc = rpc
        self.credentials = credentials


class RpcServer:
    """Serves ``rpc`` on ``host:port`` (port 0: an ephemeral port) in a thread."""

    def __init__(self, rpc: NodeRpc, host: str, port: int, credentials: list[str]) -> None:
        self._server = _Server((host, port), rpc, credentials)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="rpc-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
