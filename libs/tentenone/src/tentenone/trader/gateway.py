"""The trader's client of the coordinator's gateway: REST with a signed-challenge session,
and the WebSocket with per-channel sequence resume.

:class:`GatewayApi` is what the protocol engine and the ``Trader`` need (a
small interface: a test or another transport can stand in for it);
:class:`HttpGateway` implements it over ``httpx`` and ``websockets``.

Sign-in (ADR 0090): ``POST /auth/challenge`` with the node key, check the
challenge's text names our key and the nonce, sign its digest with BIP-340,
``POST /auth/session``; the bearer token goes on every private call and is
renewed on a 401. Errors come back as problem details; each becomes the
``tentenone.errors`` class of its ``code`` (or ``RemoteError``), and a
network failure or a 5xx is ``GatewayUnavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import httpx
import websockets

from tentenone.bitcoin.hashes import tagged_hash
from tentenone.errors import RemoteError, TentenoneError, error_class_for_code
from tentenone.trader.errors import GatewayUnavailable
from tentenone.wire.gateway import (
    CloseQuotePublic,
    PositionList,
    PositionPublic,
    ProtocolMessageList,
)

__all__ = [
    "AUTH_TAG",
    "ChannelUpdate",
    "GatewayApi",
    "HttpGateway",
    "OrderPlacement",
]

AUTH_TAG = "tentenone/auth"
_PREFIX = "/api/v1"


@dataclass(frozen=True, slots=True)
class OrderPlacement:
    """An order as the gateway takes it (prices in US cents, sent as decimal dollars)."""

    client_order_id: str
    market: str
    side: str  # buy | sell
    quantity: int
    leverage: int
    order_type: str = "limit"
    price_cents: int | None = None
    time_in_force: str = "gtc"
    #: the wallet's free coins now (sat): the order book counts fills against them
    available_margin_sat: int | None = None


@dataclass(frozen=True, slots=True)
class ChannelUpdate:
    """One ``update`` or ``snapshot`` of a WebSocket channel."""

    kind: str  # update | snapshot
    channel: str
    seq: int
    data: dict[str, Any]


class GatewayApi(Protocol):
    """What the trader needs of the coordinator."""

    async def protocol_messages(self, after_seq: int, limit: int = 50) -> ProtocolMessageList: ...

    async def submit_message(
        self, position_id: str, message_type: str, payload_hex: str
    ) -> PositionPublic: ...

    async def position(self, position_id: str) -> PositionPublic: ...

    async def positions(self, status: str = "all") -> PositionList: ...

    async def close_quote(self, position_id: str) -> CloseQuotePublic: ...

    async def accept_close(self, position_id: str, quote_id: str) -> PositionPublic: ...

    async def rollover(self, position_id: str) -> PositionPublic: ...

    async def attestation_tlv(self, event_id: str) -> bytes | None:
        """The oracle's attestation of ``event_id`` (dlcspecs TLV), or None before maturity."""
        ...

    async def put_backup(self, version: int, blob: bytes) -> None: ...

    async def get_backup(self) -> bytes | None: ...

    async def state_number(self) -> int: ...

    async def place_order(self, order: OrderPlacement) -> dict[str, Any]: ...

    async def cancel_order(self, market: str, order_id: str) -> dict[str, Any]: ...

    async def close(self) -> None: ...


def _usd(cents: int) -> str:
    return str(Decimal(cents).scaleb(-2).quantize(Decimal("0.01")))


def _error(reply: httpx.Response) -> TentenoneError:
    """The typed error of a problem-details reply."""
    try:
        body = reply.json()
    except ValueError:
        body = {}
    code = str(body.get("code") or f"http_{reply.status_code}")
    detail = str(body.get("detail") or reply.text[:200] or reply.reason_phrase)
    if reply.status_code >= 500:
        # the gateway or a service behind it is down or restarting (a DLC service killed
        # mid-flow answers rpc_timeout): try again later, never count it as a refusal
        return GatewayUnavailable(f"the gateway answered {reply.status_code} {code}: {detail}")
    cls = error_class_for_code(code)
    if cls is None or issubclass(cls, RemoteError):
        return RemoteError(detail, remote_code=code, remote_status=reply.status_code)
    try:
        return cls(detail)
    except TypeError:  # an error class whose constructor wants more
        return RemoteError(detail, remote_code=code, remote_status=reply.status_code)


class HttpGateway:
    """``GatewayApi`` over the gateway's REST API; ``updates`` follows its WebSocket."""

    def __init__(
        self,
        base_url: str,
        public_key: bytes,
        sign: Callable[[bytes], bytes],
        *,
        timeout_s: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.public_key = public_key.hex()
        self._sign = sign
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout_s, transport=transport
        )
        self._token: str | None = None
        self._auth_lock = asyncio.Lock()

    async def close(self) -> None:
        await self._http.aclose()

    # -- session -------------------------------------------------------------------

    async def sign_in(self) -> str:
        """A fresh session token for our node key."""
        challenge = await self._send("POST", "/auth/challenge", {"public_key": self.public_key})
        nonce, expires = challenge["nonce"], challenge["expires_at"]
        message = str(challenge["message"])
        # Sign only what we can read: our key and the nonce, under the auth tag.
        if f"key: {self.public_key}" not in message or f"nonce: {nonce}" not in message:
            raise GatewayUnavailable("the gateway's challenge does not name our key and nonce")
        digest = tagged_hash(AUTH_TAG, message.encode())
        if digest.hex() != challenge["digest"]:
            raise GatewayUnavailable("the gateway's challenge digest does not match its text")
        del expires
        body = {
            "public_key": self.public_key,
            "nonce": nonce,
            "signature": self._sign(digest).hex(),
        }
        session = await self._send("POST", "/auth/session", body)
        self._token = str(session["token"])
        return self._token

    async def _token_now(self) -> str:
        async with self._auth_lock:
            if self._token is None:
                await self.sign_in()
            assert self._token is not None
            return self._token

    # -- transport -------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        token: str | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            reply = await self._http.request(
                method, f"{_PREFIX}{path}", json=body, params=params, headers=headers
            )
        except httpx.HTTPError as exc:
            raise GatewayUnavailable(
                f"the gateway at {self.base_url} cannot be reached: {exc!r}"
            ) from None
        if reply.status_code >= 400:
            raise _error(reply)
        return reply.json() if reply.content else None

    async def _private(
        self, method: str, path: str, body: Any = None, *, params: Mapping[str, Any] | None = None
    ) -> Any:
        token = await self._token_now()
        try:
            return await self._send(method, path, body, params=params, token=token)
        except TentenoneError as exc:
            if exc.http_status != 401 and getattr(exc, "remote_status", None) != 401:
                raise
        self._token = None  # expired or revoked: sign in again, once
        return await self._send(method, path, body, params=params, token=await self._token_now())

    # -- the DLC protocol ----------------------------------------------------------------

    async def protocol_messages(self, after_seq: int, limit: int = 50) -> ProtocolMessageList:
        found = await self._private(
            "GET", "/protocol/messages", params={"after_seq": after_seq, "limit": limit}
        )
        return ProtocolMessageList.model_validate(found)

    async def submit_message(
        self, position_id: str, message_type: str, payload_hex: str
    ) -> PositionPublic:
        body = {"message_type": message_type, "payload_hex": payload_hex}
        found = await self._private("POST", f"/positions/{position_id}/messages", body)
        return PositionPublic.model_validate(found)

    async def position(self, position_id: str) -> PositionPublic:
        return PositionPublic.model_validate(
            await self._private("GET", f"/positions/{position_id}")
        )

    async def positions(self, status: str = "all") -> PositionList:
        found = await self._private("GET", "/positions", params={"status": status})
        return PositionList.model_validate(found)

    async def close_quote(self, position_id: str) -> CloseQuotePublic:
        found = await self._private("POST", f"/positions/{position_id}/close-quote")
        return CloseQuotePublic.model_validate(found)

    async def accept_close(self, position_id: str, quote_id: str) -> PositionPublic:
        found = await self._private(
            "POST", f"/positions/{position_id}/close", {"quote_id": quote_id}
        )
        return PositionPublic.model_validate(found)

    async def rollover(self, position_id: str) -> PositionPublic:
        found = await self._private("POST", f"/positions/{position_id}/rollover")
        return PositionPublic.model_validate(found)

    async def attestation_tlv(self, event_id: str) -> bytes | None:
        try:
            found = await self._send("GET", f"/oracle/attestations/{event_id}")
        except TentenoneError as exc:
            if exc.http_status == 404 or getattr(exc, "remote_status", None) == 404:
                return None
            raise
        return bytes.fromhex(found["attestation_tlv"])

    async def announcement_tlv(self, event_id: str) -> bytes:
        found = await self._send("GET", f"/oracle/announcements/{event_id}")
        return bytes.fromhex(found["announcement_tlv"])

    async def markets(self) -> list[dict[str, Any]]:
        found = await self._send("GET", "/markets")
        return list(found["markets"])

    # -- backups -------------------------------------------------------------------------

    async def put_backup(self, version: int, blob: bytes) -> None:
        import base64

        body = {"version": version, "data_b64": base64.b64encode(blob).decode()}
        await self._private("PUT", "/backup", body)

    async def get_backup(self) -> bytes | None:
        import base64

        try:
            found = await self._private("GET", "/backup")
        except TentenoneError as exc:
            if exc.http_status == 404 or getattr(exc, "remote_status", None) == 404:
                return None
            raise
        return base64.b64decode(found["data_b64"])

    async def state_number(self) -> int:
        return int((await self._private("GET", "/state-number"))["state_number"])

    # -- orders ----------------------------------------------------------------------------

    async def place_order(self, order: OrderPlacement) -> dict[str, Any]:
        body = {
            "client_order_id": order.client_order_id,
            "market": order.market,
            "side": order.side,
            "quantity": order.quantity,
            "leverage": order.leverage,
            "order_type": order.order_type,
            "time_in_force": order.time_in_force,
            "price": None if order.price_cents is None else _usd(order.price_cents),
        }
        if order.available_margin_sat is not None:
            body["available_margin_sat"] = order.available_margin_sat
        found: dict[str, Any] = await self._private("POST", "/orders", body)
        return found

    async def cancel_order(self, market: str, order_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._private("DELETE", f"/orders/{market}/{order_id}")
        return found

    # -- the WebSocket ---------------------------------------------------------------------

    async def updates(
        self, channels: list[str], resume: Mapping[str, int]
    ) -> AsyncIterator[ChannelUpdate]:
        """Follow ``channels`` from the ``seq`` each was last seen at; reconnects for ever.

        ``resume`` is read again on every reconnect (the caller keeps it
        current), so nothing is missed or repeated across a dropped link.
        """
        ws_url = "ws" + self.base_url.removeprefix("http") + f"{_PREFIX}/ws"
        delay = 0.5
        while True:
            try:
                async with websockets.connect(ws_url, max_size=16 * 1024 * 1024) as ws:
                    await ws.send(json.dumps({"op": "auth", "token": await self._token_now()}))
                    op = {"op": "subscribe", "channels": channels, "resume": dict(resume)}
                    await ws.send(json.dumps(op))
                    delay = 0.5
                    async for text in ws:
                        message = json.loads(text)
                        kind = message.get("type")
                        if kind in ("update", "snapshot"):
                            yield ChannelUpdate(
                                kind, message["channel"], int(message["seq"]), message["data"]
                            )
                        elif kind == "error" and message.get("code") == "unauthorized":
                            self._token = None
                            break
            except (OSError, websockets.WebSocketException, TentenoneError):
                pass
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


@contextlib.asynccontextmanager
async def open_gateway(
    base_url: str, public_key: bytes, sign: Callable[[bytes], bytes]
) -> AsyncIterator[HttpGateway]:
    gateway = HttpGateway(base_url, public_key, sign)
    try:
        yield gateway
    finally:
        await gateway.close()
