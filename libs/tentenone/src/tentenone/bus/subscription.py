"""One event consumer: its queues, its worker, bounded retries with backoff, dead letters.

Queues of a consumer ``Q`` (all quorum, durable; classic on a development broker):

- ``Q``: bound to ``<source>.events`` with the event type; dead-letters to
  ``Q.dlq`` once the broker has redelivered a message ``delivery_limit``
  times without an outcome (the consumer kept crashing on it);
- ``Q.retry``: a failed message is re-published here with a per-message
  expiration (the backoff); on expiry the broker dead-letters it back to ``Q``;
- ``Q.dlq``: messages that failed ``max_attempts`` times, or can never
  succeed (malformed, too large, rejected as invalid), with the error in
  their headers.

The worker takes messages in delivery order, one at a time or, with a batch
handler, as many as are waiting (up to ``batch_size``) at once. A failed
batch is retried message by message so one poison message cannot hold the
others back. Re-publishing to ``Q.retry``/``Q.dlq`` is confirmed before the
original is acked: a crash in between duplicates, never loses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tentenone.bus.errors import MessageTooLarge
from tentenone.bus.events import ATTEMPT_HEADER, ReceivedEvent, attempt_of, republish_headers
from tentenone.bus.message import Delivery, Envelope
from tentenone.bus.naming import Names
from tentenone.bus.policy import ConsumerPolicy
from tentenone.bus.transport import ConsumerHandle, ExchangeKind, QueueKind, QueueSpec, Transport
from tentenone.errors import InvalidInput, ProtocolError, TentenoneError
from tentenone.logging import bind_correlation_id
from tentenone.metrics import MESSAGE_LATENCY, MESSAGES

__all__ = [
    "BatchHandler",
    "DeadLetter",
    "Decoder",
    "Handler",
    "Subscription",
    "consumer_queue_specs",
]

_log = logging.getLogger(__name__)

type Handler[P] = Callable[[ReceivedEvent[P]], Awaitable[None]]
type BatchHandler[P] = Callable[[Sequence[ReceivedEvent[P]]], Awaitable[None]]
type Decoder[P] = Callable[[Delivery], ReceivedEvent[P]]

ERROR_CODE_HEADER = "x-tentenone-error-code"
ERROR_HEADER = "x-tentenone-error"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message in a dead-letter queue, with why it is there."""

    body: bytes
    headers: dict[str, Any]
    message_id: str | None
    error_code: str | None
    error: str | None
    attempts: int


def consumer_queue_specs(
    queue: str, policy: ConsumerPolicy, kind: QueueKind = QueueKind.QUORUM
) -> list[QueueSpec]:
    """Dead-letter queue, retry queue and main queue of a consumer, in declaration order."""
    dlq = Names.dead_letter_queue(queue)
    return [
        QueueSpec(dlq, kind=kind),
        QueueSpec(
            Names.retry_queue(queue),
            kind=kind,
            dead_letter_exchange="",
            dead_letter_routing_key=queue,
        ),
        QueueSpec(
            queue,
            kind=kind,
            dead_letter_exchange="",
            dead_letter_routing_key=dlq,
            delivery_limit=policy.delivery_limit,
        ),
    ]


def _never_retry(exc: BaseException) -> bool:
    # Bad input stays bad: retrying cannot help, so it goes straight to the DLQ.
    return isinstance(exc, InvalidInput | ProtocolError)


class Subscription[P]:
    def __init__(
        self,
        *,
        transport: Transport,
        service: str,
        exchange: str,
        event_type: str,
        queue: str,
        decoder: Decoder[P],
        handler: Handler[P],
        batch_handler: BatchHandler[P] | None,
        policy: ConsumerPolicy,
        max_message_bytes: int,
        queue_kind: QueueKind = QueueKind.QUORUM,
    ) -> None:
        self.queue = queue
        self.queue_kind = queue_kind
        self.exchange = exchange
        self.event_type = event_type
        self._transport = transport
        self._service = service
        self._decoder = decoder
        self._handler = handler
        self._batch_handler = batch_handler
        self._policy = policy
        self._max_bytes = max_message_bytes
        self._buffer: asyncio.Queue[Delivery] = asyncio.Queue()
        self._consumer: ConsumerHandle | None = None
        self._worker: asyncio.Task[None] | None = None
        self._busy = False
        self._stopping = False

    async def start(self) -> None:
        await self._transport.declare_exchange(self.exchange, ExchangeKind.TOPIC)
        for spec in consumer_queue_specs(self.queue, self._policy, self.queue_kind):
            await self._transport.declare_queue(spec)
        await self._transport.bind(self.queue, self.exchange, self.event_type)
        self._worker = asyncio.create_task(self._run(), name=f"consumer {self.queue}")
        self._consumer = await self._transport.consume(
            self.queue, self._on_delivery, self._policy.prefetch
        )

    async def stop(self, grace_s: float) -> None:
        """Stop taking messages, finish the one(s) in hand, return the rest to the queue."""
        self._stopping = True
        if self._consumer is not None:
            await self._consumer.cancel()
        worker = self._worker
        if worker is not None:
            if not self._busy:
                worker.cancel()
            try:
                await asyncio.wait_for(asyncio.shield(worker), grace_s)
            except TimeoutError:
                _log.warning("consumer %s did not finish within %.1f s", self.queue, grace_s)
                worker.cancel()
            except asyncio.CancelledError:
                pass
        if self._consumer is not None:
            await self._consumer.close()

    async def _on_delivery(self, delivery: Delivery) -> None:
        self._buffer.put_nowait(delivery)

    async def _run(self) -> None:
        while not self._stopping:
            first = await self._buffer.get()
            self._busy = True
            try:
                batch = [first]
                if self._batch_handler is not None:
                    await self._fill(batch)
                await self._process(batch)
            except Exception:
                # Only bus failures get here (handler errors are caught per message);
                # the messages stay unacked and the broker redelivers them.
                _log.exception("consumer %s failed to settle a batch", self.queue)
            finally:
                self._busy = False

    async def _fill(self, batch: list[Delivery]) -> None:
        """Add what is waiting, up to batch_size; linger briefly for more (fewer commits)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._policy.batch_linger_s
        while len(batch) < self._policy.batch_size:
            if not self._buffer.empty():
                batch.append(self._buffer.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0 or self._stopping:
                return
            try:
                batch.append(await asyncio.wait_for(self._buffer.get(), remaining))
            except TimeoutError:
                return

    async def _process(self, batch: list[Delivery]) -> None:
        decoded: list[tuple[Delivery, ReceivedEvent[P]]] = []
        for delivery in batch:
            try:
                if len(delivery.body) > self._max_bytes:
                    raise MessageTooLarge(
                        f"{len(delivery.body)} bytes is above the limit of {self._max_bytes}"
                    )
                decoded.append((delivery, self._decoder(delivery)))
            except TentenoneError as exc:
                await self._dead_letter(delivery, exc, attempt_of(delivery))
        if self._batch_handler is not None and len(decoded) > 1 and await self._try_batch(decoded):
            return
        for delivery, received in decoded:
            await self._one(delivery, received)

    async def _try_batch(self, decoded: list[tuple[Delivery, ReceivedEvent[P]]]) -> bool:
        assert self._batch_handler is not None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._policy.handler_timeout_s):
                await self._batch_handler([r for _, r in decoded])
        except Exception as exc:
            _log.info("batch of %d failed (%r); handling one by one", len(decoded), exc)
            return False
        per_message = (time.perf_counter() - started) / len(decoded)
        latency = MESSAGE_LATENCY.labels(self._service, "event")
        for _ in decoded:
            latency.observe(per_message)
        MESSAGES.labels(self._service, "consumed", "event", "ok").inc(len(decoded))
        # One frame for the batch: every earlier delivery on this channel is settled
        # already (the worker takes them in order) or is in this batch.
        await self._settle(decoded[-1][0].ack(multiple=True))
        return True

    async def _one(self, delivery: Delivery, received: ReceivedEvent[P]) -> None:
        started = time.perf_counter()
        with bind_correlation_id(received.correlation_id, self._service):
            try:
                async with asyncio.timeout(self._policy.handler_timeout_s):
                    await self._handler(received)
            except Exception as exc:
                await self._failed(delivery, received, exc)
                return
        MESSAGE_LATENCY.labels(self._service, "event").observe(time.perf_counter() - started)
        await self._ack(delivery, "ok")

    async def _failed(self, delivery: Delivery, received: ReceivedEvent[P], exc: Exception) -> None:
        attempt = received.attempt
        if _never_retry(exc) or attempt >= self._policy.max_attempts:
            await self._dead_letter(delivery, exc, attempt)
            return
        delay = self._policy.backoff_s(attempt)
        _log.warning(
            "event %s attempt %d failed (%r); retrying in %.1f s",
            received.event_id,
            attempt,
            exc,
            delay,
            extra={"queue": self.queue},
        )
        headers = republish_headers(
            delivery.headers,
            {ATTEMPT_HEADER: attempt + 1, ERROR_HEADER: _describe(exc)[:500]},
        )
        await self._republish(delivery, Names.retry_queue(self.queue), headers, delay, "retry")

    async def _dead_letter(self, delivery: Delivery, exc: BaseException, attempt: int) -> None:
        code = exc.code if isinstance(exc, TentenoneError) else "internal"
        _log.error(
            "dead-lettering message %s after %d attempt(s): %s",
            delivery.message_id,
            attempt,
            _describe(exc),
            extra={"queue": self.queue, "error_code": code},
        )
        headers = republish_headers(
            delivery.headers,
            {
                ERROR_CODE_HEADER: code,
                ERROR_HEADER: _describe(exc)[:2000],
                ATTEMPT_HEADER: attempt,
                "x-tentenone-failed-at": datetime.now(UTC).isoformat(),
                "x-tentenone-queue": self.queue,
            },
        )
        await self._republish(delivery, Names.dead_letter_queue(self.queue), headers, None, "dead")

    async def _republish(
        self,
        delivery: Delivery,
        queue: str,
        headers: dict[str, Any],
        expiration_s: float | None,
        outcome: str,
    ) -> None:
        envelope = Envelope(
            body=delivery.body,
            headers=headers,
            message_id=delivery.message_id,
            correlation_id=delivery.correlation_id,
            expiration_s=expiration_s,
            persistent=True,
            content_type=delivery.content_type or "application/json",
        )
        try:
            await self._transport.publish("", queue, envelope)
        except TentenoneError as exc:
            _log.warning("could not move a message to %s (%r); returning it", queue, exc)
            await self._settle(delivery.nack(requeue=True))
            return
        await self._ack(delivery, outcome)

    async def _ack(self, delivery: Delivery, outcome: str) -> None:
        MESSAGES.labels(self._service, "consumed", "event", outcome).inc()
        await self._settle(delivery.ack())

    @staticmethod
    async def _settle(op: Awaitable[None]) -> None:
        try:
            await op
        except TentenoneError as exc:
            # The channel is gone: the broker redelivers; the inbox absorbs the repeat.
            _log.warning("settling a message failed: %r", exc)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TentenoneError):
        return f"{exc.code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"
