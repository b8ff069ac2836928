"""The DLC service's tables: contracts (a state machine), messages to traders, traders, backups."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from sqlalchemy import Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from tentenone.dlc.protocol.states import (
    COORDINATOR_FINAL,
    COORDINATOR_INITIAL,
    COORDINATOR_TRANSITIONS,
    CoordinatorState,
)
from tentenone.store import UtcDateTime, service_registry
from tentenone.store.statemachine import Stateful, StateMachine
from tentenone.wallet.persist_db import wallet_state_table

__all__ = [
    "CONTRACT",
    "WALLET_STATE",
    "BackupRow",
    "Contract",
    "DlcTable",
    "OutMessage",
    "TraderRow",
]


class DlcTable(SQLModel, registry=service_registry()):
    pass


#: the coordinator wallet's state (``tentenone.wallet.persist_db``)
WALLET_STATE = wallet_state_table(DlcTable.metadata)


CONTRACT = StateMachine(
    "contract",
    CoordinatorState,
    initial=set(COORDINATOR_INITIAL),
    transitions={k: set(v) for k, v in COORDINATOR_TRANSITIONS.items()},
)
assert all(CONTRACT.is_final(s) for s in COORDINATOR_FINAL)


class Contract(DlcTable, Stateful, table=True):
    """One DLC with one trader: the fill it implements, the messages, the chain facts."""

    __tablename__ = "contracts"
    __table_args__ = (UniqueConstraint("trade_id", "trader_pubkey"),)
    state_machine: ClassVar[StateMachine[CoordinatorState]] = CONTRACT

    id: str = Field(primary_key=True, max_length=64)
    trader_pubkey: str = Field(index=True, max_length=64)
    trade_id: str = Field(max_length=64)
    order_id: str = Field(max_length=64)
    market: str = Field(max_length=64)
    expiry: dt.datetime = Field(sa_type=UtcDateTime)
    side: str = Field(max_length=5)
    quantity: int
    price_cents: int
    leverage: int
    coordinator_leverage: int
    fee_sat: int
    trader_margin_sat: int
    coordinator_margin_sat: int
    liquidation_low: int
    liquidation_high: int | None = None
    temporary_contract_id: str = Field(max_length=64)
    contract_id: str | None = Field(default=None, index=True, max_length=64)
    offer_hex: str = Field(sa_column=Column(Text, nullable=False))
    #: an accept_dlc stored in time and being verified (ADR 0108); accept_hex once signed
    pending_accept_hex: str | None = Field(default=None, sa_column=Column(Text))
    accept_hex: str | None = Field(default=None, sa_column=Column(Text))
    sign_hex: str | None = Field(default=None, sa_column=Column(Text))
    #: our reserved coins, "txid:vout" comma separated
    reserved: str = Field(default="", sa_column=Column(Text, nullable=False))
    funding_txid: str | None = Field(default=None, max_length=64)
    funding_vout: int | None = None
    refund_locktime: int
    deadline: dt.datetime = Field(sa_type=UtcDateTime)
    close_offer_hex: str | None = Field(default=None, sa_column=Column(Text))
    #: the tx that spends (or will spend) the funding output: CET, close or refund
    spend_tx_hex: str | None = Field(default=None, sa_column=Column(Text))
    spend_txid: str | None = Field(default=None, max_length=64)
    #: a tx spending one of our funding inputs elsewhere (release after sign_dlc)
    invalidation_txid: str | None = Field(default=None, max_length=64)
    realized_pnl_sat: int | None = None
    #: rollover of this contract: the renewal messages (offer, accept, sign)
    renew_offer_hex: str | None = Field(default=None, sa_column=Column(Text))
    renew_accept_hex: str | None = Field(default=None, sa_column=Column(Text))
    renew_sign_hex: str | None = Field(default=None, sa_column=Column(Text))
    #: the position this one renews (its messages are then renew_offer/accept/sign)
    renewed_from: str | None = Field(default=None, max_length=64)
    #: the position that renews this one
    renewed_by: str | None = Field(default=None, max_length=64)
    note: str = Field(default="", max_length=500)
    created_at: dt.datetime = Field(sa_type=UtcDateTime)
    updated_at: dt.datetime = Field(sa_type=UtcDateTime)


class OutMessage(DlcTable, table=True):
    """A message to a trader, stored before it is published (re-read on reconnect)."""

    __tablename__ = "out_messages"
    __table_args__ = (UniqueConstraint("trader_pubkey", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    trader_pubkey: str = Field(max_length=64)
    seq: int
    position_id: str = Field(index=True, max_length=64)
    message_type: str = Field(max_length=40)
    payload_hex: str = Field(sa_column=Column(Text, nullable=False))
    created_at: dt.datetime = Field(sa_type=UtcDateTime)


class TraderRow(DlcTable, table=True):
    """Per trader: the state number (+1 per position event) and the last message seq."""

    __tablename__ = "traders"

    trader_pubkey: str = Field(primary_key=True, max_length=64)
    state_number: int = 0
    last_seq: int = 0


class BackupRow(DlcTable, table=True):
    __tablename__ = "backups"

    trader_pubkey: str = Field(primary_key=True, max_length=64)
    version: int
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sha256: str = Field(max_length=64)
    stored_at: dt.datetime = Field(sa_type=UtcDateTime)
