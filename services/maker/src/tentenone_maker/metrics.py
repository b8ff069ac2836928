"""The maker's own metrics (the shared ones are in ``tentenone.metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "AMENDED",
    "CANCELLED",
    "CYCLE_SECONDS",
    "FEED_AGE",
    "INDEX_PRICE",
    "INVENTORY",
    "PLACED",
    "QUOTING",
    "REJECTED",
    "RESTING",
]

PLACED = Counter("tentenone_maker_quotes_placed_total", "Quotes placed")
CANCELLED = Counter(
    "tentenone_maker_quotes_cancelled_total", "Quotes cancelled", ["reason"]
)  # requote | stale | closed
AMENDED = Counter("tentenone_maker_quotes_amended_total", "Quotes shrunk in place")
REJECTED = Counter(
    "tentenone_maker_quotes_rejected_total", "Quote commands refused by the order book", ["code"]
)
RESTING = Gauge("tentenone_maker_quotes_resting", "The maker's quotes in the book", ["market"])
INVENTORY = Gauge("tentenone_maker_inventory_contracts", "Net contracts held (+ long)", ["market"])
FEED_AGE = Gauge("tentenone_maker_feed_age_seconds", "Age of the last index price (-1: none yet)")
INDEX_PRICE = Gauge("tentenone_maker_index_price_cents", "The last index price received")
QUOTING = Gauge("tentenone_maker_quoting", "1 while quoting, 0 while quotes are pulled")
CYCLE_SECONDS = Histogram(
    "tentenone_maker_cycle_seconds",
    "One reconcile: list, plan, cancel, amend, place",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
