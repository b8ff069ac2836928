"""The maker's settings: ``TENTENONE_MAKER_<FIELD>``, then ``TENTENONE_<FIELD>``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from tentenone.config import BaseServiceSettings
from tentenone_maker.quoting import QuotePolicy

__all__ = ["MakerSettings"]


class MakerSettings(BaseServiceSettings):
    service_name: ClassVar[str] = "maker"

    trader_id: str = Field(
        default="house",
        min_length=1,
        max_length=64,
        description="the coordinator's account the maker trades as (one of the order book's "
        "house_traders: no margin declaration, never matched against another house order)",
    )
    oracle: str = Field(default="oracle", description="the oracle instance whose index is quoted")
    client_id_prefix: str = Field(
        default="mm-",
        min_length=1,
        max_length=16,
        description="client order ids of the maker's quotes start with it; other orders of "
        "the account are left alone",
    )

    levels: int = Field(default=3, ge=1, le=20, description="quotes per side")
    spread_bps: int = Field(default=20, ge=1, le=5_000, description="best ask over best bid")
    level_spacing_bps: int = Field(default=10, ge=0, le=5_000, description="between levels")
    size: int = Field(default=1_000, ge=1, description="contracts per level")
    leverage: int = Field(default=1, ge=1, le=10)
    time_in_force: Literal["post_only", "gtc"] = Field(
        default="post_only", description="post_only: a quote never takes liquidity"
    )
    max_inventory: int = Field(
        default=100_000, ge=1, description="contracts: no quote that would hold more"
    )
    skew_bps: int = Field(
        default=50, ge=0, le=5_000, description="quote shift at max_inventory (against it)"
    )
    requote_bps: int = Field(
        default=5, ge=0, le=5_000, description="re-quote once the index moved this far"
    )
    stale_after_s: float = Field(
        default=15.0, gt=0, description="pull every quote when the index is older than this"
    )
    interval_s: float = Field(
        default=1.0, gt=0, description="reconcile at least this often (and on every price)"
    )
    rpc_timeout_s: float = Field(default=5.0, gt=0)

    def policy(self) -> QuotePolicy:
        return QuotePolicy(
            levels=self.levels,
            spread_bps=self.spread_bps,
            level_spacing_bps=self.level_spacing_bps,
            size=self.size,
            max_inventory=self.max_inventory,
            skew_bps=self.skew_bps,
            requote_bps=self.requote_bps,
        )
