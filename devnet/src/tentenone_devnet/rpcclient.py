"""A small bitcoind JSON-RPC client (works against this node and a real bitcoind)."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from typing import Any

import httpx

from tentenone.errors import RemoteError, Unavailable

__all__ = ["BitcoindRpc", "RpcCallError"]


class RpcCallError(RemoteError):
    """bitcoind answered with a JSON-RPC error; ``rpc_code`` is its numeric code."""

    code = "bitcoind_rpc_error"

    def __init__(self, rpc_code: int, message: str) -> None:
        super().__init__(message, remote_code=str(rpc_code), rpc_code=rpc_code)
        self.rpc_code = rpc_code


class BitcoindRpc:
    """Synchronous client; amounts come back as ``Decimal`` (never float)."""

    def __init__(self, url: str, auth: tuple[str, str], timeout: float = 30.0) -> None:
        self.url = url
        self._client = httpx.Client(auth=auth, timeout=timeout)
        self._ids = itertools.count(1)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> BitcoindRpc:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def post(self, body: bytes | str) -> httpx.Response:
        """Send a raw body (for tests of malformed requests)."""
        try:
            return self._client.post(
                self.url, content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise Unavailable(f"bitcoind RPC at {self.url} unreachable: {exc}") from exc

    def call(self, method: str, *params: Any) -> Any:
        req = {"jsonrpc": "1.0", "id": next(self._ids), "method": method, "params": list(params)}
        reply = self._decode(self.post(json.dumps(req)))
        if reply.get("error"):
            raise RpcCallError(reply["error"]["code"], reply["error"]["message"])
        return reply["result"]

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Results in call order; an error item is returned as an RpcCallError instance."""
        reqs = [
            {"jsonrpc": "1.0", "id": next(self._ids), "method": m, "params": p} for m, p in calls
        ]
        replies = self._decode(self.post(json.dumps(reqs)))
        by_id = {r["id"]: r for r in replies}
        out: list[Any] = []
        for req in reqs:
            reply = by_id[req["id"]]
            err = reply.get("error")
            out.append(RpcCallError(err["code"], err["message"]) if err else reply["result"])
        return out

    @staticmethod
    def _decode(resp: httpx.Response) -> Any:
        if resp.status_code == 401:
            raise RpcCallError(-401, "bitcoind RPC: authorization failed (HTTP 401)")
        try:
            return json.loads(resp.content, parse_float=Decimal)
        except ValueError as exc:
            raise Unavailable(f"bitcoind RPC: HTTP {resp.status_code}, not JSON") from exc
