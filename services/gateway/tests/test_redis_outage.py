"""Redis goes away (SIGKILL of a private redis-server) and comes back.

While it is away the gateway answers 503 problems (never 500s, never an
unlimited request), /readyz says why; once it is back, sessions (append-only
file) and the WebSocket carry on, with the updates made meanwhile delivered
in order. Positions come from the throwaway DLC service of ``fake_dlc``.
"""

from __future__ import annotations

import httpx

from tentenone.testing import wait_until

from .conftest import PrivateRedis, Stack, TraderKey, WsClient, bearer
from .test_auth import _problem
from .test_websocket import _change, _updates


async def test_requests_are_503_while_redis_is_away_and_all_resumes(
    stack: Stack, http_factory, private_redis: PrivateRedis
) -> None:
    fake = await stack.fake_dlc()
    gw = await stack.gateway(redis_url=private_redis.url)
    http = http_factory(gw)
    alice = TraderKey()
    token = await alice.sign_in(http)
    ws = await WsClient.open(gw)
    await ws.send(op="auth", token=token)
    await ws.expect("authenticated")
    await ws.send(op="subscribe", channels=["positions"])
    await ws.expect("snapshot", channel="positions", seq=0)
    await ws.expect("subscribed", channel="positions", seq=0)
    await _change(fake, alice, 2)
    assert await _updates(ws, "positions", 2) == [1, 2]

    private_redis.kill()
    _problem(await http.get("/api/v1/markets"), 503, "unavailable")
    reply = await http.get("/api/v1/auth/session", headers=bearer(token))
    assert reply.status_code == 503
    ready = await http.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["redis"] != "ok"
    assert (await http.get("/healthz")).status_code == 200
    await _change(fake, alice, 3)  # made while the gateway cannot record them

    private_redis.start()
    await wait_until(lambda: _ready(http), 30, what="the gateway ready again")
    # The session outlived the restart (append-only file); a request racing the
    # reconnection may still get a 503 with Retry-After, as clients expect.
    await wait_until(lambda: _status(http, token, 200), 15, what="the session works again")
    await _change(fake, alice, 1)
    # Events retried after the outage may land out of order; where the history
    # then has a hole, a snapshot stands in for it. Either way: in order, no
    # repeat, up to the last change.
    seqs: list[int] = []
    while not seqs or seqs[-1] < 6:
        message = await ws.recv()
        assert message["type"] in ("update", "snapshot"), message
        assert message["seq"] > (seqs[-1] if seqs else 2), message
        if message["type"] == "update" and seqs:
            assert message["seq"] == seqs[-1] + 1
        seqs.append(message["seq"])


async def _status(http: httpx.AsyncClient, token: str, status: int) -> bool:
    reply = await http.get("/api/v1/auth/session", headers=bearer(token))
    assert reply.status_code in (status, 503), reply.text
    return reply.status_code == status


async def _ready(http: httpx.AsyncClient) -> bool:
    return (await http.get("/readyz")).status_code == 200
