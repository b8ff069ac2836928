"""A misbehaving Electrum server for tests: a TCP proxy in front of a real ElectrumX.

It forwards every line both ways and, for the reply kinds switched on in
``corrupt``, rewrites what the real server said: a header chunk whose last
header (and a notified tip header) misses its proof-of-work target, a merkle
branch with a flipped byte, a history that is not a list, a line that is not
JSON; or it swallows broadcasts. This is the only stand-in in these tests: a real server does
not misbehave on request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from typing import Any

REGTEST_TARGET = 0x7FFFFF << (8 * (0x20 - 3))


def _weak_header(raw: bytes) -> bytes:
    """``raw`` with a nonce that makes its hash exceed the regtest target."""
    for nonce in range(1, 1000):
        candidate = raw[:76] + ((int.from_bytes(raw[76:], "little") + nonce) % 2**32).to_bytes(
            4, "little"
        )
        digest = hashlib.sha256(hashlib.sha256(candidate).digest()).digest()
        if int.from_bytes(digest, "little") > REGTEST_TARGET:
            return candidate
    raise AssertionError("no weak nonce found")


class RewritingProxy:
    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self._upstream = (host, int(port))
        self.corrupt: set[str] = set()
        self.rewritten: list[str] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"tcp://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream, limit=2**24)
        except OSError:
            writer.close()
            return
        methods: dict[Any, str] = {}

        async def client_to_server() -> None:
            while line := await reader.readline():
                with contextlib.suppress(ValueError):
                    message = json.loads(line)
                    methods[message.get("id")] = message.get("method", "")
                    if (
                        message.get("method") == "blockchain.transaction.broadcast"
                        and "swallow_broadcast" in self.corrupt
                    ):
                        self.rewritten.append(message["method"])
                        continue  # never reaches the server, never answered
                up_writer.write(line)
                await up_writer.drain()

        async def server_to_client() -> None:
            while line := await up_reader.readline():
                writer.write(self._rewrite(line, methods))
                await writer.drain()

        pumps = [asyncio.create_task(client_to_server()), asyncio.create_task(server_to_client())]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            writer.close()
            up_writer.close()
            self._tasks.discard(task)

    def _rewrite(self, line: bytes, methods: dict[Any, str]) -> bytes:
        try:
            message = json.loads(line)
        except ValueError:
            return line
        method = methods.get(message.get("id"))
        result = message.get("result")
        notified = message.get("method")
        if notified == "blockchain.headers.subscribe" and "headers" in self.corrupt:
            # The client connects the next header from the notification itself.
            tip = message["params"][0]
            tip["hex"] = _weak_header(bytes.fromhex(tip["hex"])).hex()
            self.rewritten.append(notified)
        elif method == "blockchain.block.headers" and "headers" in self.corrupt and result:
            raw = bytes.fromhex(result["hex"])
            if raw:
                result["hex"] = (raw[:-80] + _weak_header(raw[-80:])).hex()
                self.rewritten.append(method)
        elif method == "blockchain.transaction.get_merkle" and "merkle" in self.corrupt and result:
            branch = result["merkle"]
            if branch:
                first = bytearray(bytes.fromhex(branch[0]))
                first[0] ^= 0x01
                branch[0] = first.hex()
                self.rewritten.append(method)
        elif method == "blockchain.scripthash.listunspent" and "nonjson" in self.corrupt:
            self.rewritten.append(method)
            return b"this is not json\n"
        elif method == "blockchain.scripthash.get_history" and "history" in self.corrupt:
            message["result"] = {"not": "a list"}
            self.rewritten.append(method)
        else:
            return line
        return json.dumps(message).encode() + b"\n"
