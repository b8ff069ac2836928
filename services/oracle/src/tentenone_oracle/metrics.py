"""The oracle's metrics (the price-source ones are in ``aggregation.py``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "ANNOUNCED",
    "ATTESTATION_DELAY",
    "ATTESTED",
    "ATTEST_FAILURES",
    "INDEX_PRICE",
    "PENDING",
    "TICKS",
]

ANNOUNCED = Counter("tentenone_oracle_announced_total", "Events announced", ["oracle", "kind"])
ATTESTED = Counter("tentenone_oracle_attested_total", "Events attested", ["oracle", "kind"])
ATTESTATION_DELAY = Histogram(
    "tentenone_oracle_attestation_delay_seconds",
    "Time from an event's maturity to its attestation",
    ["oracle"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 6 * 3600, 86400),
)
ATTEST_FAILURES = Counter(
    "tentenone_oracle_attest_failures_total",
    "Attestations postponed, by error code (e.g. no index price)",
    ["oracle", "code"],
)
PENDING = Gauge(
    "tentenone_oracle_matured_pending_events",
    "Events past maturity and not attested yet (alert when it stays above 0)",
    ["oracle"],
)
TICKS = Counter(
    "tentenone_oracle_scheduler_ticks_total",
    "Scheduler rounds done (announce ahead, attest what matured)",
    ["oracle"],
)
INDEX_PRICE = Gauge("tentenone_oracle_index_price_usd", "The last index price computed", ["oracle"])
