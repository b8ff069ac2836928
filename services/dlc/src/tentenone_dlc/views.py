"""Wire views of a contract row (``tentenone.wire.dlc.Position``)."""

from __future__ import annotations

from tentenone.dlc.protocol.states import CoordinatorState as S
from tentenone.wire.dlc import PnL, Position, PositionState
from tentenone_dlc.models import Contract

__all__ = ["position_state", "position_view"]

_STATES: dict[S, PositionState] = {
    S.OFFERED: "offered",
    S.SIGNED: "signed",
    S.RELEASING: "signed",
    S.PENDING_RENEWAL: "rolling_over",
    S.FUNDING: "funding",
    S.OPEN: "open",
    S.CLOSE_OFFERED: "open",
    S.CLOSING: "closing",
    S.ROLLOVER_OFFERED: "rolling_over",
    S.ROLLOVER_SIGNED: "rolling_over",
    S.ROLLING_OVER: "rolling_over",
    S.SETTLING: "closing",
    S.REFUNDING: "closing",
    S.SETTLED: "settled",
    S.CLOSED: "closed",
    S.REFUNDED: "refunded",
    S.ROLLED_OVER: "closed",
    S.RELEASED: "cancelled",
}


def position_state(state: int) -> PositionState:
    return _STATES[S(state)]


def position_view(row: Contract) -> Position:
    long = row.side == "long"
    liquidation = row.liquidation_low if long else row.liquidation_high
    return Position(
        position_id=row.id,
        trader_pubkey=row.trader_pubkey,
        market=row.market,
        expiry=row.expiry,
        side="long" if long else "short",
        quantity=row.quantity,
        entry_price_cents=row.price_cents,
        leverage=row.leverage,
        trader_margin_sat=row.trader_margin_sat,
        coordinator_margin_sat=row.coordinator_margin_sat,
        liquidation_price_cents=None if liquidation is None else liquidation * 100,
        state=position_state(row.state),
        version=row.version,
        trade_id=row.trade_id,
        order_id=row.order_id,
        temporary_contract_id=row.temporary_contract_id,
        contract_id=row.contract_id,
        funding_txid=row.funding_txid,
        closing_txid=row.spend_txid,
        pnl=PnL(realized_pnl_sat=row.realized_pnl_sat, fees_sat=row.fee_sat),
        note=row.note,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
