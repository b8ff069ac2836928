"""The DLC service's lifecycle events, beside the gateway's ``position.*`` contract.

``tentenone.wire.dlc`` holds what the gateway relays (``position.created``,
``position.updated``, ``position.opened``, ``position.closed``,
``dlc.protocol_message``). These say *which* step happened, for the other
services, the e2e tests and operations: ``dlc.offered``, ``dlc.accepted``,
``dlc.signed``, ``dlc.released``, ``position.closing``, ``position.settled``,
``position.rolled_over``, ``position.refunded``, ``position.liquidated``.
All carry the same body, :class:`ContractStep`.
"""

from __future__ import annotations

from pydantic import Field

from tentenone.wire.base import Event, WireModel

__all__ = [
    "ContractStep",
    "DlcAccepted",
    "DlcOffered",
    "DlcReleased",
    "DlcSigned",
    "PositionClosing",
    "PositionLiquidated",
    "PositionRefunded",
    "PositionRolledOver",
    "PositionSettled",
]


class ContractStep(WireModel):
    position_id: str = Field(max_length=64)
    trader_pubkey: str = Field(pattern=r"^[0-9a-f]{64}$")
    trade_id: str = Field(max_length=64)
    #: the coordinator's state name after the step (e.g. "SIGNED")
    state: str
    contract_id: str | None = None
    #: the transaction the step is about (funding, CET, closing, refund, renewal)
    txid: str | None = None
    realized_pnl_sat: int | None = None
    #: why (a release's or refusal's reason)
    reason: str = ""


class DlcOffered(ContractStep, Event):
    event_type = "dlc.offered"
    source = "dlc"


class DlcAccepted(ContractStep, Event):
    event_type = "dlc.accepted"
    source = "dlc"


class DlcSigned(ContractStep, Event):
    event_type = "dlc.signed"
    source = "dlc"


class DlcReleased(ContractStep, Event):
    event_type = "dlc.released"
    source = "dlc"


class PositionClosing(ContractStep, Event):
    event_type = "position.closing"
    source = "dlc"


class PositionSettled(ContractStep, Event):
    event_type = "position.settled"
    source = "dlc"


class PositionRolledOver(ContractStep, Event):
    event_type = "position.rolled_over"
    source = "dlc"


class PositionRefunded(ContractStep, Event):
    event_type = "position.refunded"
    source = "dlc"


class PositionLiquidated(ContractStep, Event):
    event_type = "position.liquidated"
    source = "dlc"
