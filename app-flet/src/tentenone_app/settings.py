"""The app's settings: env ``TENTENONE_APP_<FIELD>``, then ``TENTENONE_<FIELD>``, then defaults.

What a trader edits on the settings screen (gateway URL, Electrum servers,
the automatic choices) is saved in ``<data_dir>/preferences.json`` and wins
over these on the next start (:mod:`tentenone_app.preferences`).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr

from tentenone.chain.settings import ElectrumServers
from tentenone.config import BaseServiceSettings

__all__ = ["AppSettings"]


class AppSettings(BaseServiceSettings):
    service_name: ClassVar[str] = "app"

    #: where the web page is served; loopback only unless a proxy in front says otherwise
    host: str = "127.0.0.1"
    port: int = Field(default=8550, ge=0, le=65535, description="0: any free port")
    data_dir: Path = Field(default=Path(".data/app"), description="key store, database, backups")
    #: the coordinator's gateway (REST under /api/v1 and the WebSocket)
    gateway_url: str = "http://127.0.0.1:8000"
    #: Electrum servers, tried in turn ("tcp://host:port", "ssl://host:port")
    electrum_servers: ElectrumServers = Field(default_factory=lambda: ["tcp://127.0.0.1:50001"])
    network: str = "regtest"
    #: blocks the coordinator must wait before spending its side of a channel or DLC
    #: output (ARCHITECTURE 3, "Lightning on the phone"): shown to the trader as how
    #: long the app may stay closed safely
    to_self_delay_blocks: int = Field(default=2016, ge=1)
    block_interval_s: int = Field(default=600, ge=1)
    #: the devnet node's RPC, for "fund from faucet" (regtest only)
    bitcoind_rpc_url: str | None = None
    bitcoind_rpc_user: str | None = None
    bitcoind_rpc_password: SecretStr | None = None
    #: how often the market screen asks the gateway again
    refresh_s: float = Field(default=2.0, gt=0)
    request_timeout_s: float = Field(default=10.0, gt=0)
