"""The order book's own metrics (the shared ones are in ``tentenone.metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = ["BATCH_SECONDS", "BATCH_SIZE", "DUPLICATES", "FILLS", "PLACED", "REJECTED"]

PLACED = Counter("tentenone_orderbook_orders_placed_total", "Orders accepted", ["order_type"])
REJECTED = Counter("tentenone_orderbook_orders_rejected_total", "Orders refused", ["reason"])
DUPLICATES = Counter(
    "tentenone_orderbook_duplicate_places_total", "Places answered with an earlier order"
)
FILLS = Counter("tentenone_orderbook_fills_total", "Fills (trades)")
BATCH_SIZE = Histogram(
    "tentenone_orderbook_batch_commands",
    "Commands committed per transaction",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)
BATCH_SECONDS = Histogram(
    "tentenone_orderbook_batch_seconds",
    "Apply and commit time of one batch",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
