"""The oracle's settings: ``TENTENONE_ORACLE_<FIELD>``, then ``TENTENONE_<FIELD>``.

Several oracles with different keys run side by side (t-of-n contracts): give
each its own ``TENTENONE_ORACLE_INSTANCE`` (bus name and database schema
follow it) and its own key.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from tentenone.config import BaseServiceSettings
from tentenone.market.schedule import DEFAULT_SPEC, ExpirySchedule, InvalidSchedule
from tentenone.oracle.hashing import DEFAULT_HASHING
from tentenone_oracle.aggregation import AggregationRules
from tentenone_oracle.keys import KeyMode

__all__ = ["OracleSettings"]


class OracleSettings(BaseServiceSettings):
    service_name: ClassVar[str] = "oracle"

    mode: KeyMode = Field(
        default=KeyMode.PRODUCTION,
        description="devnet: may generate and persist a key; production: never",
    )
    secret_key: SecretStr | None = Field(
        default=None, description="the signing key, 64 hex characters (env or _FILE only)"
    )
    key_file: Path | None = Field(default=None, description="a file holding the signing key")
    outcome_hashing: Literal["tagged", "sha256"] = Field(
        default=DEFAULT_HASHING.value,
        description="sha256: rust-dlc's plain SHA256, what the coordinator and the trader "
        "verify by default (ADR 0130); tagged: Oracle.md's tagged hashes",
    )

    expiry_schedule: str = Field(default=DEFAULT_SPEC, description="weekly:fri@08:00 | every:300s")
    symbol: str = "btcusd"
    announce_ahead: int = Field(default=4, ge=1, le=520, description="expiries announced ahead")
    nb_digits: int = Field(default=20, ge=1, le=64)
    unit: str = "USD"
    attest_after_s: float = Field(
        default=0.0, ge=0, description="wait this long after maturity before attesting"
    )
    tick_s: float = Field(default=5.0, gt=0, le=3600, description="scheduler period")
    index_price_interval_s: float = Field(
        default=5.0, gt=0, description="how often the index price event is published"
    )
    clock_offset_s: float = Field(
        default=0.0, description="shift this oracle's clock (tests of clock jumps, demos)"
    )

    price_sources: list[str] = Field(default_factory=lambda: ["bitstamp", "kraken", "coinbase"])
    source_urls: dict[str, str] = Field(
        default_factory=dict, description="base URL per exchange (proxies, recorded servers)"
    )
    min_sources: int = Field(default=2, ge=1)
    max_age_s: float = Field(default=60.0, gt=0)
    max_skew_s: float = Field(default=60.0, ge=0)
    max_deviation: Decimal = Field(default=Decimal("0.02"), gt=0, lt=1)
    min_price: Decimal = Field(default=Decimal(1), gt=0)
    max_price: Decimal = Field(default=Decimal(10_000_000), gt=0)
    source_timeout_s: float = Field(default=5.0, gt=0)

    sim_seed: int = Field(default=1, ge=-(2**63), lt=2**63)
    sim_start_price: Decimal = Decimal(90_000)
    sim_speedup: float = Field(default=1.0, gt=0)
    sim_volatility: float = Field(default=0.6, ge=0)

    @field_validator("price_sources")
    @classmethod
    def _sources_named(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one price source is needed")
        if len(set(value)) != len(value):
            raise ValueError(f"price sources listed twice: {value}")
        return value

    @model_validator(mode="after")
    def _quorum_reachable(self) -> OracleSettings:
        if self.min_sources > len(self.price_sources):
            raise ValueError(
                f"min_sources={self.min_sources} but only {len(self.price_sources)} "
                f"price source(s): {self.price_sources}"
            )
        return self

    @field_validator("expiry_schedule")
    @classmethod
    def _schedule_parses(cls, value: str) -> str:
        try:
            ExpirySchedule.parse(value)
        except InvalidSchedule as exc:
            raise ValueError(exc.message) from None
        return value

    @property
    def schedule(self) -> ExpirySchedule:
        return ExpirySchedule.parse(self.expiry_schedule, self.symbol)

    @property
    def clock_offset(self) -> timedelta:
        return timedelta(seconds=self.clock_offset_s)

    def aggregation_rules(self) -> AggregationRules:
        return AggregationRules(
            min_sources=self.min_sources,
            max_age=timedelta(seconds=self.max_age_s),
            max_skew=timedelta(seconds=self.max_skew_s),
            max_deviation=self.max_deviation,
            min_price=self.min_price,
            max_price=self.max_price,
            source_timeout_s=self.source_timeout_s,
        )
