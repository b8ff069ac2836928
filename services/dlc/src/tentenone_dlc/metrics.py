"""The DLC service's own metrics (the shared ones are in ``tentenone.metrics``)."""

from __future__ import annotations

from prometheus_client import Gauge, Histogram

__all__ = ["SIGNING_SECONDS", "SIGNING_WAITING"]

SIGNING_WAITING = Gauge(
    "tentenone_dlc_signing_waiting",
    "Accepts and renewals waiting for a signing slot (setting signing_slots)",
)
SIGNING_SECONDS = Histogram(
    "tentenone_dlc_signing_seconds",
    "Time to verify and sign one contract's adaptor signatures, in its slot",
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0),
)
