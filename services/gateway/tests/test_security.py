"""Hostile input at the gateway: each refused with the right status, and nothing changed.

The DLC routes run against the throwaway DLC service of ``fake_dlc`` on the
real bus (the real DLC service comes with issue 9); "nothing changed" is
checked in what that service received and stored.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from .conftest import Stack, TraderKey, bearer
from .test_auth import _problem


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


#: a public route the gateway answers itself (``/markets`` asks the order book)
LOCAL = "/api/v1/openapi.json"


async def test_a_token_never_reaches_another_keys_resources(stack: Stack, http_factory) -> None:
    fake = await stack.fake_dlc()
    gw = await stack.gateway()
    http = http_factory(gw)
    alice, mallory = TraderKey(), TraderKey()
    await fake.open_position(alice.public_key, "alice-1")
    await fake.send_message(alice.public_key, "alice-1", "offer_dlc")
    alice_token, mallory_token = await alice.sign_in(http), await mallory.sign_in(http)
    assert (await http.get("/api/v1/positions/alice-1", headers=bearer(alice_token))).is_success
    assert (
        await http.put(
            "/api/v1/backup",
            json={"version": 5, "data_b64": _b64(b"alice")},
            headers=bearer(alice_token),
        )
    ).is_success
    fake.callers.clear()

    as_mallory = bearer(mallory_token)
    for method, path, body in [
        ("GET", "/api/v1/positions/alice-1", None),
        ("GET", "/api/v1/positions/alice-1/messages", None),
        (
            "POST",
            "/api/v1/positions/alice-1/messages",
            {"message_type": "accept_dlc", "payload_hex": "00"},
        ),
        ("POST", "/api/v1/positions/alice-1/close-quote", None),
        ("POST", "/api/v1/positions/alice-1/close", {"quote_id": "q-1"}),
        ("POST", "/api/v1/positions/alice-1/rollover", None),
    ]:
        reply = await http.request(method, path, json=body, headers=as_mallory)
        _problem(reply, 404, "not_found")
    # Lists answer with Mallory's own (empty) things, never Alice's.
    listed = await http.get("/api/v1/positions", headers=as_mallory)
    assert listed.json() == {"positions": [], "state_number": 0}
    messages = await http.get("/api/v1/protocol/messages", headers=as_mallory)
    assert messages.json() == {"messages": [], "last_seq": 0}
    _problem(await http.get("/api/v1/backup", headers=as_mallory), 404, "not_found")
    # Mallory's backup is Mallory's: Alice's stays as it was.
    put = await http.put(
        "/api/v1/backup", json={"version": 9, "data_b64": _b64(b"mallory")}, headers=as_mallory
    )
    assert put.is_success
    assert fake.backups[alice.public_key].version == 5
    # Every call the DLC service saw carried the token's key, nobody else's.
    assert fake.callers and set(fake.callers) == {mallory.public_key}
    assert fake.submitted == []


async def test_backups_never_go_back_a_version(stack: Stack, http_factory) -> None:
    fake = await stack.fake_dlc()
    gw = await stack.gateway()
    http = http_factory(gw)
    alice = TraderKey()
    auth = bearer(await alice.sign_in(http))
    put = await http.put(
        "/api/v1/backup", json={"version": 2, "data_b64": _b64(b"v2")}, headers=auth
    )
    assert put.status_code == 200 and put.json()["version"] == 2
    # The same version and bytes again: a no-op that succeeds (a retried upload).
    again = await http.put(
        "/api/v1/backup", json={"version": 2, "data_b64": _b64(b"v2")}, headers=auth
    )
    assert again.status_code == 200
    for version, data in ((1, b"v1"), (2, b"other")):
        stale = await http.put(
            "/api/v1/backup", json={"version": version, "data_b64": _b64(data)}, headers=auth
        )
        body = _problem(stale, 409, "stale_backup")
        assert body["details"]["stored_version"] == 2
    got = await http.get("/api/v1/backup", headers=auth)
    assert got.json()["data_b64"] == _b64(b"v2")
    assert fake.backups[alice.public_key].version == 2


async def test_oversized_and_malformed_bodies_change_nothing(stack: Stack, http_factory) -> None:
    fake = await stack.fake_dlc()
    gw = await stack.gateway(max_body_bytes=4096, max_protocol_body_bytes=8192)
    http = http_factory(gw)
    alice = TraderKey()
    await fake.open_position(alice.public_key, "p-1")
    auth = bearer(await alice.sign_in(http))
    url = "/api/v1/positions/p-1/messages"
    cases: list[tuple[dict[str, Any], int, str]] = [
        # Above the route's limit (declared, then streamed without a length).
        (
            {"content": b'{"message_type":"accept_dlc","payload_hex":"' + b"00" * 5000 + b'"}'},
            413,
            "payload_too_large",
        ),
        (
            {"content": b"{" * 100, "headers": {"content-type": "text/plain"}},
            415,
            "unsupported_media_type",
        ),
        ({"content": b"{not json"}, 422, "invalid_input"),
        ({"content": b"[1, 2]"}, 422, "invalid_input"),
        ({"json": {"message_type": "accept_dlc", "payload_hex": "abc"}}, 422, "invalid_input"),
        ({"json": {"message_type": "Accept!", "payload_hex": "00"}}, 422, "invalid_input"),
        (
            {
                "json": {
                    "message_type": "accept_dlc",
                    "payload_hex": "00",
                    "trader_pubkey": "ff" * 32,
                }
            },
            422,
            "invalid_input",
        ),
    ]
    for kwargs, status, code in cases:
        headers = {"content-type": "application/json", **kwargs.pop("headers", {}), **auth}
        reply = await http.post(url, headers=headers, **kwargs)
        _problem(reply, status, code)

    async def chunks() -> Any:
        yield b'{"message_type":"accept_dlc","payload_hex":"'
        for _ in range(10):
            yield b"00" * 1000
        yield b'"}'

    streamed = await http.post(
        url, content=chunks(), headers={"content-type": "application/json", **auth}
    )
    _problem(streamed, 413, "payload_too_large")
    # Big protocol messages have their own, larger limit.
    ok = await http.post(
        url, json={"message_type": "accept_dlc", "payload_hex": "00" * 3000}, headers=auth
    )
    assert ok.status_code == 200, ok.text
    assert [m.payload_hex for m in fake.submitted] == ["00" * 3000]
    # A huge declared length is refused before anything is read (raw socket:
    # HTTP clients will not send a length they do not mean).
    assert gw.url is not None
    host, port = gw.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /api/v1/auth/challenge HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 999999999\r\n\r\n{}"
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status_line.split()[1] == b"413"


async def test_a_flood_is_cut_by_ip_and_by_key_with_retry_after(stack: Stack, http_factory) -> None:
    fake = await stack.fake_dlc()
    gw = await stack.gateway(
        ip_burst=30, ip_per_s=0.01, key_burst=5, key_per_s=0.01, auth_burst=3, auth_per_s=0.01
    )
    http = http_factory(gw)
    alice = TraderKey()
    # Sign-in attempts have the tightest bucket (per address).
    token = await alice.sign_in(http)  # two requests: challenge, session
    await alice.challenge(http)
    flood = await http.post("/api/v1/auth/challenge", json={"public_key": alice.public_key})
    body = _problem(flood, 429, "rate_limited")
    assert int(flood.headers["retry-after"]) >= 1
    assert body["details"]["limit"] == "auth"
    # Per key: the key's bucket runs dry before the address's.
    auth = bearer(token)
    statuses = []
    for version in range(1, 9):
        reply = await http.put(
            "/api/v1/backup", json={"version": version, "data_b64": _b64(b"x")}, headers=auth
        )
        statuses.append(reply.status_code)
    assert statuses == [200] * 5 + [429] * 3
    # Refused requests never reached the DLC service.
    assert fake.backups[alice.public_key].version == 5
    # Per address: everything from this address stops, signed in or not.
    for _ in range(40):
        last = await http.get("/api/v1/markets")
        if last.status_code == 429:
            break
    _problem(last, 429, "rate_limited")
    assert int(last.headers["retry-after"]) >= 1
    # Health probes are not rate limited (the kubelet must always get through).
    assert (await http.get("/healthz")).status_code == 200


async def test_forwarded_headers_count_only_from_trusted_proxies(
    stack: Stack, http_factory
) -> None:
    trusting = await stack.gateway(ip_burst=2, ip_per_s=0.01, trusted_proxies=["127.0.0.0/8"])
    http = http_factory(trusting)
    # Behind a trusted proxy, each client address has its own bucket...
    for client in ("198.51.100.1", "198.51.100.2"):
        for _ in range(2):
            reply = await http.get(LOCAL, headers={"X-Forwarded-For": client})
            assert reply.status_code == 200
    # ...and what the client wrote left of the proxy's entry does not count.
    spoof = {"X-Forwarded-For": "203.0.113.7, 198.51.100.1"}
    assert (await http.get(LOCAL, headers=spoof)).status_code == 429

    untrusting = await stack.gateway(
        ip_burst=2, ip_per_s=0.01, redis_prefix=stack.redis_prefix + "u:"
    )
    http = http_factory(untrusting)
    codes = [
        (await http.get(LOCAL, headers={"X-Forwarded-For": f"198.51.100.{i}"})).status_code
        for i in range(3)
    ]
    # Without trusted proxies the header is ignored: one address, one bucket.
    assert codes == [200, 200, 429]


async def test_security_headers_cors_and_problem_shapes(stack: Stack, http_factory) -> None:
    gw = await stack.gateway(cors_origins=["https://app.tentenone.test"])
    http = http_factory(gw)
    reply = await http.get(LOCAL)
    for header, value in {
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
        "cache-control": "no-store",
    }.items():
        assert reply.headers[header] == value
    assert "max-age" in reply.headers["strict-transport-security"]
    assert "frame-ancestors 'none'" in reply.headers["content-security-policy"]
    assert "server" not in reply.headers
    preflight = {
        "Origin": "https://app.tentenone.test",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    ok = await http.options("/api/v1/auth/challenge", headers=preflight)
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://app.tentenone.test"
    evil = await http.options(
        "/api/v1/auth/challenge", headers={**preflight, "Origin": "https://evil.test"}
    )
    assert "access-control-allow-origin" not in evil.headers
    _problem(await http.get("/api/v1/nothing-here"), 404, "not_found")
    _problem(await http.delete("/api/v1/markets"), 405, "method_not_allowed")
    _problem(await http.get("/api/v1/markets/NOT-A-MARKET"), 422, "invalid_input")


async def test_node_info_is_503_until_a_service_serves_it(stack: Stack, http_factory) -> None:
    await stack.fake_dlc()  # serves the DLC contract but not get_node_info
    gw = await stack.gateway()
    http = http_factory(gw)
    body = _problem(await http.get("/api/v1/node-info"), 503, "upstream_unavailable")
    assert "dlc.get_node_info" in body["detail"]


async def test_routes_behind_a_missing_service_are_503(stack: Stack, http_factory) -> None:
    gw = await stack.gateway()
    http = http_factory(gw)
    alice = TraderKey()
    auth = bearer(await alice.sign_in(http))
    body = _problem(await http.get("/api/v1/positions", headers=auth), 503, "upstream_unavailable")
    assert "dlc" in body["detail"]
