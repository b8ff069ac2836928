"""A market's trading rules: tick, lot, sizes, leverage, fees, price band, exposure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from tentenone.errors import ConfigError

__all__ = ["LEVERAGE_RANGE", "MAX_MARGIN_SAT", "MAX_TEXT_LENGTH", "MarketConfig"]

#: The product allows 1x to 10x per order (ARCHITECTURE §0).
LEVERAGE_RANGE: Final = (1, 10)
#: No declaration can exceed every bitcoin there will ever be.
MAX_MARGIN_SAT: Final = 21_000_000 * 100_000_000
#: Trader and client order ids longer than this are refused.
MAX_TEXT_LENGTH: Final = 64


@dataclass(frozen=True, slots=True)
class MarketConfig:
    """Rules of one market (one weekly expiry). Prices in US cents, sizes in contracts."""

    market_id: str
    tick_size: int = 50
    lot_size: int = 1
    min_quantity: int = 1
    max_quantity: int = 1_000_000
    max_price: int = 100_000_000_00  # 100 million USD: far above any sane quote
    min_leverage: int = 1
    max_leverage: int = 10
    maker_fee_bps: int = 2
    taker_fee_bps: int = 5
    #: A market order takes liquidity only this far (bps) beyond the touch it arrived at.
    price_band_bps: int = 500
    #: Largest net position, in contracts, the coordinator may end up with on either side
    #: if every resting and incoming trader order traded against it.
    max_exposure: int = 10_000_000
    #: The coordinator's own accounts (its market maker): no trader margin check, and two
    #: house accounts never trade with each other (the coordinator cannot trade with itself).
    house_traders: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        _positive = {
            "tick_size": self.tick_size,
            "lot_size": self.lot_size,
            "min_quantity": self.min_quantity,
            "max_quantity": self.max_quantity,
            "max_price": self.max_price,
            "max_exposure": self.max_exposure,
        }
        for name, value in _positive.items():
            if type(value) is not int or value <= 0:
                raise ConfigError(f"market {self.market_id!r}: {name} must be a positive int")
        if not isinstance(self.market_id, str) or not self.market_id:
            raise ConfigError("market_id must be a non-empty string")
        if self.min_quantity > self.max_quantity:
            raise ConfigError(f"market {self.market_id!r}: min_quantity > max_quantity")
        if self.min_quantity % self.lot_size or self.max_quantity % self.lot_size:
            raise ConfigError(f"market {self.market_id!r}: size limits must be whole lots")
        low, high = LEVERAGE_RANGE
        if not low <= self.min_leverage <= self.max_leverage <= high:
            raise ConfigError(
                f"market {self.market_id!r}: leverage range must lie within {low}..{high}"
            )
        for name in ("maker_fee_bps", "taker_fee_bps"):
            bps = getattr(self, name)
            if type(bps) is not int or not 0 <= bps <= 1_000:
                raise ConfigError(f"market {self.market_id!r}: {name} must be 0..1000")
        if type(self.price_band_bps) is not int or not 0 < self.price_band_bps < 10_000:
            raise ConfigError(f"market {self.market_id!r}: price_band_bps must be 1..9999")
        if not isinstance(self.house_traders, frozenset):
            raise ConfigError(f"market {self.market_id!r}: house_traders must be a frozenset")
