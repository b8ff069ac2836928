"""The chain monitor's settings: ``TENTENONE_CHAIN_MONITOR_<FIELD>``, then ``TENTENONE_<FIELD>``.

``ELECTRUM_SERVERS`` is shared with every other part that follows the chain
(the devnet demo component exports ``TENTENONE_ELECTRUM_SERVERS``): a comma
separated list (or a JSON list) of ``tcp://host:port`` / ``ssl://host:port``,
tried in turn. A real bitcoind behind ElectrumX, electrs or Fulcrum is
configured the same way. ``BITCOIND_RPC_URL`` / ``_USER`` / ``_PASSWORD`` (shared
too) name a node to fetch new blocks from (ADR 0055).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr

from tentenone.chain import Network
from tentenone.chain.settings import ElectrumServers
from tentenone.config import BaseServiceSettings

__all__ = ["ChainMonitorSettings"]


class ChainMonitorSettings(BaseServiceSettings):
    service_name: ClassVar[str] = "chain-monitor"

    electrum_servers: ElectrumServers = Field(
        default_factory=list,
        description="Electrum servers, comma-separated: tcp://host:port or ssl://host:port",
    )
    network: Network = Network.REGTEST
    header_file: Path | None = Field(
        default=None, description="verified headers kept here across restarts (None: memory)"
    )
    tls_cafile: Path | None = Field(
        default=None, description="CA bundle for ssl:// servers (default: the system's)"
    )
    #: a node's JSON-RPC to fetch new blocks from (``getblock``): a block that confirms
    #: many watches is then matched locally, not asked of the Electrum server per script.
    #: Trusted for nothing (checked against the header chain); None: Electrum only
    bitcoind_rpc_url: str | None = None
    bitcoind_rpc_user: str | None = None
    bitcoind_rpc_password: SecretStr | None = None
    #: owners whose confirmations come as one ``chain.txs_confirmed`` per round (and
    #: owner) instead of one ``chain.tx_confirmed`` per watch and depth
    batched_owners: list[str] = Field(default_factory=list)
    request_timeout_s: float = Field(default=10.0, gt=0, le=300)
    call_timeout_s: float = Field(default=30.0, gt=0, le=600)
    ban_s: float = Field(default=300.0, ge=0)
    max_reorg_depth: int = Field(default=100, ge=1, le=2016)

    max_watches: int = Field(default=100_000, ge=1)
    #: a burst of notifications (one per watched script) is collected this long
    debounce_s: float = Field(default=0.02, ge=0, le=5)
    #: every watch is checked against the server at least this often
    resync_interval_s: float = Field(default=300.0, gt=0)
    #: requests sent together to the server in one go
    batch_size: int = Field(default=200, ge=1, le=5000)
    #: first wait after a failed round; doubles up to ``retry_max_s``
    retry_s: float = Field(default=0.5, gt=0)
    retry_max_s: float = Field(default=30.0, gt=0)
    #: /readyz reports unready when the monitor lags the chain tip longer than this
    ready_lag_s: float = Field(default=30.0, gt=0)
    #: log progress every this many seconds during a long round
    progress_log_s: float = Field(default=5.0, gt=0)
