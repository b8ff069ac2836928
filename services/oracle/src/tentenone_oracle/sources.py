"""Building the price sources the settings name."""

from __future__ import annotations

from tentenone.errors import ConfigError
from tentenone_oracle.aggregation import IndexPriceFeed
from tentenone_oracle.clock import Clock
from tentenone_oracle.exchanges import EXCHANGES, make_exchange_source
from tentenone_oracle.prices import PriceSource
from tentenone_oracle.settings import OracleSettings
from tentenone_oracle.simulated import SimulatedFeed

__all__ = ["SIMULATED", "build_index_feed"]

SIMULATED = "simulated"


def build_index_feed(settings: OracleSettings, clock: Clock) -> IndexPriceFeed:
    """The index price over the sources ``settings.price_sources`` names."""
    sources: list[PriceSource] = []
    for name in settings.price_sources:
        if name == SIMULATED:
            sources.append(
                SimulatedFeed(
                    seed=settings.sim_seed,
                    start_price=settings.sim_start_price,
                    annual_volatility=settings.sim_volatility,
                    speedup=settings.sim_speedup,
                    clock=clock,
                )
            )
        elif name in EXCHANGES:
            url = settings.source_urls.get(name)
            sources.append(
                make_exchange_source(name, url, clock=clock, timeout_s=settings.source_timeout_s)
            )
        else:
            known = sorted([SIMULATED, *EXCHANGES])
            raise ConfigError(f"unknown price source {name!r}; known: {known}")
    return IndexPriceFeed(sources, settings.aggregation_rules(), clock)
