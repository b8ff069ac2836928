"""``/ws``: the one WebSocket endpoint (see ``tentenone_gateway.connection`` for the protocol)."""

from fastapi import APIRouter, WebSocket

from tentenone_gateway.api.common import PREFIX
from tentenone_gateway.connection import Connection
from tentenone_gateway.state import EXTRAS_KEY, GatewayState

__all__ = ["WS_PATH", "router"]

WS_PATH = f"{PREFIX}/ws"
router = APIRouter()


@router.websocket(WS_PATH)
async def websocket(ws: WebSocket) -> None:
    ctx = getattr(ws.app.state, "ctx", None)
    state = ctx.extras.get(EXTRAS_KEY) if ctx is not None else None
    if not isinstance(state, GatewayState):
        await ws.close(1013, "starting or stopping; try again")
        return
    origin = ws.headers.get("origin")
    allowed = state.settings.cors_origins
    # Browsers send Origin on WebSocket handshakes and do not apply CORS to them:
    # only the app's own origins may open one from a page.
    if origin is not None and allowed and origin not in allowed and "*" not in allowed:
        await ws.close(1008, "origin not allowed")
        return
    await Connection(ws, state, state.sources).serve()
