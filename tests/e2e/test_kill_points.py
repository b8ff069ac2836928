"""Kill points end to end: a process dies by SIGKILL at a named step, comes back, and
the trade still settles with exact balances and no sat lost.

Each test trades a 5x long to settlement on the devnet with every service a
real process (the trader's seen points also roll it over into the next expiry
on the way: the process asks for it by itself and dies at each step of it, the
renewal mined meanwhile). The coordinator's DLC service is restarted with crash points
(``TENTENONE_CRASH_AT``); the trader runs as ``python -m tentenone.trader run``
with its own. A process that dies at a point is started again with the next
one, then without any; the trader's last restart is in this process (the same
data directory: its SQLite, its key store), so the test can drive and check it.
For the trader's settlement points the DLC service is down from the funding to
the end: the trader completes and broadcasts the CET alone.

No sat lost: the coordinator's wallet (watched here from its words) plus the
trader's wallet, before the trade and after it, differ by exactly the miner
fees of the funding transaction and the CET (and the renewal transaction). The
table of the points covered is printed in the run's summary
(tests/e2e/conftest.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import pytest
import pytest_asyncio
import trading
from trading import (
    FUNDS,
    KILLED,
    LEAD_S,
    OPEN_OR_LATER,
    PASSPHRASE,
    coordinator_quiet,
    drive,
    fund,
    new_trader,
    open_market,
    place,
    restart_at_each,
    roll_over,
    settle,
    settle_renewed,
    trader_settings,
)
from trading import system_config as trade_system

from tentenone.bitcoin.tx import parse_transaction
from tentenone.crashpoint import CRASH_AT_ENV
from tentenone.dlc.messages import OfferDlc
from tentenone.dlc.protocol.states import TraderState as T
from tentenone.dlc.signing import to_tx_inputs
from tentenone.errors import TentenoneError
from tentenone.testing import wait_until
from tentenone.testing.processes import PythonProcess
from tentenone.testing.system import System, SystemConfig
from tentenone.trader import Trader
from tentenone.trader.models import TraderContract
from tentenone.wallet import Wallet

pytestmark = pytest.mark.asyncio(loop_scope="module")

#: how far ahead a trade's expiry is: time for a few restarts before it, or for nine
SOON_S = 110
FAR_S = 200
#: in the order a trade meets them (each process dies at the first, then the next)
COORDINATOR_POINTS = (
    "dlc.coordinator.offer.after_save",
    "dlc.coordinator.accept.after_receive",
    "dlc.coordinator.accept.after_save",
    "dlc.coordinator.funding.after_confirm",
    "dlc.coordinator.settle.after_attest",
    "dlc.coordinator.settle.before_broadcast",
    "dlc.coordinator.settle.after_broadcast",
    "dlc.coordinator.settle.after_confirm",
)
#: seen passing end to end
TRADER_SEEN_POINTS = (
    "dlc.trader.open.after_accept_save",
    "dlc.trader.open.after_accept_send",
    "dlc.trader.open.after_sign_save",
)
TRADER_OPENING_POINTS = (
    "dlc.trader.open.after_offer_save",
    "dlc.trader.open.after_accept_save",
    "dlc.trader.open.after_accept_send",
    "dlc.trader.open.after_sign_receive",
    "dlc.trader.open.after_sign_save",
    "dlc.trader.open.after_funding_broadcast",
)
#: the trader process asks for the rollover by itself, then dies here
TRADER_ROLLOVER_POINTS = (
    "dlc.trader.rollover.after_offer_save",
    "dlc.trader.rollover.after_accept_save",
    "dlc.trader.rollover.after_accept_send",
    "dlc.trader.rollover.after_sign_receive",
    "dlc.trader.rollover.after_sign_save",
    "dlc.trader.rollover.after_confirm",
)
#: an early close: the coordinator dies after saving a quote nobody signs, when that quote
#: lapses, then after receiving the trader's signature on a new one; the trader after
#: saving its signature, then after the confirmation
COORDINATOR_CLOSE_POINTS = (
    "dlc.coordinator.close.after_save",
    "dlc.coordinator.close.after_expiry",
    "dlc.coordinator.close.after_receive",
)
#: the quotes of that test lapse this soon
CLOSE_QUOTE_TTL_S = 15
TRADER_CLOSE_POINTS = (
    "dlc.trader.close.after_accept_save",
    "dlc.trader.close.after_confirm_receive",
)
#: a rollover, in the order the coordinator meets them
COORDINATOR_ROLLOVER_POINTS = (
    "dlc.coordinator.rollover.after_save",
    "dlc.coordinator.rollover.after_receive",
    "dlc.coordinator.rollover.after_sign_save",
    "dlc.coordinator.rollover.after_finalize_receive",
    "dlc.coordinator.rollover.after_confirm",
)
#: the trader settles alone only when the coordinator does not: its DLC service is down
TRADER_SETTLING_POINTS = (
    "dlc.trader.settle.after_attest",
    "dlc.trader.settle.before_broadcast",
    "dlc.trader.settle.after_broadcast",
)
#: the oracle dies once while it attests (signed, not yet stored) during a settlement
ORACLE_ATTEST_POINTS = ("oracle.service.attest.after_sign",)
#: a trade the trader leaves after sign_dlc, in the order the coordinator meets them
COORDINATOR_RELEASE_POINTS = (
    "dlc.coordinator.offer.after_reserve",
    "dlc.coordinator.accept.after_store",
    "dlc.coordinator.release.before_invalidate",
    "dlc.coordinator.release.after_invalidate",
    "dlc.coordinator.release.after_save",
)
#: how long the coordinator waits for the accept, then for the funding, in that test
RELEASE_TIMEOUT_S = 45
#: the oracle silent: the trader dies before broadcasting the refund, then the coordinator
#: at each of its refund steps
TRADER_REFUND_POINTS = ("dlc.trader.refund.before_broadcast",)
COORDINATOR_REFUND_POINTS = (
    "dlc.coordinator.refund.before_broadcast",
    "dlc.coordinator.refund.after_broadcast",
    "dlc.coordinator.refund.after_confirm",
)


@pytest.fixture(scope="module")
def system_config() -> SystemConfig:
    # far refund locktime: the waits below mine many blocks
    # four expiries open (a minute apart): the longest chain below needs minutes before its
    # expiry, the others take the first at least SOON_S out
    orderbook = {"TENTENONE_ORDERBOOK_MARKETS_AHEAD": "4"}
    return trade_system(refund_delay_blocks=1_000, env={"orderbook": orderbook})


@pytest_asyncio.fixture(loop_scope="module", autouse=True)
async def quiet_coordinator(system: System) -> None:
    """Each test starts with the coordinator and the oracle up (an earlier test that
    failed may have left one dead) and every earlier contract finished."""
    for name in ("dlc", "oracle"):
        if not system.service(name).running:
            await system.restart(name)
    await coordinator_quiet(system)


@pytest_asyncio.fixture(loop_scope="module")
async def coordinator_wallet(system: System) -> AsyncIterator[Wallet]:
    """The DLC service's wallet, watched from its words (read only)."""
    async with trading.coordinator_wallet(system) as wallet:
        yield wallet


async def fee_of(trader: Trader, raw: bytes) -> int:
    """A transaction's miner fee: what its inputs spend less what it pays."""
    tx = parse_transaction(raw)
    source = trader.source
    assert source is not None
    spent = 0
    for txin in tx.inputs:
        previous = parse_transaction(
            (await source.get_transaction(txin.outpoint.txid[::-1].hex())).raw
        )
        spent += previous.outputs[txin.outpoint.vout].value
    return spent - sum(o.value for o in tx.outputs)


async def conserved(
    coordinator: Wallet,
    trader: Trader,
    before: int,
    settled: TraderContract,
    opening: TraderContract | None = None,
) -> None:
    """``opening``: the contract ``settled`` renews (its funding tx; then the renewal's)."""
    fees = await fee_of(trader, bytes.fromhex((opening or settled).funding_tx_hex or ""))
    if opening is not None:
        fees += await fee_of(trader, bytes.fromhex(settled.funding_tx_hex or ""))
    fees += await fee_of(trader, bytes.fromhex(settled.spend_tx_hex or ""))

    def total() -> int:
        return coordinator.balance().total + trader.require_wallet().balance().total

    await wait_until(lambda: before - total() == fees, 60, what=f"{fees} sat of fees, no more")


async def spends_fees(trader: Trader, offer: OfferDlc) -> int:
    """The miner fees of whatever spent the offer's funding inputs."""
    chain = trader.require_engine().chain
    fees = 0
    for item in to_tx_inputs(offer.funding_inputs):
        spender = await chain.spender(item.outpoint, item.script_pubkey)
        if spender is not None:
            fees += await fee_of(trader, await chain.raw_transaction(spender))
    return fees


def trader_runner(system: System, data_dir: Path, *command: str) -> PythonProcess:
    """``python -m tentenone.trader <command>`` (``run`` by default) on ``data_dir``."""
    settings = trader_settings(system, data_dir)
    env = {
        "TENTENONE_TRADER_PASSPHRASE": PASSPHRASE,
        "TENTENONE_TRADER_ELECTRUM_SERVERS": json.dumps(settings.electrum_servers),
        "TENTENONE_TRADER_MAX_CETS": str(settings.max_cets),
        "TENTENONE_TRADER_POLL_INTERVAL_S": "0.5",
        "TENTENONE_TRADER_WEBSOCKET": "false",
    }
    args = ["--data-dir", str(data_dir), "--gateway", system.gateway_url, *(command or ["run"])]
    return PythonProcess("tentenone.trader", args, env=env, log_dir=data_dir.parent / "logs")


async def run_to_each(runner: PythonProcess, points: Sequence[str]) -> None:
    """The trader process started with each point in turn; it must die there."""
    try:
        for point in points:
            runner.env[CRASH_AT_ENV] = point
            runner.start()
            await wait_until(lambda: runner.returncode is not None, 180, what=f"death at {point}")
            assert f"crashpoint: killed at {point}" in runner.output(), runner.output()[-3000:]
            assert runner.returncode == -9
            KILLED[point] = "trader process"
    finally:
        if runner.running:
            runner.kill()


async def mine_every(system: System, seconds: float) -> None:
    """A block every ``seconds`` until cancelled."""
    while True:
        await asyncio.sleep(seconds)
        await asyncio.to_thread(system.mine, 1)


async def mine_after_maturity(
    system: System, maturity: dt.datetime, until: asyncio.Task[None]
) -> None:
    """A block a second once the expiry is past (the CET and its confirmation), until done."""
    while not until.done():
        if dt.datetime.now(dt.UTC) >= maturity:
            await asyncio.to_thread(system.mine, 1)
        await asyncio.sleep(1)


@pytest.mark.timeout(600)
async def test_the_trader_killed_after_saving_accept_sign_and_at_each_rollover_step_settles(
    system: System, tmp_path: Path, coordinator_wallet: Wallet
) -> None:
    data_dir = tmp_path / "trader"
    trader = await new_trader(system, data_dir)
    initial = await fund(system, trader, FUNDS)
    before = coordinator_wallet.balance().total + initial
    # nine restarts of the trader process before the expiry
    await place(system, trader, await open_market(system, FAR_S), "long")
    await trader.close()  # the trader process answers the offer
    runner = trader_runner(system, data_dir)
    await run_to_each(runner, TRADER_SEEN_POINTS)
    settings = trader_settings(system, data_dir)
    trader = await Trader.open(settings, PASSPHRASE)
    await trader.start()
    try:
        opened = await drive(system, trader, frozenset({T.OPEN}), 120)
    finally:
        await trader.close()
    # the process rolls the position over by itself (it is inside the window)
    runner.env |= {
        "TENTENONE_TRADER_AUTO_ROLLOVER": "true",
        "TENTENONE_TRADER_ROLLOVER_WINDOW_S": "3600",
    }
    miner = asyncio.create_task(mine_every(system, 2.0))  # the renewal confirms meanwhile
    try:
        await run_to_each(runner, TRADER_ROLLOVER_POINTS)
    finally:
        miner.cancel()
    trader = await Trader.open(settings, PASSPHRASE)
    await trader.start()
    try:
        renewed = await roll_over(system, trader, opened)  # the confirmed renewal taken up
        settled = await settle_renewed(system, trader, "long", initial, opened, renewed, 0)
        await conserved(coordinator_wallet, trader, before, settled, opened)
    finally:
        await trader.close()


@pytest.mark.timeout(600)
async def test_the_coordinator_killed_at_each_step_still_settles_with_no_sat_lost(
    system: System, tmp_path: Path, coordinator_wallet: Wallet
) -> None:
    trader = await new_trader(system, tmp_path / "trader")
    try:
        initial = await fund(system, trader, FUNDS)
        before = coordinator_wallet.balance().total + initial
        await system.restart("dlc", crash_at=COORDINATOR_POINTS)
        deaths = asyncio.create_task(restart_at_each(system, "dlc", COORDINATOR_POINTS))
        await place(system, trader, await open_market(system, SOON_S), "long")
        opened = await drive(system, trader, OPEN_OR_LATER, 240)
        # the oracle dies at its next attestation (this expiry's or the one after)
        await system.restart("oracle", crash_at=ORACLE_ATTEST_POINTS)
        oracle = asyncio.create_task(restart_at_each(system, "oracle", ORACLE_ATTEST_POINTS))
        # the trader waits: the coordinator's own CET is what its points are about
        await mine_after_maturity(system, opened.maturity, deaths)
        await deaths
        await oracle
        settled = await settle(system, trader, "long", initial)
        await conserved(coordinator_wallet, trader, before, settled)
    finally:
        await trader.close()
        if not system.service("oracle").running:
            await system.restart("oracle")


@pytest.mark.timeout(600)
async def test_the_trader_killed_at_each_step_still_settles_with_no_sat_lost(
    system: System, tmp_path: Path, coordinator_wallet: Wallet
) -> None:
    data_dir = tmp_path / "trader"
    settings = trader_settings(system, data_dir)
    trader = await new_trader(system, data_dir)
    initial = await fund(system, trader, FUNDS)
    before = coordinator_wallet.balance().total + initial
    await place(system, trader, await open_market(system, SOON_S), "long")
    await trader.close()  # the trader process answers the offer
    runner = trader_runner(system, data_dir)
    await run_to_each(runner, TRADER_OPENING_POINTS)
    system.kill("dlc")  # away until the trader has settled alone
    try:
        trader = await Trader.open(settings, PASSPHRASE)
        await trader.start()
        try:
            await drive(system, trader, frozenset({T.OPEN}), 240)
        finally:
            await trader.close()
        await run_to_each(runner, TRADER_SETTLING_POINTS)
        trader = await Trader.open(settings, PASSPHRASE)
        await trader.start()
        try:
            settled = await settle(system, trader, "long", initial)
            await conserved(coordinator_wallet, trader, before, settled)
        finally:
            await trader.close()
    finally:
        await system.restart("dlc")


async def ask_until_answered(
    ask: Callable[[], Awaitable[object]], within: float, what: str
) -> None:
    """Ask until the coordinator answers: it dies, once, while answering."""

    async def asked() -> bool:
        try:
            await ask()
        except TentenoneError as exc:
            print(f"{what}: not answered yet: {exc.code}: {exc.message}")
            return False
        return True

    await wait_until(asked, within, interval=2, what=what)


async def open_long(
    system: System, trader: Trader, coordinator: Wallet, lead_s: float
) -> tuple[int, int, TraderContract]:
    """Fund ``trader``, open a long on an expiry ``lead_s`` out: its funds, the sum of
    both wallets before the trade, the open contract."""
    initial = await fund(system, trader, FUNDS)
    before = coordinator.balance().total + initial
    await place(system, trader, await open_market(system, lead_s), "long")
    opened = await drive(system, trader, frozenset({T.OPEN}), 240)
    return initial, before, opened


@pytest.mark.timeout(600)
async def test_the_coordinator_killed_at_each_close_step_still_closes_with_no_sat_lost(
    system: System, tmp_path: Path, coordinator_wallet: Wallet
) -> None:
    trader = await new_trader(system, tmp_path / "trader")
    try:
        _, before, opened = await open_long(system, trader, coordinator_wallet, SOON_S)
        short = {"TENTENONE_DLC_CLOSE_QUOTE_TTL_S": str(CLOSE_QUOTE_TTL_S)}
        await system.restart("dlc", env=short, crash_at=COORDINATOR_CLOSE_POINTS)
        deaths = asyncio.create_task(
            restart_at_each(system, "dlc", COORDINATOR_CLOSE_POINTS, env=short)
        )
        position_id = opened.position_id
        # a quote asked for and never signed: stored, then lapsed, the position open again
        with contextlib.suppress(TentenoneError):
            await trader.gateway.close_quote(position_id)
        await wait_until(
            lambda: "dlc.coordinator.close.after_expiry" in KILLED, 180, what="the quote lapsed"
        )

        async def close() -> object:
            try:
                return await trader.close_position(position_id)
            except TentenoneError:
                if T((await trader.contract_of(position_id)).state) is T.CLOSE_ACCEPTED:
                    return None  # the quote was signed before the answer was lost
                raise

        await ask_until_answered(close, 180, "the close")
        closed = await drive(system, trader, frozenset({T.CLOSED}), 240)
        await deaths
        await conserved(coordinator_wallet, trader, before, closed)
    finally:
        await trader.close()


@pytest.mark.timeout(600)
async def test_the_trader_killed_at_each_close_step_still_closes_with_no_sat_lost(
    system: System, tmp_path: Path, coordinator_wallet: Wallet
) -> None:
    data_dir = tmp_path / "trader"
    settings = trader_settings(system, data_dir)
    trader = await new_trader(system, data_dir)
    try:
        _, before, opened = await open_long(system, trader, coordinator_wallet, SOON_S)
    finally:
        await trader.close()
    # `close` dies after saving its signature; `run` after receiving the confirmation
    await run_to_each(
        trader_runner(system, data_dir, "close", opened.position_id), TRADER_CLOSE_POINTS[:1]
    )
    await run_to_each(trader_runner(system, data_dir), TRADER_CLOSE_POINTS[1:])
    trader = await Trader.open(settings, PASSPHRASE)
    await trader.start()
    try:
        closed = await drive(system, trader, frozenset({T.CLOSED}), 240)
        await conserved(coordinator_wallet, trader, before, closed)
    finally:
        await trader.close()


@pytest.mark.timeout(600)
async def test_the_coordinator_killed_at_each_rollover_step_still_settles_with_no_sat_lost(
    system: System, tmp_path: Path, coordinator_wallet: Wallet
) -> None:
    trader = await new_trader(system, tmp_path / "trader")
    try:
        # time to open and roll over before the expiry
        initial, before, opened = await open_long(system, trader, coordinator_wallet, LEAD_S + 30)
        await system.restart("dlc", crash_at=COORDINATOR_ROLLOVER_POINTS)
        deaths = asyncio.create_task(restart_at_each(system, "dlc", COORDINATOR_ROLLOVER_POINTS))
        await ask_until_answered(lambda: trader.roll_over(opened.position_id), 120, "rollover")
        renewed = await roll_over(system, trader, opened)
        await deaths
        settled = await settle_renewed(system, trader, "long", initial, opened, renewed, 0)
        await conserved(coordinator_wallet, trader, before, settled, opened)
    finally:
        await trader.close()


@pytest.mark.timeout(600)
async def test_a_trade_left_after_sign_dlc_is_released_through_each_kill_with_no_sat_lost(
    system: System, tmp_path: Path, coordinator_wallet: Wallet
) -> None:
    """The trader takes sign_dlc and dies before it saves the funding tx; it stays away
    past the coordinator's wait. The coordinator, killed at each step, double-spends its
    input and releases the match; the trader, back, releases its coins too."""
    data_dir = tmp_path / "trader"
    settings = trader_settings(system, data_dir)
    trader = await new_trader(system, data_dir)
    initial = await fund(system, trader, FUNDS)
    house_before = coordinator_wallet.balance().total
    short = {"TENTENONE_DLC_OFFER_TIMEOUT_S": str(RELEASE_TIMEOUT_S)}
    await system.restart("dlc", env=short, crash_at=COORDINATOR_RELEASE_POINTS)
    deaths = asyncio.create_task(
        restart_at_each(system, "dlc", COORDINATOR_RELEASE_POINTS, env=short)
    )
    miner = asyncio.create_task(mine_every(system, 2.0))  # the double spend confirms
    try:
        await place(system, trader, await open_market(system, FAR_S), "long")
        await trader.close()  # the trader process answers the offer
        await run_to_each(trader_runner(system, data_dir), ("dlc.trader.open.after_sign_receive",))
        await deaths
    finally:
        miner.cancel()
        deaths.cancel()
        await system.restart("dlc")  # its usual waits again
    trader = await Trader.open(settings, PASSPHRASE)
    await trader.start()
    try:
        released = await drive(system, trader, frozenset({T.RELEASED}), 120)
        assert "can no longer confirm" in released.note, released.note
        wallet = trader.require_wallet()
        assert wallet.locked_coins() == {}
        assert wallet.balance().total == initial
        # the coordinator paid the double spend's fee, nothing more
        spent_fees = await spends_fees(trader, OfferDlc.parse(bytes.fromhex(released.offer_hex)))
        assert spent_fees > 0, "no input of the coordinator was double-spent"
        await wait_until(
            lambda: house_before - coordinator_wallet.balance().total == spent_fees,
            60,
            what=f"the coordinator short of {spent_fees} sat of fees, no more",
        )
    finally:
        await trader.close()


@pytest.mark.timeout(600)
async def test_with_the_oracle_silent_each_side_killed_at_the_refund_still_refunds(
    system: System, tmp_path: Path, coordinator_wallet: Wallet
) -> None:
    data_dir = tmp_path / "trader"
    settings = trader_settings(system, data_dir)
    await system.restart("oracle", env={"TENTENONE_ORACLE_ATTEST_AFTER_S": "86400"})
    trader = await new_trader(system, data_dir)
    try:
        try:
            _, before, opened = await open_long(system, trader, coordinator_wallet, SOON_S)
            assert trader.source is not None
            tip = (await trader.source.tip()).height
        finally:
            await trader.close()
        system.kill("dlc")  # the trader reaches its refund point first
        await asyncio.to_thread(system.mine, max(1, opened.refund_locktime - tip))
        await run_to_each(trader_runner(system, data_dir), TRADER_REFUND_POINTS)
        await system.restart("dlc", crash_at=COORDINATOR_REFUND_POINTS)
        deaths = asyncio.create_task(restart_at_each(system, "dlc", COORDINATOR_REFUND_POINTS))
        miner = asyncio.create_task(mine_every(system, 2.0))
        try:
            await deaths
        finally:
            miner.cancel()
        trader = await Trader.open(settings, PASSPHRASE)
        await trader.start()
        try:
            refunded = await drive(system, trader, frozenset({T.REFUNDED}), 120)
            assert refunded.realized_pnl_sat == 0
            await conserved(coordinator_wallet, trader, before, refunded)
        finally:
            await trader.close()
    finally:
        await system.restart("oracle")
        if not system.service("dlc").running:
            await system.restart("dlc")
