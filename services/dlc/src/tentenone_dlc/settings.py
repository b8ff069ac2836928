"""Settings of the DLC service (env ``TENTENONE_DLC_<FIELD>`` then ``TENTENONE_<FIELD>``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from tentenone.chain.settings import ElectrumServers
from tentenone.config import BaseServiceSettings
from tentenone.market.schedule import DEFAULT_SPEC
from tentenone.wire.dlc import BUS_MESSAGE_BYTES

__all__ = ["DlcSettings"]


class DlcSettings(BaseServiceSettings):
    service_name: ClassVar[str] = "dlc"

    #: seed of the coordinator's per-contract funding keys (hex, from env or file)
    funding_seed: SecretStr | None = None
    #: accept_dlc / sign_dlc with thousands of adaptor signatures are megabytes
    bus_max_message_bytes: int = Field(default=BUS_MESSAGE_BYTES, ge=1024)
    #: dlcspecs chain_hash (hex; regtest genesis by default)
    chain_hash: str = "06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f"
    #: the oracle service whose announcements and attestations contracts use
    oracle_service: str = "oracle"
    fee_rate: int = Field(default=2, ge=1, le=1000, description="sat/vB of DLC transactions")
    coordinator_leverage: int = Field(default=1, ge=1, le=10)
    nb_digits: int = Field(default=20, ge=10, le=32)
    max_cets: int = Field(default=2000, ge=10)
    #: confirmations before a position counts as open
    funding_depth: int = Field(default=1, ge=1)
    #: a match whose DLC is not signed by then is released
    offer_timeout_s: float = Field(default=600.0, gt=0)
    #: how long submit_protocol_message waits for an accept_dlc's verification; past
    #: that it replies with the stored accept (state offered, sign_dlc follows on the
    #: protocol channel). Below the bus's RPC handler timeout (30 s).
    accept_reply_s: float = Field(default=20.0, ge=0, lt=30)
    close_quote_ttl_s: float = Field(default=30.0, gt=0)
    #: refund locktime = blocks until maturity (at block_interval_s) + this many
    refund_delay_blocks: int = Field(default=144, ge=1)
    block_interval_s: int = Field(default=600, ge=1)
    #: how often the chain is checked for funding, spends and locktimes
    poll_interval_s: float = Field(default=5.0, gt=0)
    #: the expiry schedule shared with the order book and oracle (TENTENONE_EXPIRY_SCHEDULE)
    expiry_schedule: str = DEFAULT_SPEC
    #: what the trader pays to roll a position into the next expiry (inside the new contract)
    rollover_fee_sat: int = Field(default=0, ge=0)
    #: the coin reserved to pay a renewal transaction's fee
    renewal_fee_budget_sat: int = Field(default=5_000, ge=1_000)
    #: Electrum servers of the chain source (``tcp://host:port``, ``ssl://...``)
    electrum_servers: ElectrumServers = Field(default_factory=list)
    network: str = "regtest"
    #: BIP-39 words of the coordinator's DLC wallet (from env or file only)
    wallet_mnemonic: SecretStr | None = None
    data_dir: str = ".data"
    #: devnet only: when the wallet is empty at start, ask the devnet node's faucet
    #: for this much (``tentenone demo`` sets it; 0 turns it off)
    devnet_fund_sat: int = Field(default=0, ge=0, le=50 * 100_000_000)
    #: the devnet node's RPC (the demo's devnet exports TENTENONE_BITCOIND_RPC_*)
    bitcoind_rpc_url: str | None = None
    bitcoind_rpc_user: str | None = None
    bitcoind_rpc_password: SecretStr | None = None
    #: processes that sign and verify adaptor signatures (0 or 1: in a thread)
    signing_workers: int = Field(default=0, ge=0, le=64)
    #: contracts verified and signed at once. One at a time finishes each in its own
    #: seconds, in order; several at once share the same cores, so each takes as long as
    #: all of them and the service's other requests wait behind them
    signing_slots: int = Field(default=1, ge=1, le=64)
    #: order book trader ids that are the coordinator's own (no DLC with itself)
    house_traders: list[str] = Field(
        default_factory=lambda: ["house"],
        description="the coordinator's own accounts (the maker's): no DLC with itself; "
        "the same list as the order book's",
    )
