"""What the engine knows of each trader's money: declared, reserved, committed."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Account", "AccountView"]


class AccountView(NamedTuple):
    """A trader's balances in the engine, as a plain value.

    ``declared_sat``: the free collateral the trader last declared.
    ``reserved_sat``: margin held by the trader's resting orders.
    ``committed_sat``: margin of the trader's fills since that declaration.
    ``position``: net contracts bought (+) or sold (-) in this market.
    ``fees_sat``: fees of the trader's fills in this market.
    """

    trader_id: str
    house: bool
    declared_sat: int
    reserved_sat: int
    committed_sat: int
    position: int
    fees_sat: int

    @property
    def free_sat(self) -> int:
        return self.declared_sat - self.reserved_sat - self.committed_sat


class Account:
    """The engine's mutable balances of one trader."""

    __slots__ = (
        "committed_sat",
        "declared_sat",
        "fees_sat",
        "house",
        "position",
        "reserved_sat",
        "trader_id",
    )

    def __init__(self, trader_id: str, house: bool) -> None:
        self.trader_id = trader_id
        self.house = house
        self.declared_sat = 0
        self.reserved_sat = 0
        self.committed_sat = 0
        self.position = 0
        self.fees_sat = 0

    def view(self) -> AccountView:
        return AccountView(
            self.trader_id,
            self.house,
            self.declared_sat,
            self.reserved_sat,
            self.committed_sat,
            self.position,
            self.fees_sat,
        )

    def is_blank(self) -> bool:
        """Nothing worth persisting: a fresh account equals it."""
        return not (
            self.declared_sat
            or self.reserved_sat
            or self.committed_sat
            or self.position
            or self.fees_sat
        )
