"""The WebSocket: channels, sequence numbers, resume, heartbeats, slow consumers, replicas.

Positions and protocol messages come from the throwaway DLC service of
``fake_dlc`` over the real bus (the real one comes with issue 9); prices
from the real oracle service.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from tentenone.service import ServiceRunner
from tentenone.testing import wait_until
from tentenone_gateway.channels import RedisChannelLog
from tentenone_gateway.state import GatewayState

from .conftest import REDIS_URL, Stack, TraderKey, WsClient
from .fake_dlc import FakeDlc

STATES = ["accepted", "signed", "funding", "open", "closing"]


def _state(runner: ServiceRunner) -> GatewayState:
    assert runner.ctx is not None
    state = runner.ctx.extras["gateway"]
    assert isinstance(state, GatewayState)
    return state


async def _signed_in(gw: ServiceRunner, http: Any, key: TraderKey, **kw: Any) -> WsClient:
    ws = await WsClient.open(gw, **kw)
    await ws.send(op="auth", token=await key.sign_in(http))
    await ws.expect("authenticated", public_key=key.public_key)
    return ws


async def _change(fake: FakeDlc, key: TraderKey, n: int) -> None:
    for i in range(n):
        await fake.open_position(key.public_key, "p-1", state=STATES[i % len(STATES)])


async def _updates(ws: WsClient, channel: str, until_seq: int) -> list[int]:
    """The seq of every update until ``until_seq``; anything else fails the test."""
    seqs: list[int] = []
    while not seqs or seqs[-1] < until_seq:
        message = await ws.expect("update", channel=channel)
        seqs.append(message["seq"])
    return seqs


async def test_positions_resume_with_no_missed_or_repeated_update(
    stack: Stack, http_factory
) -> None:
    fake = await stack.fake_dlc()
    gw = await stack.gateway()
    http = http_factory(gw)
    alice = TraderKey()
    await _change(fake, alice, 1)  # state number 1
    ws = await _signed_in(gw, http, alice)
    await ws.send(op="subscribe", channels=["positions"])
    snapshot = await ws.expect("snapshot", channel="positions", seq=1)
    assert [p["position_id"] for p in snapshot["data"]["positions"]] == ["p-1"]
    await ws.expect("subscribed", channel="positions", seq=1)
    await _change(fake, alice, 3)
    assert await _updates(ws, "positions", 4) == [2, 3, 4]
    await ws.close()

    await _change(fake, alice, 5)  # 5..9 while away
    ws = await _signed_in(gw, http, alice)
    await ws.send(op="subscribe", channels=["positions"], resume={"positions": 4})
    await _change(fake, alice, 2)  # 10, 11 while catching up
    seqs: list[int] = []
    while not seqs or seqs[-1] < 11:
        message = await ws.recv()
        if message["type"] == "subscribed":
            # Caught up to here (what the gateway had); the rest arrives live.
            assert message["seq"] == (seqs[-1] if seqs else 4)
            continue
        assert message["type"] == "update", message
        seqs.append(message["seq"])
        if message["seq"] == 11:
            assert message["data"]["event"] == "position.updated"
            assert message["data"]["position"]["version"] == 11
    assert seqs == list(range(5, 12))


async def test_too_far_behind_gets_a_snapshot_then_updates(stack: Stack, http_factory) -> None:
    fake = await stack.fake_dlc()
    gw = await stack.gateway(channel_history=10)
    http = http_factory(gw)
    alice = TraderKey()
    await _change(fake, alice, 25)
    log = _state(gw).log
    key = f"positions:{alice.public_key}"
    await wait_until(lambda: _latest_is(log, key, 25), 15, what="the gateway has seq 25")
    ws = await _signed_in(gw, http, alice)
    await ws.send(op="subscribe", channels=["positions"], resume={"positions": 3})
    snapshot = await ws.expect("snapshot", channel="positions")
    assert snapshot["seq"] == 25
    assert snapshot["data"]["positions"][0]["version"] == 25
    await ws.expect("subscribed", channel="positions", seq=25)
    await _change(fake, alice, 1)
    assert await _updates(ws, "positions", 26) == [26]


async def _latest_is(log: Any, key: str, seq: int) -> bool:
    latest = await log.latest(key)
    return latest is not None and latest.seq == seq


async def test_protocol_messages_resume_from_the_dlc_service(stack: Stack, http_factory) -> None:
    fake = await stack.fake_dlc()
    gw = await stack.gateway()
    http = http_factory(gw)
    alice, bob = TraderKey(), TraderKey()
    await _change(fake, alice, 1)
    await fake.send_message(alice.public_key, "p-1", "offer_dlc")
    ws = await _signed_in(gw, http, alice)
    await ws.send(op="subscribe", channels=["protocol"])
    await ws.expect("subscribed", channel="protocol", seq=1)  # starts at the latest
    await fake.send_message(alice.public_key, "p-1", "sign_dlc")
    live = await ws.expect("update", channel="protocol", seq=2)
    assert live["data"]["message_type"] == "sign_dlc"
    assert live["data"]["payload_hex"].startswith("a71a")
    await ws.close()
    for kind in ("close_offer", "close_confirm", "renew_offer"):
        await fake.send_message(alice.public_key, "p-1", kind)
    await fake.send_message(bob.public_key, "p-9", "offer_dlc")  # someone else's
    ws = await _signed_in(gw, http, alice)
    await ws.send(op="subscribe", channels=["protocol"], resume={"protocol": 2})
    missed = [await ws.expect("update", channel="protocol") for _ in range(3)]
    assert [m["seq"] for m in missed] == [3, 4, 5]
    assert [m["data"]["message_type"] for m in missed] == [
        "close_offer",
        "close_confirm",
        "renew_offer",
    ]
    await ws.expect("subscribed", channel="protocol", seq=5)


async def test_private_channels_need_a_session_and_are_the_keys_own(
    stack: Stack, http_factory
) -> None:
    fake = await stack.fake_dlc()
    gw = await stack.gateway()
    http = http_factory(gw)
    alice, mallory = TraderKey(), TraderKey()
    anonymous = await WsClient.open(gw)
    await anonymous.send(op="subscribe", channels=["positions"])
    error = await anonymous.expect("error", code="invalid_channel")
    assert "authenticate" in error["message"]
    await anonymous.send(op="auth", token="tt1_nonsense")
    await anonymous.expect("error", code="token_invalid")
    for bad in (["positions:" + alice.public_key], ["book"], ["nope"], "price", []):
        await anonymous.send(op="subscribe", channels=bad)
        await anonymous.expect("error")
    await anonymous.send(op="dance")
    await anonymous.expect("error", code="invalid_input")
    await anonymous.conn.send("not json")
    await anonymous.expect("error", code="invalid_input")

    watcher = await _signed_in(gw, http, mallory)
    await watcher.send(op="subscribe", channels=["positions"])
    await watcher.expect("snapshot", channel="positions", seq=0, data={"positions": []})
    await watcher.expect("subscribed", channel="positions", seq=0)
    await watcher.send(op="subscribe", channels=["protocol"])
    await watcher.expect("subscribed", channel="protocol", seq=0)
    await _change(fake, alice, 2)
    await fake.send_message(alice.public_key, "p-1", "offer_dlc")
    await _change(fake, mallory, 1)
    # Mallory hears of her own change only: Alice's two came first and were not sent.
    mine = await watcher.expect("update", channel="positions", seq=1)
    assert mine["data"]["position"]["position_id"] == "p-1"
    await watcher.send(op="ping")
    await watcher.expect("pong")


async def test_a_revoked_session_ends_the_connection(stack: Stack, http_factory) -> None:
    await stack.fake_dlc()
    gw = await stack.gateway(ws_heartbeat_s=0.3)
    http = http_factory(gw)
    alice = TraderKey()
    token = await alice.sign_in(http)
    ws = await WsClient.open(gw)
    await ws.send(op="auth", token=token)
    await ws.expect("authenticated")
    raw = await asyncio.wait_for(ws.conn.recv(), 5)
    assert json.loads(raw)["type"] == "heartbeat"
    await http.delete("/api/v1/auth/session", headers={"Authorization": f"Bearer {token}"})
    from websockets.exceptions import ConnectionClosed

    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(100):
            await asyncio.wait_for(ws.conn.recv(), 5)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        4001,
        "session expired or revoked",
    )


async def test_a_message_flood_closes_the_connection(stack: Stack) -> None:
    gw = await stack.gateway(ws_message_burst=5, ws_messages_per_s=0.5)
    ws = await WsClient.open(gw)
    from websockets.exceptions import ConnectionClosed

    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(50):
            await ws.send(op="ping")
            await ws.recv(5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    big = await WsClient.open(gw)
    with pytest.raises(ConnectionClosed) as closed:
        await big.send(op="ping", pad="x" * 20_000)
        await big.recv(5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_updates_reach_clients_of_every_replica(stack: Stack, http_factory) -> None:
    fake = await stack.fake_dlc()
    first = await stack.gateway()
    second = await stack.gateway()  # same Redis prefix: one gateway, two replicas
    http = http_factory(first)
    alice = TraderKey()
    clients = [await _signed_in(gw, http, alice) for gw in (first, second)]
    for ws in clients:
        await ws.send(op="subscribe", channels=["positions"])
        await ws.expect("snapshot", channel="positions", seq=0)
        await ws.expect("subscribed", channel="positions", seq=0)
    await _change(fake, alice, 12)
    for ws in clients:
        assert await _updates(ws, "positions", 12) == list(range(1, 13))
    # Each event was taken by one replica (shared queues) yet reached both hubs.
    assert _state(first).hub.subscribers(f"positions:{alice.public_key}") == 1


async def test_price_channel_follows_the_oracle(stack_pg: Stack) -> None:
    await stack_pg.oracle()
    gw = await stack_pg.gateway()
    ws = await WsClient.open(gw)
    await ws.send(op="subscribe", channels=["price"])
    snapshot = await ws.expect("snapshot", channel="price")
    assert float(snapshot["data"]["price"]) > 0
    subscribed = await ws.expect("subscribed", channel="price")
    seqs = [subscribed["seq"]]
    for _ in range(3):
        update = await ws.expect("update", channel="price")
        assert update["data"]["oracle"] == "oracle"
        seqs.append(update["seq"])
    assert seqs == list(range(seqs[0], seqs[0] + 4))


def _slow_client(url: str) -> socket.socket:
    """A client that completes the handshake and then never reads (tiny receive buffer)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /api/v1/ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    payload = json.dumps({"op": "subscribe", "channels": ["price"]}).encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    return sock


def _close_code(sock: socket.socket) -> int | None:
    """Read everything the server sent; the code of its close frame, if it sent one."""
    data = b""
    sock.settimeout(10)
    while chunk := sock.recv(1 << 20):
        data += chunk
    i = 0
    while i + 2 <= len(data):
        opcode, length = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if length == 126:
            (length,) = struct.unpack(">H", data[i : i + 2])
            i += 2
        elif length == 127:
            (length,) = struct.unpack(">Q", data[i : i + 8])
            i += 8
        if opcode == 0x8:
            (code,) = struct.unpack(">H", data[i : i + 2])
            return int(code)
        i += length
    return None


async def test_a_slow_consumer_is_cut_and_the_others_get_everything(stack: Stack) -> None:
    gw = await stack.gateway(ws_send_queue=100)
    assert gw.url is not None
    reader = await WsClient.open(gw, max_size=None, max_queue=1024)
    await reader.send(op="subscribe", channels=["price"])
    await reader.expect("subscribed", channel="price", seq=0, within=15)
    slow = await asyncio.to_thread(_slow_client, gw.url)
    hub = _state(gw).hub
    await wait_until(lambda: hub.subscribers("price") == 2, 10, what="both subscribed")
    received = asyncio.create_task(_updates(reader, "price", 400))
    # Another replica's consumer appending to the shared history: a burst of big
    # updates (8 MB), more than the slow client's socket buffers hold.
    redis = Redis.from_url(REDIS_URL)
    log = RedisChannelLog(redis, stack.redis_prefix, 600)
    filler = "x" * 20_000
    try:
        for _ in range(400):
            data = json.dumps({"price": "1.00", "pad": filler})
            await log.append("price", data, event_id=str(uuid.uuid4()), history=500)
    finally:
        await redis.aclose()
    assert await asyncio.wait_for(received, 60) == list(range(1, 401))
    await wait_until(lambda: hub.subscribers("price") == 1, 15, what="the slow one cut")
    assert await asyncio.to_thread(_close_code, slow) == 4008
    slow.close()
