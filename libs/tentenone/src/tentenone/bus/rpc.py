"""RPC over AMQP in nameko's wire format: request/reply with correlation ids and timeouts.

Request: published to the ``nameko-rpc`` topic exchange with routing key
``<service>.<method>``, body ``{"args": [...], "kwargs": {...}}``,
``reply_to`` = the caller's reply routing key, ``correlation_id`` = a fresh
id per call (the trace id travels in the ``correlation_id`` header).
Reply: published to the same exchange with routing key ``reply_to`` and the
request's ``correlation_id``, body ``{"result": ..., "error": null | {...}}``
where an error has nameko's keys (``exc_type``, ``exc_path``, ``exc_args``,
``value``) plus ours (``code``, ``message``, ``details``), so a caller gets
back the same ``TentenoneError`` class (by code) or a ``RemoteError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tentenone.bus.errors import (
    BusUnavailable,
    MalformedReply,
    MessageTooLarge,
    MethodNotFound,
    RpcTimeout,
)
from tentenone.bus.events import incoming_correlation_id
from tentenone.bus.message import Delivery, Envelope
from tentenone.bus.naming import Names
from tentenone.bus.policy import BusLimits
from tentenone.bus.transport import (
    ConsumerHandle,
    ExchangeKind,
    QueueKind,
    QueueSpec,
    Transport,
)
from tentenone.errors import RemoteError, TentenoneError, error_class_for_code
from tentenone.logging import bind_correlation_id, get_correlation_id, new_correlation_id
from tentenone.metrics import MESSAGE_LATENCY, MESSAGES, RPC_CALLS, RPC_LATENCY
from tentenone.wire.errors import MalformedMessage

__all__ = [
    "GroupHandler",
    "RpcCall",
    "RpcClient",
    "RpcHandler",
    "RpcServer",
    "decode_reply",
    "encode_error",
    "encode_request",
]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RpcCall:
    """An incoming request as a handler sees it."""

    service: str
    method: str
    args: list[Any]
    kwargs: dict[str, Any]
    #: the trace id (logs, onward messages)
    correlation_id: str
    #: the AMQP correlation id: one per call, the same on a redelivery
    request_id: str
    headers: Mapping[str, Any] = field(default_factory=dict)


type RpcHandler = Callable[[RpcCall], Awaitable[Any]]
#: handles several calls of one method at once; per call its result or the exception
#: it failed with, in the order of the calls
type GroupHandler = Callable[[Sequence[RpcCall]], Awaitable[Sequence[Any]]]


def encode_request(args: list[Any], kwargs: dict[str, Any]) -> bytes:
    try:
        return json.dumps({"args": args, "kwargs": kwargs}, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise MalformedMessage(f"RPC arguments are not JSON-serialisable: {exc}") from exc


def _json_safe(value: Any) -> Any:
    result: Any = json.loads(json.dumps(value, default=str))
    return result


def encode_error(exc: BaseException) -> dict[str, Any]:
    """nameko's error dict, plus our stable code, message and details."""
    if isinstance(exc, TentenoneError):
        code, message, details = exc.code, exc.message, _json_safe(exc.details)
        status = exc.http_status
    else:
        # A bug on our side: say what kind, keep the text; callers get RemoteError.
        code, message, details = "internal", f"{type(exc).__name__}: {exc}", {}
        status = TentenoneError.http_status
    cls = type(exc)
    return {
        "exc_type": cls.__name__,
        "exc_path": f"{cls.__module__}.{cls.__qualname__}",
        "exc_args": [message],
        "value": message,
        "code": code,
        "message": message,
        "details": details,
        # So a caller that does not know this code (the gateway) still answers
        # with the right HTTP status (RemoteError.remote_status).
        "http_status": status,
    }


def decode_error(error: Mapping[str, Any]) -> TentenoneError:
    """The exception a reply's error dict stands for."""
    code = error.get("code")
    message = error.get("message") or error.get("value") or ""
    if not isinstance(message, str):
        message = str(message)
    if isinstance(code, str) and code:
        details = error.get("details")
        details = dict(details) if isinstance(details, Mapping) else {}
        cls = error_class_for_code(code) if code != TentenoneError.code else None
        if cls is not None:
            try:
                return cls(message, **details)
            except TypeError:
                pass
        details.pop("remote_code", None)
        details.pop("remote_status", None)
        status = error.get("http_status")
        if isinstance(status, int) and not isinstance(status, bool) and 400 <= status <= 599:
            details["remote_status"] = status
        return RemoteError(message, remote_code=code, **details)
    # A nameko (or non-tentenone) error: its class name is the best code there is.
    exc_type = error.get("exc_type")
    remote_code = exc_type if isinstance(exc_type, str) and exc_type else "internal"
    return RemoteError(
        f"{remote_code}: {message}", remote_code=remote_code, exc_path=error.get("exc_path")
    )


def decode_reply(body: bytes) -> Any:
    """The result of a reply body, or raise the error it carries."""
    try:
        reply = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedReply(f"RPC reply is not JSON: {exc}") from exc
    if not isinstance(reply, dict) or not ("result" in reply or "error" in reply):
        raise MalformedReply("RPC reply is not an object with 'result' and 'error'")
    error = reply.get("error")
    if error is not None:
        if not isinstance(error, dict):
            raise MalformedReply(f"RPC reply error is {type(error).__name__}, not an object")
        raise decode_error(error)
    if "result" not in reply:
        raise MalformedReply("RPC reply has neither a result nor an error")
    return reply["result"]


def rpc_queue_spec(queue: str) -> QueueSpec:
    """A service's request queue: classic and durable, like nameko's ``rpc-<service>``.

    Requests are transient and expire with the caller's timeout, so a quorum
    queue's replicated, fsynced log would only add latency to every call; a
    request lost with the broker is a timeout the caller already handles.
    """
    return QueueSpec(queue, kind=QueueKind.CLASSIC, durable=True)


class RpcServer:
    """Serves one service's methods from its ``rpc-<service>`` queue, concurrently."""

    def __init__(self, transport: Transport, names: Names, service: str, limits: BusLimits) -> None:
        self._transport = transport
        self._names = names
        self._service = service
        self._limits = limits
        self._methods: dict[str, RpcHandler] = {}
        self._groups: dict[str, _Group] = {}
        self._consumer: ConsumerHandle | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    @property
    def methods(self) -> list[str]:
        return sorted(self._methods)

    def add(self, method: str, handler: RpcHandler) -> None:
        if method in self._methods:
            raise ValueError(f"RPC method {self._service}.{method} is served twice")
        self._methods[method] = handler

    def add_group(self, method: str, handler: GroupHandler, max_size: int) -> None:
        """Serve ``method`` with ``handler`` taking the calls waiting together (up to max_size)."""
        group = _Group(handler, max_size, self._limits.rpc_handler_timeout_s)
        self.add(method, group.run)
        self._groups[method] = group

    async def start(self) -> None:
        queue = self._names.rpc_queue(self._service)
        exchange = self._names.rpc_exchange()
        await self._transport.declare_exchange(exchange, ExchangeKind.TOPIC)
        await self._transport.declare_queue(rpc_queue_spec(queue))
        await self._transport.bind(queue, exchange, f"{self._service}.*")
        self._consumer = await self._transport.consume(
            queue, self._on_delivery, self._limits.rpc_concurrency
        )

    async def stop(self, grace_s: float) -> None:
        if self._consumer is not None:
            await self._consumer.cancel()
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=grace_s)
            for task in pending:
                task.cancel()
        for group in self._groups.values():
            await group.stop()
        if self._consumer is not None:
            await self._consumer.close()

    async def _on_delivery(self, delivery: Delivery) -> None:
        task = asyncio.create_task(self._handle(delivery))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _handle(self, delivery: Delivery) -> None:
        started = time.perf_counter()
        method = delivery.routing_key.rsplit(".", 1)[-1]
        cid = incoming_correlation_id(delivery, use_property=False)
        with bind_correlation_id(cid, self._service):
            try:
                call = self._parse(delivery, method, cid)
                handler = self._methods.get(method)
                if handler is None:
                    raise MethodNotFound(f"{self._service} has no RPC method {method!r}")
                if method in self._groups:
                    result = await handler(call)  # the group bounds its own time
                else:
                    async with asyncio.timeout(self._limits.rpc_handler_timeout_s):
                        result = await handler(call)
                reply: dict[str, Any] = {"result": result, "error": None}
                outcome = "ok"
            except Exception as exc:
                if not isinstance(exc, TentenoneError):
                    _log.exception("RPC %s.%s failed", self._service, method)
                reply = {"result": None, "error": encode_error(exc)}
                outcome = "error"
            await self._reply(delivery, reply)
        MESSAGES.labels(self._service, "consumed", "rpc", outcome).inc()
        MESSAGE_LATENCY.labels(self._service, "rpc").observe(time.perf_counter() - started)

    def _parse(self, delivery: Delivery, method: str, cid: str) -> RpcCall:
        if len(delivery.body) > self._limits.max_message_bytes:
            raise MessageTooLarge(
                f"request of {len(delivery.body)} bytes is above {self._limits.max_message_bytes}"
            )
        try:
            body = json.loads(delivery.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedMessage(f"RPC request is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise MalformedMessage("RPC request must be an object with 'args' and 'kwargs'")
        args, kwargs = body.get("args"), body.get("kwargs")
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise MalformedMessage("RPC request needs 'args' (a list) and 'kwargs' (an object)")
        return RpcCall(
            service=self._service,
            method=method,
            args=args,
            kwargs=kwargs,
            correlation_id=cid,
            request_id=delivery.correlation_id or "",
            headers=delivery.headers,
        )

    async def _reply(self, delivery: Delivery, reply: dict[str, Any]) -> None:
        try:
            body = json.dumps(reply, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            err = MalformedMessage(f"RPC result is not JSON-serialisable: {exc}")
            body = json.dumps({"result": None, "error": encode_error(err)}).encode()
        if delivery.reply_to:
            envelope = Envelope(
                body=body,
                correlation_id=delivery.correlation_id,
                persistent=False,
                headers={"correlation_id": get_correlation_id() or ""},
            )
            try:
                await self._transport.publish(
                    self._names.rpc_exchange(), delivery.reply_to, envelope
                )
            except TentenoneError as exc:
                # Not replied: return the request; it is handled again when the broker is back.
                _log.warning("RPC reply not confirmed (%r); requeueing the request", exc)
                await _quietly(delivery.nack(requeue=True))
                return
        await _quietly(delivery.ack())


class _Group:
    """Calls of one method that arrived while the previous group ran, handled together.

    One worker per method: the first call runs alone; the calls arriving
    while it runs wait and go next as one group (up to ``max_size``). So the
    groups are as large as the load makes them and a lone call never waits
    for company. With a transactional handler that is group commit: one
    transaction, one commit, for the whole group.
    """

    def __init__(self, handler: GroupHandler, max_size: int, timeout_s: float) -> None:
        self._handler = handler
        self._max = max_size
        self._timeout = timeout_s
        self._waiting: list[tuple[RpcCall, asyncio.Future[Any]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def run(self, call: RpcCall) -> Any:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((call, fut))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name="rpc group")
        return await fut

    async def _drain(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting[: self._max], self._waiting[self._max :]
            try:
                outcomes = await self._outcomes([call for call, _ in group])
            except BaseException:
                # Cancelled (the server stops): its callers must not wait forever.
                for _, fut in group:
                    fut.cancel()
                raise
            for (_, fut), outcome in zip(group, outcomes, strict=True):
                if fut.done():
                    continue  # the caller's task was cancelled
                if isinstance(outcome, BaseException):
                    fut.set_exception(outcome)
                else:
                    fut.set_result(outcome)

    async def _outcomes(self, calls: list[RpcCall]) -> list[Any]:
        try:
            async with asyncio.timeout(self._timeout):
                outcomes = list(await self._handler(calls))
        except Exception as exc:
            return [exc] * len(calls)
        if len(outcomes) != len(calls):
            err = RuntimeError(f"group handler gave {len(outcomes)} outcomes for {len(calls)}")
            return [err] * len(calls)
        return outcomes

    async def stop(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None and not worker.done():
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        waiting, self._waiting = self._waiting, []
        for _, fut in waiting:
            fut.cancel()


async def _quietly(op: Awaitable[None]) -> None:
    try:
        await op
    except TentenoneError as exc:
        _log.warning("settling an RPC request failed: %r", exc)


class RpcClient:
    """Calls other services; one exclusive reply queue per client."""

    def __init__(self, transport: Transport, names: Names, service: str, limits: BusLimits) -> None:
        self._transport = transport
        self._names = names
        self._service = service
        self._limits = limits
        self._reply_key = uuid.uuid4().hex
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        self._consumer: ConsumerHandle | None = None
        self._lock = asyncio.Lock()

    async def _ensure_started(self) -> None:
        if self._consumer is not None:
            return
        async with self._lock:
            if self._consumer is not None:
                return
            exchange = self._names.rpc_exchange()
            queue = self._names.reply_queue(self._service, self._reply_key)
            await self._transport.declare_exchange(exchange, ExchangeKind.TOPIC)
            # Classic, because quorum queues cannot be exclusive: the reply queue
            # belongs to this process and must vanish with it.
            await self._transport.declare_queue(
                QueueSpec(
                    queue,
                    kind=QueueKind.CLASSIC,
                    durable=False,
                    exclusive=True,
                    auto_delete=True,
                )
            )
            await self._transport.bind(queue, exchange, self._reply_key)
            self._transport.on_reconnect(self._on_reconnect)
            self._consumer = await self._transport.consume(
                queue, self._on_reply, 1000, auto_ack=True
            )

    async def _on_reconnect(self) -> None:
        # Replies sent while we were away are lost with the old exclusive queue.
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(BusUnavailable("connection lost while waiting for the reply"))

    async def _on_reply(self, delivery: Delivery) -> None:
        fut = self._pending.pop(delivery.correlation_id or "", None)
        if fut is not None and not fut.done():
            fut.set_result(delivery.body)

    async def call(
        self,
        service: str,
        method: str,
        args: list[Any],
        kwargs: dict[str, Any],
        timeout_s: float,
        correlation_id: str | None = None,
    ) -> Any:
        body = encode_request(args, kwargs)
        if len(body) > self._limits.max_message_bytes:
            raise MessageTooLarge(
                f"request of {len(body)} bytes is above {self._limits.max_message_bytes}"
            )
        await self._ensure_started()
        key = f"{service}.{method}"
        call_id = str(uuid.uuid4())
        cid = correlation_id or get_correlation_id() or new_correlation_id()
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = fut
        started = time.perf_counter()
        outcome = "error"
        try:
            async with asyncio.timeout(timeout_s):
                await self._transport.publish(
                    self._names.rpc_exchange(),
                    key,
                    Envelope(
                        body=body,
                        headers={"correlation_id": cid},
                        correlation_id=call_id,
                        reply_to=self._reply_key,
                        expiration_s=timeout_s,
                        persistent=False,
                    ),
                    mandatory=True,
                )
                raw = await fut
            result = decode_reply(raw)
            outcome = "ok"
            return result
        except TimeoutError:
            outcome = "timeout"
            raise RpcTimeout(f"no reply from {key} within {timeout_s} s", method=key) from None
        finally:
            self._pending.pop(call_id, None)
            RPC_CALLS.labels(self._service, key, outcome).inc()
            RPC_LATENCY.labels(self._service, key).observe(time.perf_counter() - started)

    async def stop(self) -> None:
        await self._on_reconnect()
        if self._consumer is not None:
            await self._consumer.close()
            self._consumer = None
