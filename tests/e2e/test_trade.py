"""A trader's whole trade on the devnet with every service a real process.

Each trader (``tentenone.trader.Trader``: its wallet on ElectrumX, its state
in SQLite, the gateway over HTTP, orders too) places an order that the
house's resting order fills; the DLC is offered, accepted, signed and funded;
the oracle attests at expiry; the CET confirms. The trader's wallet ends with
exactly what the payout formula, the fee and the transaction weights say,
computed here from the trade's numbers, never from the code under test.

An early close at the index price pays the trader what the CET would pay at
that price, before the expiry. A position rolled over into the next expiry
(the coordinator's renewal, checked and signed by the trader's engine) settles
there with the opening's margin and fees, and the rollover fee in its curve.
With the oracle silent past the refund locktime, the refund returns each side
its margin; the trader pays only its share of the fees. A trader whose device
is lost with a position open restores it on a new one from its words and the
gateway's backup, and it settles there to the sat; a backup older than that
position is refused.

The long and the short trade the same expiry at the same time (one wait for
the oracle instead of two). The index stands at 51,000 USD while both trade
at 50,000: the long wins what the short loses. The maker does not run: the
house's resting orders are the only liquidity, so the fills are the test's.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest
import pytest_asyncio
from trading import (
    FUNDS,
    INDEX_USD,
    LEAD_S,
    PASSPHRASE,
    coordinator_quiet,
    coordinator_wallet,
    drive,
    expected_trader_payout,
    first_market_after,
    fund,
    latest_market,
    long_liquidation_usd,
    new_trader,
    open_market,
    place,
    place_and_cancel,
    restart_at_each,
    roll_over,
    settle,
    settle_renewed,
    trader_fees,
    trader_settings,
)
from trading import system_config as trade_system

from tentenone.bitcoin.tx import parse_transaction
from tentenone.dlc.messages import OfferDlc
from tentenone.dlc.protocol.messages import CloseOffer, CloseReason
from tentenone.dlc.protocol.states import TraderState as T
from tentenone.testing import wait_until
from tentenone.testing.system import System, SystemConfig
from tentenone.trader import Trader, cli
from tentenone.trader.backup import decrypt_backup
from tentenone.trader.errors import BackupStale
from tentenone.wallet import generate_mnemonic
from tentenone.wire import orderbook as wob

pytestmark = pytest.mark.asyncio(loop_scope="module")


#: what the coordinator charges for a rollover (inside the new contract's curve)
ROLLOVER_FEE_SAT = 1_000


@pytest.fixture(scope="module")
def system_config() -> SystemConfig:
    return trade_system(env={"dlc": {"TENTENONE_DLC_ROLLOVER_FEE_SAT": str(ROLLOVER_FEE_SAT)}})


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def trades(
    system: System, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, BaseException | None]]:
    """A long and a short on one expiry, a long closed early on the last, a long rolled
    over into the expiry after its own, all at once; each one's failure, if any."""
    base = tmp_path_factory.mktemp("traders")
    names = ("long", "short", "close", "rollover", "restored")
    words = generate_mnemonic()
    traders = {
        name: await new_trader(system, base / name, words if name == "restored" else None)
        for name in names
    }
    try:
        initial = {name: await fund(system, trader, FUNDS) for name, trader in traders.items()}
        markets = await system.rpc(wob.LIST_MARKETS, wob.ListMarketsRequest())
        market = first_market_after(markets, LEAD_S)
        await place_and_cancel(traders["long"], market)
        # one after the other: the house's orders must not cross each other
        for side in ("long", "short"):
            await place(system, traders[side], market, side)
        # the expiry furthest ahead: time to open and close before it
        await place(system, traders["close"], await latest_market(system), "long")
        # time to open and roll over before the expiry, then one more to settle
        await place(system, traders["rollover"], await open_market(system, LEAD_S + 30), "long")
        await place(system, traders["restored"], await open_market(system, LEAD_S + 30), "long")
        # written with the order, before its position: the backup a restore must refuse
        stale = traders["restored"].backup_file.read()
        assert stale is not None
        runs: list[Awaitable[None]] = [
            settle(system, traders["long"], "long", initial["long"]),
            settle(system, traders["short"], "short", initial["short"]),
            close_early(system, traders["close"], initial["close"]),
            roll_over_then_settle(system, traders["rollover"], initial["rollover"]),
            lose_device_then_settle(system, traders, words, stale, base, initial["restored"]),
        ]
        results = await asyncio.gather(*runs, return_exceptions=True)
        failures = [r if isinstance(r, BaseException) else None for r in results]
        yield dict(zip(names, failures, strict=True))
    finally:
        for trader in traders.values():
            await trader.close()


async def close_early(system: System, trader: Trader, initial: int) -> None:
    """Open, then close at once at the index: the trader gets what the CET pays there."""
    opened = await drive(system, trader, frozenset({T.OPEN}), 120)
    offer = OfferDlc.parse(bytes.fromhex(opened.offer_hex))
    payout = expected_trader_payout(offer, "long", system.price_usd * 100)

    async def coordinator_open() -> bool:
        # the coordinator sees the funding confirm on its own poll, after the trader may
        return (await trader.gateway.position(opened.position_id)).state == "open"

    await wait_until(coordinator_open, 60, interval=0.5, what="the coordinator's position open")
    quote = await trader.close_position(opened.position_id)
    assert quote.trader_payout_sat == payout
    closed = await drive(system, trader, frozenset({T.CLOSED}), 120)
    close_tx = parse_transaction(bytes.fromhex(closed.spend_tx_hex or ""))
    assert sum(o.value for o in close_tx.outputs) == offer.total_collateral
    assert closed.realized_pnl_sat == payout - opened.trader_margin_sat
    own_inputs = len([x for x in closed.reserved.split(",") if x])
    expected = initial - opened.trader_margin_sat - trader_fees(own_inputs) + payout
    wallet = trader.require_wallet()
    await wait_until(lambda: wallet.balance().confirmed == expected, 60, what="closed")


async def roll_over_then_settle(system: System, trader: Trader, initial: int) -> None:
    """Open, roll over into the next expiry at once, settle there."""
    opened = await drive(system, trader, frozenset({T.OPEN}), 120)
    # as ``tentenone-trader roll-over <position>`` asks and reports it
    report = await cli.roll_over(trader, opened.position_id)
    assert report[0].startswith(f"Rollover of {opened.position_id} "), report
    renewed = await roll_over(system, trader, opened)
    assert f"into {renewed.market} " in report[1], report
    assert renewed.maturity > opened.maturity and renewed.market != opened.market
    # the coordinator knows the new contract by its own id, the trader too
    theirs = await trader.gateway.position(renewed.position_id)
    assert theirs.contract_id == renewed.contract_id and theirs.market == renewed.market
    await settle_renewed(system, trader, "long", initial, opened, renewed, ROLLOVER_FEE_SAT)


async def lose_device_then_settle(
    system: System,
    traders: dict[str, Trader],
    words: str,
    stale: bytes,
    base: Path,
    initial: int,
) -> None:
    """Open; the device is lost (its data dir with it); the words on a new device restore
    the position from the gateway's backup, and it settles there with exact balances."""
    lost = traders["restored"]
    opened = await drive(system, lost, frozenset({T.OPEN}), 120)
    # the backup written when the position opened is the gateway's copy too
    assert await lost.gateway.get_backup() == lost.backup_file.read()
    await lost.close()
    shutil.rmtree(lost.settings.data_dir)

    # a backup from before the position: refused with the reason, nothing restored
    elsewhere = await Trader.create_wallet(
        trader_settings(system, base / "stale device"), words, PASSPHRASE
    )
    try:
        await elsewhere.db.migrate()
        with pytest.raises(BackupStale, match=opened.position_id):
            await elsewhere.load_backup(decrypt_backup(stale, elsewhere.keys.backup_key()))
        assert await elsewhere.contract_rows() == []
    finally:
        await elsewhere.close()

    # as ``tentenone-trader restore --words ...`` then any command on the new device
    settings = trader_settings(system, base / "new device")
    restoring = await Trader.restore_wallet(settings, words, PASSPHRASE)
    report = restoring.restore_report
    # checked against the coordinator: nothing missing; the state number the backup noted
    assert report is not None and not report.missing_positions, report
    assert 0 < report.backup_state_number <= report.coordinator_state_number, report
    await restoring.close()
    restored = traders["restored"] = await Trader.open(settings, PASSPHRASE)
    await restored.start()
    [position] = await restored.positions()
    assert position.position_id == opened.position_id and position.state == "open", position
    [row] = await restored.contract_rows()
    assert row.funding_txid == opened.funding_txid and row.funding_key == opened.funding_key
    await settle(system, restored, "long", initial)


def _check(outcome: BaseException | None) -> None:
    if outcome is not None:
        raise outcome


async def test_a_5x_long_settles_at_expiry_with_exact_balances(
    trades: dict[str, BaseException | None],
) -> None:
    _check(trades["long"])


async def test_a_5x_short_settles_at_expiry_with_exact_balances(
    trades: dict[str, BaseException | None],
) -> None:
    _check(trades["short"])


async def test_an_early_close_pays_what_the_curve_pays_at_the_index(
    trades: dict[str, BaseException | None],
) -> None:
    _check(trades["close"])


async def test_a_rollover_settles_at_the_next_expiry_with_exact_balances(
    trades: dict[str, BaseException | None],
) -> None:
    _check(trades["rollover"])


async def test_a_position_restored_on_a_new_device_settles_with_exact_balances(
    trades: dict[str, BaseException | None],
) -> None:
    _check(trades["restored"])


async def test_with_the_oracle_silent_the_refund_returns_each_margin(
    system: System, tmp_path: Path
) -> None:
    # the oracle stays up (announcements) but attests a day after maturity
    await system.restart("oracle", env={"TENTENONE_ORACLE_ATTEST_AFTER_S": "86400"})
    trader = await new_trader(system, tmp_path / "refund")
    try:
        initial = await fund(system, trader, FUNDS)
        await place(system, trader, await open_market(system), "long")
        opened = await drive(system, trader, frozenset({T.OPEN}), 120)
        assert trader.source is not None
        tip = (await trader.source.tip()).height
        await asyncio.to_thread(system.mine, max(1, opened.refund_locktime - tip))
        refunded = await drive(system, trader, frozenset({T.REFUNDED}), 120)
        refund = parse_transaction(bytes.fromhex(refunded.spend_tx_hex or ""))
        offer = OfferDlc.parse(bytes.fromhex(refunded.offer_hex))
        margin = offer.total_collateral - offer.offer_collateral
        assert sorted(o.value for o in refund.outputs) == sorted([margin, offer.offer_collateral])
        assert refunded.realized_pnl_sat == 0
        own_inputs = len([x for x in refunded.reserved.split(",") if x])
        expected = initial - trader_fees(own_inputs)
        wallet = trader.require_wallet()
        await wait_until(lambda: wallet.balance().confirmed == expected, 60, what="refunded")
    finally:
        await trader.close()
        await system.restart("oracle")


LIQUIDATION_POINTS = (
    "dlc.coordinator.liquidation.after_cross",
    "dlc.coordinator.liquidation.after_save",
)


@pytest.mark.timeout(600)
async def test_a_5x_long_past_its_liquidation_price_is_closed_at_the_clamp(
    system: System, tmp_path: Path
) -> None:
    """The index falls below the long's liquidation price: the coordinator quotes a
    liquidation close, the trader signs it unasked, both wallets end exactly at the clamp."""
    # earlier trades finished: the crash points below are met by this one
    await coordinator_quiet(system)
    trader = await new_trader(system, tmp_path / "liquidated")
    async with coordinator_wallet(system) as house:
        try:
            initial = await fund(system, trader, FUNDS)
            house_before = house.balance().total
            await place(system, trader, await latest_market(system), "long")
            opened = await drive(system, trader, frozenset({T.OPEN}), 120)
            offer = OfferDlc.parse(bytes.fromhex(opened.offer_hex))
            index_usd = int(long_liquidation_usd(offer)) - 1_000
            payout = expected_trader_payout(offer, "long", index_usd * 100)
            assert payout == 0  # the curve is flat past the liquidation price: the clamp
            # the coordinator dies when it sees the cross, then after storing its quote
            await system.restart("dlc", crash_at=LIQUIDATION_POINTS)
            deaths = asyncio.create_task(restart_at_each(system, "dlc", LIQUIDATION_POINTS))
            await system.set_price(index_usd)
            await deaths
            closed = await drive(system, trader, frozenset({T.CLOSED}), 120)
            close_offer = CloseOffer.parse(bytes.fromhex(closed.close_offer_hex or ""))
            assert close_offer.reason == CloseReason.LIQUIDATION
            assert close_offer.accept_payout == payout
            assert closed.realized_pnl_sat == payout - opened.trader_margin_sat
            funding = parse_transaction(bytes.fromhex(closed.funding_tx_hex or ""))
            own_inputs = len([x for x in closed.reserved.split(",") if x])
            expected = initial - opened.trader_margin_sat - trader_fees(own_inputs) + payout
            wallet = trader.require_wallet()
            await wait_until(lambda: wallet.balance().confirmed == expected, 60, what="trader")
            # the coordinator: its margin and fee share out, the rest of the collateral back
            house_fees = trader_fees(len(funding.inputs) - own_inputs)
            house_expected = (
                house_before - offer.offer_collateral - house_fees + close_offer.offer_payout
            )
            await wait_until(
                lambda: house.balance().total == house_expected, 60, what="coordinator"
            )
        finally:
            await trader.close()
            await system.set_price(INDEX_USD)
