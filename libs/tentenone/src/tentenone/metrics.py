"""The metrics every service exports (prometheus-client).

The same names in every service, labelled by ``service``, so one Grafana
dashboard covers them all. Service-specific metrics are declared next to the
code that updates them, with the ``tentenone_`` prefix.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = [
    "CONTENT_TYPE_LATEST",
    "HTTP_LATENCY",
    "HTTP_REQUESTS",
    "MESSAGES",
    "MESSAGE_LATENCY",
    "OUTBOX_LAG",
    "OUTBOX_PENDING",
    "QUEUE_DEPTH",
    "RPC_CALLS",
    "RPC_LATENCY",
    "render",
]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "tentenone_http_requests_total",
    "HTTP requests handled",
    ["service", "method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "tentenone_http_request_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=_LATENCY_BUCKETS,
)
MESSAGES = Counter(
    "tentenone_bus_messages_total",
    "Bus messages by direction (published/consumed) and outcome",
    ["service", "direction", "kind", "outcome"],
)
MESSAGE_LATENCY = Histogram(
    "tentenone_bus_handle_seconds",
    "Time to handle one consumed message",
    ["service", "kind"],
    buckets=_LATENCY_BUCKETS,
)
RPC_CALLS = Counter(
    "tentenone_rpc_calls_total",
    "RPC calls made, by remote method and outcome",
    ["service", "method", "outcome"],
)
RPC_LATENCY = Histogram(
    "tentenone_rpc_call_seconds",
    "RPC round-trip latency seen by the caller",
    ["service", "method"],
    buckets=_LATENCY_BUCKETS,
)
QUEUE_DEPTH = Gauge(
    "tentenone_bus_queue_depth",
    "Messages waiting in a consumer's queue (sampled)",
    ["service", "queue"],
)
OUTBOX_PENDING = Gauge(
    "tentenone_outbox_pending",
    "Committed events not yet published",
    ["service"],
)
OUTBOX_LAG = Gauge(
    "tentenone_outbox_lag_seconds",
    "Age of the oldest committed event not yet published",
    ["service"],
)


def render(registry: CollectorRegistry = REGISTRY) -> bytes:
    """The exposition text for ``/metrics``."""
    return generate_latest(registry)
