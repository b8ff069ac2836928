"""What a service's handlers get: its database, its bus, its settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from tentenone.bus.bus import Bus
from tentenone.bus.relay import OutboxRelay, enqueue
from tentenone.config import BaseServiceSettings
from tentenone.errors import InvalidInput
from tentenone.store import Database
from tentenone.wire.base import Event, RpcMethod, WireModel

__all__ = ["ServiceContext"]


class ServiceContext:
    """One per running service; handed to every handler, route and background task."""

    def __init__(
        self,
        name: str,
        settings: BaseServiceSettings,
        db: Database,
        bus: Bus,
        relay: OutboxRelay,
    ) -> None:
        self.name = name
        self.settings = settings
        self.db = db
        self.bus = bus
        self.relay = relay
        #: a place for the service's own clients and caches, set in on_startup
        self.extras: dict[str, Any] = {}

    def transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A database session in one transaction (committed on exit)."""
        return self.db.transaction()

    async def publish(
        self,
        session: AsyncSession,
        event: Event,
        *,
        event_id: str | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        """Write ``event`` to this service's outbox in ``session``'s transaction; its id.

        It is published after the commit, at least once; if the transaction
        rolls back, it never is.
        """
        if isinstance(event, Event) and getattr(event, "source", None) != self.name:
            raise InvalidInput(
                f"{self.name} cannot publish {type(event).__name__}: its source is "
                f"{getattr(event, 'source', None)!r}"
            )
        return await enqueue(session, event, event_id=event_id, headers=headers)

    async def request[Req: WireModel, Resp: WireModel](
        self, spec: RpcMethod[Req, Resp], request: Req, *, timeout_s: float | None = None
    ) -> Resp:
        """Call another service's declared RPC method."""
        return await self.bus.request(spec, request, timeout_s=timeout_s)

    async def call(
        self,
        service: str,
        method: str,
        *,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """Call any RPC method (e.g. of a nameko service) with JSON arguments."""
        return await self.bus.call(service, method, args=args, kwargs=kwargs, timeout_s=timeout_s)
