"""The maker's tables: its inventory per market, from the trades it was part of.

``trade.matched`` events are applied once each (the inbox claim commits with
the row), so ``position`` is exact however often an event is redelivered.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Column, String
from sqlmodel import Field, SQLModel

from tentenone.store import UtcDateTime, service_registry

__all__ = ["MakerTable", "PositionRow"]


class MakerTable(SQLModel, registry=service_registry()):
    """The base of every maker table (its own MetaData, with the platform tables)."""


class PositionRow(MakerTable, table=True):
    """The maker account's net contracts in one market: + long, - short."""

    __tablename__ = "positions"

    market: str = Field(sa_column=Column(String(64), primary_key=True))
    position: int = Field(sa_column=Column(BigInteger, nullable=False))
    trades: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: dt.datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
