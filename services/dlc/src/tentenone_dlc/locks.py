"""At start: unlock every wallet coin that no live contract holds.

Coins are locked in the wallet (its own store) before the contract that uses
them is saved (the offer needs them), and unlocked after the state that
frees them is saved. A kill between the two leaves a lock nothing refers to:
coins reserved for an offer that was never saved, or the fee coin of a
rollover abandoned after its save. The wallet's locks are compared with the
coins the live contracts hold (``reserved``, and the fee inputs of a pending
renewal offer); the rest are unlocked. It runs before any consumer or RPC
handler, so no reservation is in flight.
"""

from __future__ import annotations

import logging

from sqlmodel import select

from tentenone.bitcoin.tx import OutPoint
from tentenone.dlc.protocol.messages import RenewOffer
from tentenone.dlc.protocol.states import COORDINATOR_FINAL
from tentenone.dlc.protocol.states import CoordinatorState as S
from tentenone.dlc.signing import to_tx_inputs
from tentenone.service.context import ServiceContext
from tentenone_dlc.models import Contract
from tentenone_dlc.ports import FundingWallet

__all__ = ["held_outpoints", "sweep_locks"]

_log = logging.getLogger(__name__)
_FINAL = [int(s) for s in COORDINATOR_FINAL]
#: states whose stored renewal offer is pending (an abandoned one stays on the OPEN row)
_RENEWING = frozenset({S.ROLLOVER_OFFERED, S.ROLLOVER_SIGNED, S.ROLLING_OVER})


def held_outpoints(state: S, reserved: str, renew_offer_hex: str | None) -> set[OutPoint]:
    """The coins one live contract holds: its reserved ones and a pending renewal's fee inputs."""
    held = set()
    for item in filter(None, reserved.split(",")):
        txid, vout = item.split(":")
        held.add(OutPoint.from_hex(txid, int(vout)))
    if renew_offer_hex and state in _RENEWING:
        offer = RenewOffer.parse(bytes.fromhex(renew_offer_hex))
        held.update(i.outpoint for i in to_tx_inputs(offer.fee_inputs))
    return held


async def sweep_locks(ctx: ServiceContext, wallet: FundingWallet) -> int:
    """Unlock the wallet's coins that no contract outside a final state holds; how many."""
    locked = await wallet.locked_outpoints()
    if not locked:
        return 0
    async with ctx.transaction() as s:
        rows = (
            await s.exec(
                select(Contract.state, Contract.reserved, Contract.renew_offer_hex).where(
                    Contract.state.not_in(_FINAL)  # type: ignore[attr-defined]
                )
            )
        ).all()
    held: set[OutPoint] = set()
    for state, reserved, renew_offer_hex in rows:
        held |= held_outpoints(S(state), reserved, renew_offer_hex)
    stray = [o for o in locked if o not in held]
    if stray:
        _log.warning(
            "unlocking %d coins no live contract holds (a crash between lock and save)",
            len(stray),
            extra={"outpoints": [f"{o.txid[::-1].hex()}:{o.vout}" for o in stray]},
        )
        await wallet.release(stray)
    return len(stray)
