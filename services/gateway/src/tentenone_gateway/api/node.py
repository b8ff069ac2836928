"""``/node-info``: the coordinator's Lightning node, for the app to open a channel."""

from fastapi import APIRouter

from tentenone.wire.dlc import GET_NODE_INFO, NodeInfoRequest
from tentenone.wire.gateway import NodeInfoPublic
from tentenone_gateway.api.common import PREFIX, PUBLIC_PROBLEMS, timeout
from tentenone_gateway.openapi import operation_id
from tentenone_gateway.state import State
from tentenone_gateway.upstream import call

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, tags=["node"], generate_unique_id_function=operation_id)


@router.get(
    "/node-info",
    responses=PUBLIC_PROBLEMS,
    summary="The coordinator's Lightning node (503 until a service serves it)",
)
async def read_node_info(state: State) -> NodeInfoPublic:
    info = await call(state.ctx, GET_NODE_INFO, NodeInfoRequest(), timeout(state))
    return NodeInfoPublic.of(info)
