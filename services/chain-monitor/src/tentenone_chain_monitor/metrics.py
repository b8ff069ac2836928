"""The chain monitor's metrics (the chain source's own are ``tentenone_chain_*``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "DERIVED",
    "EARLY",
    "EVENTS",
    "PROCESSED_HEIGHT",
    "ROUNDS",
    "ROUND_FAILURES",
    "ROUND_SECONDS",
    "WATCHES",
]

WATCHES = Gauge("tentenone_chain_monitor_watches", "Watches registered", ["kind"])
EVENTS = Counter(
    "tentenone_chain_monitor_events_total", "Events written to the outbox", ["event_type"]
)
ROUNDS = Counter("tentenone_chain_monitor_rounds_total", "Rounds committed")
ROUND_FAILURES = Counter(
    "tentenone_chain_monitor_round_failures_total", "Rounds that failed, by error code", ["code"]
)
ROUND_SECONDS = Histogram(
    "tentenone_chain_monitor_round_seconds",
    "Time of one round: fetch histories and proofs, write states and events",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
PROCESSED_HEIGHT = Gauge(
    "tentenone_chain_monitor_processed_height", "Tip height every watch was processed to"
)
DERIVED = Counter(
    "tentenone_chain_monitor_derived_histories_total",
    "Changed scripts whose history was read from the new blocks, not asked of the server",
)
EARLY = Counter(
    "tentenone_chain_monitor_early_watches_total",
    "Watches given the new blocks' confirmations before their script's notification came",
)
