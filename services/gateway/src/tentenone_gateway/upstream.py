"""Calls to the services behind the gateway, with their failures as the client should see them.

A service that is not running (no queue for its routing key) or that does not
serve a method yet is 503 for the client, not 404: the route exists, what is
behind it is missing. Everything else keeps its code and status (remote
errors by their code, see ``problems.status_of``).
"""

from __future__ import annotations

from pydantic import ValidationError

from tentenone.bus.errors import MethodNotFound, UnknownService
from tentenone.errors import InvalidInput
from tentenone.service import ServiceContext
from tentenone.wire.base import RpcMethod, WireModel
from tentenone_gateway.errors import UpstreamUnavailable

__all__ = ["build", "call"]


def build[M: WireModel](model: type[M], **fields: object) -> M:
    """A wire request from checked API input; a mismatch is the client's 422."""
    try:
        return model(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidInput(f"{where}: {first['msg']}", field=where) from None


async def call[Req: WireModel, Resp: WireModel](
    ctx: ServiceContext, spec: RpcMethod[Req, Resp], request: Req, timeout_s: float | None = None
) -> Resp:
    try:
        return await ctx.request(spec, request, timeout_s=timeout_s)
    except (UnknownService, MethodNotFound) as exc:
        raise UpstreamUnavailable(
            f"{spec.routing_key} is not served right now (the {spec.service} service is not "
            "running or does not offer it yet); try again later",
            service=spec.service,
            method=spec.name,
        ) from exc
