"""RPC methods whose effect is a database write: one transaction per group of calls.

``serve_transactional`` serves a declared method with a handler that gets
the session of an open transaction. Calls that arrive while a transaction is
committing are handled next in one transaction together (group commit, ADR
0019): one BEGIN and one COMMIT (one WAL flush) for the group instead of one
per call. The replies go out after the commit, so a caller is told of a
success only once it is durable.

If a handler raises, or the commit fails, the group's transaction rolls back
and each call of the group is handled again in a transaction of its own, so
one failing call cannot fail the others. A handler must therefore have no
effect outside its session (the same rule as an idempotent event handler):
it may run twice, once rolled back. A handler that raises gets its own
exception back as the call's error, as with ``Bus.serve_typed``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from tentenone.bus.bus import Bus
from tentenone.bus.rpc import RpcCall
from tentenone.errors import InvalidInput
from tentenone.logging import bind_correlation_id
from tentenone.store import Database
from tentenone.wire.base import RpcMethod, WireModel
from tentenone.wire.errors import MalformedMessage

__all__ = ["TransactionalRpcHandler", "serve_transactional"]

_log = logging.getLogger(__name__)

type TransactionalRpcHandler[Req: WireModel, Resp: WireModel] = Callable[
    [AsyncSession, Req, RpcCall], Awaitable[Resp]
]


async def serve_transactional[Req: WireModel, Resp: WireModel](
    bus: Bus,
    db: Database,
    spec: RpcMethod[Req, Resp],
    handler: TransactionalRpcHandler[Req, Resp],
    *,
    max_group: int = 64,
) -> None:
    """Serve ``spec`` on ``bus`` with ``handler`` run inside a transaction of ``db``."""
    if not isinstance(spec, RpcMethod):
        raise InvalidInput(f"serve_transactional takes an RpcMethod, got {spec!r}")
    if spec.service != bus.service:
        raise InvalidInput(f"{spec.routing_key} belongs to {spec.service}, not {bus.service}")

    def parse(call: RpcCall) -> Req:
        if call.args:
            raise MalformedMessage(f"{spec.routing_key} takes keyword arguments only")
        return spec.request.from_data(call.kwargs)

    async def apply(session: AsyncSession, request: Req, call: RpcCall) -> Any:
        with bind_correlation_id(call.correlation_id, bus.service):
            response = await handler(session, request, call)
        if not isinstance(response, spec.response):
            raise TypeError(
                f"{spec.routing_key} returned {type(response).__name__}, "
                f"not {spec.response.__name__}"
            )
        return response.model_dump(mode="json")

    async def alone(request: Req, call: RpcCall) -> Any:
        try:
            async with db.transaction() as session:
                return await apply(session, request, call)
        except Exception as exc:
            return exc

    async def together(calls: Sequence[RpcCall]) -> list[Any]:
        outcomes: list[Any] = []
        parsed: list[tuple[int, Req, RpcCall]] = []
        for i, call in enumerate(calls):
            try:
                parsed.append((i, parse(call), call))
                outcomes.append(None)
            except MalformedMessage as exc:
                outcomes.append(exc)
        if len(parsed) > 1:
            try:
                async with db.transaction() as session:
                    results = [await apply(session, req, call) for _, req, call in parsed]
            except Exception as exc:
                _log.info(
                    "group of %d %s calls failed (%r); one by one",
                    len(parsed),
                    spec.routing_key,
                    exc,
                )
            else:
                for (i, _, _), result in zip(parsed, results, strict=True):
                    outcomes[i] = result
                return outcomes
        for i, req, call in parsed:
            outcomes[i] = await alone(req, call)
        return outcomes

    await bus.serve_grouped(spec.name, together, max_size=max_group)
