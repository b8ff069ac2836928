"""Prometheus metrics of the chain source (on the default registry, so ``/metrics`` shows them).

``source`` labels tell apart several chain sources in one process (the
embedded default runs the app's and the coordinator's side by side).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = ["DROPPED", "REORGS", "REQUEST_LATENCY", "SWITCHES", "TIP_HEIGHT"]

TIP_HEIGHT = Gauge("tentenone_chain_tip_height", "Height of our checked best chain", ["source"])
REORGS = Counter("tentenone_chain_reorgs_total", "Reorganisations seen", ["source"])
SWITCHES = Counter(
    "tentenone_chain_server_switches_total", "New sessions after a lost one", ["source"]
)
DROPPED = Counter(
    "tentenone_chain_servers_dropped_total", "Servers banned for misbehaving", ["source"]
)
REQUEST_LATENCY = Histogram(
    "tentenone_chain_request_seconds",
    "Electrum request round trip",
    ["source", "method"],
    buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0),
)
