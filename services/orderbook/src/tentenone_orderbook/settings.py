"""The order book's settings: ``TENTENONE_ORDERBOOK_<FIELD>``, then ``TENTENONE_<FIELD>``."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from tentenone.config import BaseServiceSettings
from tentenone.market.schedule import DEFAULT_SPEC, ExpirySchedule
from tentenone_orderbook.market import MarketConfig

__all__ = ["OrderbookSettings"]


class OrderbookSettings(BaseServiceSettings):
    service_name: ClassVar[str] = "orderbook"

    expiry_schedule: str = Field(default=DEFAULT_SPEC, description="weekly:fri@08:00 | every:300s")
    symbol: str = "btcusd"
    markets_ahead: int = Field(default=2, ge=1, le=52, description="expiries open for trading")
    close_before_s: int = Field(
        default=0, ge=0, description="stop trading a market this long before its expiry"
    )

    tick_size: int = Field(default=50, gt=0, description="US cents")
    lot_size: int = Field(default=1, gt=0, description="contracts")
    min_quantity: int = Field(default=1, gt=0)
    max_quantity: int = Field(default=1_000_000, gt=0)
    max_price: int = Field(default=100_000_000_00, gt=0, description="US cents")
    min_leverage: int = Field(default=1, ge=1, le=10)
    max_leverage: int = Field(default=10, ge=1, le=10)
    maker_fee_bps: int = Field(default=2, ge=0, le=1000)
    taker_fee_bps: int = Field(default=5, ge=0, le=1000)
    price_band_bps: int = Field(default=500, gt=0, lt=10_000)
    max_exposure: int = Field(
        default=10_000_000, gt=0, description="coordinator's worst-case net position, contracts"
    )
    house_traders: list[str] = Field(
        default_factory=lambda: ["house"], description="the coordinator's own accounts (maker)"
    )

    batch_max: int = Field(
        default=256, ge=1, le=10_000, description="commands committed in one transaction at most"
    )
    snapshot_interval_s: float = Field(default=5.0, gt=0, description="book.snapshot period")
    snapshot_depth: int = Field(default=20, ge=1, le=500)
    roll_interval_s: float = Field(default=5.0, gt=0, description="how often markets are rolled")
    leader_poll_s: float = Field(default=1.0, gt=0, description="standby: leadership retry")

    @field_validator("expiry_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        ExpirySchedule.parse(value)
        return value

    def schedule(self) -> ExpirySchedule:
        return ExpirySchedule.parse(self.expiry_schedule, self.symbol)

    def market_config(self, market_id: str) -> MarketConfig:
        return MarketConfig(
            market_id,
            tick_size=self.tick_size,
            lot_size=self.lot_size,
            min_quantity=self.min_quantity,
            max_quantity=self.max_quantity,
            max_price=self.max_price,
            min_leverage=self.min_leverage,
            max_leverage=self.max_leverage,
            maker_fee_bps=self.maker_fee_bps,
            taker_fee_bps=self.taker_fee_bps,
            price_band_bps=self.price_band_bps,
            max_exposure=self.max_exposure,
            house_traders=frozenset(self.house_traders),
        )
