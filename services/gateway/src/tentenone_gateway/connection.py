"""One WebSocket connection: its subscriptions, its send queue, its reader and heartbeat.

Client messages (JSON objects, at most ``ws_max_message_bytes``)::

    {"op": "auth", "token": "tt1_..."}
    {"op": "subscribe", "channels": ["book:<market>", "price", "orders"],
     "resume": {"book:<market>": 41}}
    {"op": "unsubscribe", "channels": ["price"]}
    {"op": "ping"}

Server messages: ``update`` and ``snapshot`` (``channel``, ``seq``, ``data``),
``subscribed`` (``channel``, ``seq``: where the client now is), ``unsubscribed``,
``authenticated``, ``heartbeat``, ``pong``, ``error`` (``code``, ``message``).

Per channel, updates come in sequence order with no gap and no repeat: a
client that resumes with the last ``seq`` it saw gets exactly the updates
after it, or, when they are no longer kept, a ``snapshot`` and the updates
after the snapshot's ``seq``. Live updates that arrive while a channel
catches up wait in ``pending`` and are merged by sequence number.

Close codes: 1003 binary frame, 1008 too many messages, 1009 message too
large, 1011 server error, 1013 not ready, 4001 session expired or revoked,
4008 slow consumer (more than ``ws_send_queue`` messages waiting).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from pydantic import TypeAdapter, ValidationError
from redis.exceptions import RedisError
from starlette.websockets import WebSocket, WebSocketState

from tentenone.errors import InvalidInput, TentenoneError, Unavailable
from tentenone.wire.gateway import AuthOp, ClientMessage, PingOp, SubscribeOp, UnsubscribeOp
from tentenone_gateway.auth import authenticate
from tentenone_gateway.channels import Channel, ChannelKind, Entry, parse_channel
from tentenone_gateway.hub import control_text, snapshot_text, update_text
from tentenone_gateway.metrics import WS_CLOSED, WS_CONNECTIONS, WS_SENT, WS_SUBSCRIPTIONS
from tentenone_gateway.sessions import Session
from tentenone_gateway.state import GatewayState

__all__ = ["Connection", "Snapshot", "Source"]

_log = logging.getLogger(__name__)
_PAGE = 200
#: merge rounds while updates keep arriving during a catch-up, before giving up
_MAX_ROUNDS = 100
_PUT_TIMEOUT_S = 10.0
#: tries to catch a channel up while its source is away (about 30 s in all)
_SYNC_ATTEMPTS = 9
_CLIENT_MESSAGE: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)


class Snapshot(NamedTuple):
    seq: int
    #: JSON text to send as the snapshot; None: nothing to send, the client is at ``seq``
    data: str | None


class Source(Protocol):
    """Where a channel kind's missed updates and snapshots come from."""

    #: pages of missed updates sent before a snapshot is sent instead (None: no limit)
    max_pages: int | None

    async def catch_up(self, channel: Channel, after: int, limit: int) -> list[Entry] | None: ...

    async def snapshot(self, channel: Channel) -> Snapshot: ...


@dataclass
class _Sub:
    channel: Channel
    last: int = 0
    syncing: bool = True
    pending: list[Entry] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    #: something was sent for it already (a retry resumes from ``last``)
    progressed: bool = False
    announced: bool = False


class _TooSlow(Exception):
    pass


class Connection:
    def __init__(
        self, ws: WebSocket, state: GatewayState, sources: dict[ChannelKind, Source]
    ) -> None:
        self.ws = ws
        self.state = state
        self.settings = state.settings
        self.sources = sources
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=self.settings.ws_send_queue)
        self.subs: dict[str, _Sub] = {}
        self.session: Session | None = None
        self.closing: tuple[int, str] | None = None
        self._done = asyncio.Event()
        self._tokens = float(self.settings.ws_message_burst)
        self._tokens_at = time.monotonic()

    # -- life ---------------------------------------------------------------

    async def serve(self) -> None:
        await self.ws.accept()
        hub = self.state.hub
        hub.connections.add(self)
        WS_CONNECTIONS.inc()
        tasks = [
            asyncio.create_task(self._read(), name="ws read"),
            asyncio.create_task(self._write(), name="ws write"),
            asyncio.create_task(self._heartbeat(), name="ws heartbeat"),
            asyncio.create_task(self._done.wait(), name="ws done"),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for sub in list(self.subs.values()):
                self._drop(sub)
            hub.connections.discard(self)
            WS_CONNECTIONS.dec()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._close_socket()
            WS_CLOSED.labels(str((self.closing or (1000, ""))[0])).inc()

    def cut(self, code: int, reason: str) -> None:
        """End the connection with ``code`` and ``reason`` (the first reason wins)."""
        if self.closing is None:
            self.closing = (code, reason[:120])
            self._done.set()

    async def close(self, code: int, reason: str) -> None:
        self.cut(code, reason)

    async def _close_socket(self) -> None:
        code, reason = self.closing or (1000, "")
        if self.ws.application_state is WebSocketState.DISCONNECTED:
            return
        with contextlib.suppress(Exception):
            # A slow client may not even take the close frame: do not wait on it.
            await asyncio.wait_for(self.ws.close(code, reason), 2.0)

    # -- sending --------------------------------------------------------------

    async def _write(self) -> None:
        while True:
            text = await self.queue.get()
            await self.ws.send_text(text)

    def _push(self, text: str) -> None:
        try:
            self.queue.put_nowait(text)
            WS_SENT.inc()
        except asyncio.QueueFull:
            self.cut(4008, f"slow consumer: more than {self.queue.maxsize} messages waiting")

    async def _put(self, text: str) -> None:
        try:
            await asyncio.wait_for(self.queue.put(text), _PUT_TIMEOUT_S)
            WS_SENT.inc()
        except TimeoutError:
            self.cut(4008, "slow consumer: the send queue did not drain")
            raise _TooSlow from None

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.ws_heartbeat_s)
            if self.session is not None:
                try:
                    live = await self.state.sessions.get(self.session.token_id)
                except (RedisError, OSError) as exc:
                    # Sessions unreachable for a moment: check again next beat.
                    _log.info("cannot check a WebSocket's session: %r", exc)
                    live = self.session
                if live is None:
                    self.cut(4001, "session expired or revoked")
                    return
            self._push(control_text("heartbeat", at=dt.datetime.now(dt.UTC).isoformat()))

    # -- receiving --------------------------------------------------------------

    async def _read(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                self.cut(1000, "")
                return
            text = message.get("text")
            if text is None:
                self.cut(1003, "send JSON text frames")
                return
            if len(text) > self.settings.ws_max_message_bytes:
                self.cut(1009, f"messages are limited to {self.settings.ws_max_message_bytes} B")
                return
            if not self._take_token():
                self.cut(1008, "too many messages")
                return
            try:
                await self._handle(text)
            except TentenoneError as exc:
                self._push(control_text("error", code=exc.code, message=exc.message))
            except (RedisError, OSError):
                self._push(control_text("error", code="unavailable", message="try again shortly"))

    def _take_token(self) -> bool:
        now = time.monotonic()
        s = self.settings
        self._tokens = min(
            float(s.ws_message_burst), self._tokens + (now - self._tokens_at) * s.ws_messages_per_s
        )
        self._tokens_at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    async def _handle(self, text: str) -> None:
        try:
            op = _CLIENT_MESSAGE.validate_json(text)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "message"
            raise InvalidInput(
                f"{where}: {first['msg']} (ops: auth, subscribe, unsubscribe, ping)"
            ) from None
        match op:
            case PingOp():
                self._push(control_text("pong"))
            case AuthOp():
                await self._auth(op.token)
            case SubscribeOp():
                self._subscribe(op.channels, op.resume)
            case UnsubscribeOp():
                for channel in self._channels(op.channels):
                    sub = self.subs.get(channel.key)
                    if sub is not None:
                        self._drop(sub)
                    self._push(control_text("unsubscribed", channel=channel.name))

    async def _auth(self, token: str) -> None:
        session = await authenticate(self.state, token)
        if self.session is not None and self.session.public_key != session.public_key:
            raise InvalidInput("this connection is signed in with another key; open a new one")
        self.session = session
        expires = dt.datetime.fromtimestamp(session.expires_at, dt.UTC)
        self._push(control_text("authenticated", public_key=session.public_key, expires_at=expires))

    def _channels(self, names: list[str]) -> list[Channel]:
        owner = self.session.public_key if self.session else None
        return [parse_channel(n, owner) for n in names]

    def _subscribe(self, names: list[str], resume: dict[str, int]) -> None:
        channels = self._channels(names)
        new = [c for c in channels if c.key not in self.subs]
        if len(self.subs) + len(new) > self.settings.ws_max_subscriptions:
            raise InvalidInput(f"at most {self.settings.ws_max_subscriptions} subscriptions")
        for channel in new:
            sub = _Sub(channel)
            self.subs[channel.key] = sub
            # Subscribed before catching up: live updates wait in pending meanwhile.
            self.state.hub.subscribe(channel.key, self)
            WS_SUBSCRIPTIONS.inc()
            after = resume.get(channel.name)
            sub.task = asyncio.create_task(self._sync(sub, after, announce=True))

    def _drop(self, sub: _Sub) -> None:
        self.state.hub.unsubscribe(sub.channel.key, self)
        if self.subs.pop(sub.channel.key, None) is not None:
            WS_SUBSCRIPTIONS.dec()
        task = sub.task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    # -- sequencing -------------------------------------------------------------

    def on_update(self, key: str, entry: Entry, text: str) -> None:
        sub = self.subs.get(key)
        if sub is None:
            return
        if sub.syncing:
            sub.pending.append(entry)
        elif entry.seq <= sub.last:
            return  # a repeat (redelivery, or already in a snapshot)
        elif entry.seq == sub.last + 1:
            sub.last = entry.seq
            self._push(text)
        else:
            # A gap: something was lost on the way here. Refill from the source.
            sub.syncing = True
            sub.pending.append(entry)
            sub.task = asyncio.create_task(self._sync(sub, sub.last, announce=False))

    def resync(self) -> None:
        for sub in self.subs.values():
            if not sub.syncing:
                sub.syncing = True
                sub.task = asyncio.create_task(self._sync(sub, sub.last, announce=False))

    async def _sync(self, sub: _Sub, after: int | None, *, announce: bool) -> None:
        """Catch ``sub`` up (from ``after``, or a snapshot), merge pending, go live.

        A source that is briefly away (Redis failing over, a service
        restarting) is retried with backoff; the subscription is given up,
        with an error the client can act on, only after ``_SYNC_ATTEMPTS``.
        """
        backoff = 0.25
        for attempt in range(1, _SYNC_ATTEMPTS + 1):
            try:
                # After a partial catch-up, go on from where it got to.
                await self._sync_once(sub, sub.last if sub.progressed else after, announce)
                return
            except _TooSlow:
                return
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, Unavailable) as exc:
                if attempt == _SYNC_ATTEMPTS:
                    code = exc.code if isinstance(exc, Unavailable) else "unavailable"
                    self._give_up(sub, code, "the channel's source is unavailable; subscribe again")
                    return
                _log.info(
                    "catching up on %s: %r; retrying in %.2f s", sub.channel.name, exc, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(5.0, backoff * 2)
            except TentenoneError as exc:
                self._give_up(sub, exc.code, exc.message)
                return
            except Exception:
                _log.exception("catching up on %s failed", sub.channel.name)
                self._give_up(sub, "internal", "try again later")
                return

    def _give_up(self, sub: _Sub, code: str, message: str) -> None:
        self._drop(sub)
        self._push(control_text("error", channel=sub.channel.name, code=code, message=message))

    async def _sync_once(self, sub: _Sub, after: int | None, announce: bool) -> None:
        source = self.sources[sub.channel.kind]
        if after is None:
            await self._snapshot(sub, source)
        else:
            sub.last = after
            await self._catch_up(sub, source)
        for _ in range(_MAX_ROUNDS):
            if len(sub.pending) > self.queue.maxsize:
                self.cut(4008, f"slow consumer: cannot catch up on {sub.channel.name}")
                raise _TooSlow
            if await self._merge_pending(sub):
                await self._catch_up(sub, source)
                continue
            if sub.pending:
                continue
            if announce and not sub.announced:
                sub.announced = True
                await self._put(control_text("subscribed", channel=sub.channel.name, seq=sub.last))
                continue
            sub.syncing = False
            return
        self.cut(4008, f"slow consumer: cannot catch up on {sub.channel.name}")
        raise _TooSlow

    async def _merge_pending(self, sub: _Sub) -> bool:
        """Send the pending updates that follow ``last``; True if a gap remains."""
        pending = sorted(sub.pending, key=lambda e: e.seq)
        sub.pending = []
        for i, entry in enumerate(pending):
            if entry.seq <= sub.last:
                continue
            if entry.seq != sub.last + 1:
                sub.pending = pending[i:] + sub.pending
                return True
            sub.last = entry.seq
            sub.progressed = True
            await self._put(update_text(sub.channel, entry))
        return False

    async def _catch_up(self, sub: _Sub, source: Source) -> None:
        pages = 0
        while True:
            entries = await source.catch_up(sub.channel, sub.last, _PAGE)
            if entries is None:
                await self._snapshot(sub, source)
                return
            for entry in entries:
                sub.last = entry.seq
                sub.progressed = True
                await self._put(update_text(sub.channel, entry))
            if len(entries) < _PAGE:
                return
            pages += 1
            if source.max_pages is not None and pages >= source.max_pages:
                await self._snapshot(sub, source)
                return

    async def _snapshot(self, sub: _Sub, source: Source) -> None:
        snap = await source.snapshot(sub.channel)
        sub.last = snap.seq
        sub.progressed = True
        if snap.data is not None:
            await self._put(snapshot_text(sub.channel, snap.seq, snap.data))
