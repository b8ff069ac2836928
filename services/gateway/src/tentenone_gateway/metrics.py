"""The gateway's own metrics (HTTP and RPC ones are the platform's)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = ["SIGN_INS", "WS_CLOSED", "WS_CONNECTIONS", "WS_SENT", "WS_SUBSCRIPTIONS"]

SIGN_INS = Counter(
    "tentenone_gateway_sign_ins_total",
    "Sign-in attempts by outcome (ok or the error code)",
    ["outcome"],
)
WS_CONNECTIONS = Gauge("tentenone_gateway_ws_connections", "Open WebSocket connections")
WS_SUBSCRIPTIONS = Gauge("tentenone_gateway_ws_subscriptions", "Channel subscriptions held")
WS_SENT = Counter("tentenone_gateway_ws_messages_sent_total", "WebSocket messages queued to send")
WS_CLOSED = Counter(
    "tentenone_gateway_ws_closed_total", "WebSocket connections ended, by close code", ["code"]
)
