"""Coins a crash left locked in the wallet are unlocked at start, the others stay locked."""

from __future__ import annotations

from dlc_world import Start, Trader

from tentenone.dlc.protocol.messages import RenewOffer
from tentenone.dlc.signing import to_tx_inputs
from tentenone.wire import dlc as wire
from tentenone_dlc.locks import sweep_locks


async def test_locks_no_live_contract_holds_are_swept(start: Start) -> None:
    world = await start(offer_timeout_s=600)
    coordinator = world.coordinator()
    ada, bea, cai = Trader(world, "ada"), Trader(world, "bea"), Trader(world, "cai")
    renewing = await ada.open()
    abandoned = await bea.open()
    for trader, position_id in ((ada, renewing), (bea, abandoned)):
        await trader.rpc(wire.REQUEST_ROLLOVER, position_id=position_id)
        await trader.next_message("renew_offer")
    await world.match(cai)
    await cai.next_message("offer_dlc")

    def fee_coin(position_id: str) -> object:
        row_hex = rows[position_id].renew_offer_hex
        assert row_hex is not None
        [coin] = to_tx_inputs(RenewOffer.parse(bytes.fromhex(row_hex)).fee_inputs)
        return coin.outpoint

    rows = {p: await world.contract(p) for p in (renewing, abandoned)}
    held = set(world.wallet.locked)
    # killed at dlc.coordinator.rollover.after_abandon: OPEN again, its fee coin locked
    await coordinator._abandon_rollover(abandoned, "rollover abandoned: for the test")
    assert fee_coin(abandoned) not in world.wallet.locked
    world.wallet.locked[fee_coin(abandoned)] = f"{abandoned}-renewal"  # type: ignore[index]
    # killed at dlc.coordinator.offer.after_reserve: coins locked for an offer never saved
    free = next(
        c.outpoint
        for c in to_tx_inputs(world.wallet.coins)
        if c.outpoint not in world.wallet.locked and c.outpoint not in world.chain.spent
    )
    world.wallet.locked[free] = "lost offer"

    assert await sweep_locks(coordinator.ctx, world.wallet) == 2
    assert set(world.wallet.locked) == held - {fee_coin(abandoned)}
    assert fee_coin(renewing) in world.wallet.locked  # a pending rollover keeps its fee coin
    assert await sweep_locks(coordinator.ctx, world.wallet) == 0
