"""Sustained trading: N traders opening and closing positions against the whole system.

Every coordinator service runs as its own process (``tentenone.testing.system``)
on a fresh devnet node and ElectrumX, the machine's PostgreSQL, RabbitMQ and
Redis. Each trader is the trader library (its own SQLite, wallet, Electrum
connection and protocol engine, in this process) talking to the gateway over
HTTP, exactly as the CLI does. In a loop until the time is up, each trader
places an order the house has rested the other side of, waits for its
position to open (offer, accept, sign, funding at depth), asks for an early
close and waits for the closing transaction to confirm. A miner task mines a
block every ``block_s`` seconds: the chain advances as it would, at a
regtest pace, and nobody mines on demand.

Steps are timed from the first moment a trader's contract is seen in each
state (polled every 0.25 s), so the figures are the wall time a trader waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from tentenone.dlc.protocol.states import TraderState as T
from tentenone.errors import TentenoneError
from tentenone.testing.system import HOUSE, System, SystemConfig, installed_services
from tentenone.trader import OrderRequest, Trader, TraderSettings
from tentenone.trader.models import TraderContract
from tentenone.wallet import generate_mnemonic
from tentenone.wire import orderbook as wob
from tentenone_devnet.testing import TEST_REPLY_HOLD_S, Devnet

PRICE_CENTS = 5_000_000
QUANTITY = 1_000
LEVERAGE = 5
FUNDS = 20_000_000
STEPS = (
    "order placed → offer received",
    "offer → accepted (trader checks, signs every CET)",
    "accepted → signed (coordinator verifies, signs)",
    "signed → open (funding broadcast, at depth)",
    "close asked → closing (quote, both sign)",
    "closing → closed (close tx confirmed)",
)
_MARKS = {
    T.OFFER_RECEIVED: 0,
    T.ACCEPTED: 1,
    T.SIGNED: 2,
    T.FUNDING: 2,
    T.OPEN: 3,
}


@dataclass
class Sustained:
    traders: int
    seconds: float
    max_cets: int
    #: the end of the window (monotonic): what completes after it is not counted
    until: float = float("inf")
    opened: int = 0
    closed: int = 0
    failed: list[str] = field(default_factory=list)
    steps: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def per_minute(self, count: int) -> float:
        return count * 60 / self.seconds


async def _poll_contract(trader: Trader, known: set[str], deadline: float) -> TraderContract | None:
    while time.monotonic() < deadline:
        for row in reversed(await trader.contract_rows()):
            if row.id not in known:
                return row
        await asyncio.sleep(0.25)
    return None


async def _wait_state(
    trader: Trader, row_id: str, wanted: frozenset[T], seen: dict[T, float], deadline: float
) -> TraderContract | None:
    while time.monotonic() < deadline:
        row = await trader.contract_of(row_id)
        state = T(row.state)
        seen.setdefault(state, time.monotonic())
        if state in wanted:
            return row
        if state in (T.REJECTED, T.RELEASED, T.REFUNDED):
            raise RuntimeError(f"contract {row.id} ended {state.name}: {row.note}")
        await asyncio.sleep(0.25)
    return None


async def _round_trip(system: System, trader: Trader, market: str, result: Sustained) -> bool:
    """One position opened and closed; False when the time ran out first."""
    # a trade started in the window is seen through, for two minutes after it at most
    deadline = result.until + 120
    known = {r.id for r in await trader.contract_rows()}
    await system.rpc(
        wob.PLACE_ORDER,
        wob.PlaceOrderRequest(
            market=market,
            trader_id=HOUSE,
            side="sell",
            quantity=QUANTITY,
            leverage=1,
            price=PRICE_CENTS,
        ),
    )
    placed = time.monotonic()
    request = OrderRequest(market, "buy", QUANTITY, LEVERAGE, Decimal(PRICE_CENTS) / 100)
    order = await trader.place_order(request)
    if order.remote_id is None:
        raise RuntimeError(f"order refused: {order.note}")
    row = await _poll_contract(trader, known, min(deadline, placed + 300))
    if row is None:
        raise RuntimeError("no offer within 300 s of the order")
    seen: dict[T, float] = {T.OFFER_RECEIVED: time.monotonic()}
    opened = await _wait_state(trader, row.id, frozenset({T.OPEN}), seen, deadline)
    if opened is None:
        return False
    marks = [placed, seen[T.OFFER_RECEIVED], seen.get(T.ACCEPTED), seen.get(T.SIGNED)]
    marks += [seen.get(T.FUNDING, seen[T.OPEN]), seen[T.OPEN]]
    if time.monotonic() <= result.until:
        result.opened += 1
    asked = time.monotonic()
    await trader.close_position(opened.position_id)
    closing_seen: dict[T, float] = {}
    closed = await _wait_state(trader, row.id, frozenset({T.CLOSED}), closing_seen, deadline)
    if closed is None:
        return False
    if time.monotonic() <= result.until:
        result.closed += 1
    _record(result, marks, asked, closing_seen)
    return True


def _record(
    result: Sustained, marks: list[float | None], asked: float, closing: dict[T, float]
) -> None:
    placed, offered, accepted, signed, funding, opened = marks
    assert placed is not None and offered is not None and opened is not None
    # a state passed between two polls counts from the next one seen
    accepted = accepted or signed or funding or opened
    signed = signed or funding or opened
    spans = [
        offered - placed,
        accepted - offered,
        signed - accepted,
        opened - signed,
        closing.get(T.CLOSING, asked) - asked,
        closing[T.CLOSED] - closing.get(T.CLOSING, asked),
    ]
    for step, span in zip(STEPS, spans, strict=True):
        result.steps[step].append(max(0.0, span))


async def _trader_loop(
    system: System, trader: Trader, market: str, until: float, result: Sustained
) -> None:
    while time.monotonic() < until:
        try:
            if not await _round_trip(system, trader, market, result):
                return
        except (TentenoneError, RuntimeError) as exc:
            result.failed.append(f"{trader.node_pubkey[:8]}: {exc}")
            await asyncio.sleep(1)


async def _miner(system: System, block_s: float) -> None:
    while True:
        await asyncio.sleep(block_s)
        with contextlib.suppress(Exception):  # a slow ElectrumX: the next block catches up
            await asyncio.to_thread(system.mine, 1)


async def _new_trader(system: System, data_dir: Path, max_cets: int) -> Trader:
    settings = TraderSettings(
        data_dir=data_dir,
        gateway_url=system.gateway_url,
        electrum_servers=system.electrum_servers,
        max_cets=max_cets,
        poll_interval_s=0.5,
        websocket=False,
    )
    trader = await Trader.create_wallet(settings, generate_mnemonic(), "bench passphrase")
    await trader.start()
    address = await trader.new_address()
    await asyncio.to_thread(system.net.fund, address, FUNDS)
    return trader


async def _market(system: System, seconds: float) -> str:
    """An open market expiring after the run (nothing settles while we measure)."""
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds * 1.5)
    markets = await system.rpc(wob.LIST_MARKETS, wob.ListMarketsRequest())
    found = [m for m in markets.markets if m.status == "open" and m.expiry >= soon]
    if not found:
        raise RuntimeError("no market expires after the run: raise expiry_every_s")
    return min(found, key=lambda m: m.expiry).market


async def _measure(
    net: Devnet, base: Path, traders: int, seconds: float, max_cets: int, block_s: float
) -> Sustained:
    config = SystemConfig(
        expiry_every_s=max(600, int(seconds * 2)),
        max_cets=max_cets,
        offer_timeout_s=max(300.0, seconds),
        close_quote_ttl_s=120.0,
        coordinator_coins=traders * 2,
        services=[n for n in installed_services() if n != "maker"],
    )
    system = System(net, base / "system", config)
    await system.start()
    result = Sustained(traders, seconds, max_cets)
    started: list[Trader] = []
    miner: asyncio.Task[None] | None = None
    try:
        for i in range(traders):
            started.append(await _new_trader(system, base / f"trader-{i}", max_cets))
        await asyncio.to_thread(system.mine, 1)
        for trader in started:
            trader.run_in_background()
        market = await _market(system, seconds)
        miner = asyncio.create_task(_miner(system, block_s))
        print(f"{traders} traders funded; trading for {seconds:.0f} s on {market}", flush=True)
        until = result.until = time.monotonic() + seconds
        await asyncio.gather(
            *(_trader_loop(system, t, market, until, result) for t in started),
            _progress(result, until),
        )
    finally:
        if miner is not None:
            miner.cancel()
        for trader in started:
            with contextlib.suppress(Exception):
                await trader.close()
        await system.stop()
    return result


async def _progress(result: Sustained, until: float) -> None:
    """A line every 15 s: long work shows how it goes."""
    while (left := until - time.monotonic()) > 0:
        await asyncio.sleep(min(15.0, left))
        print(
            f"  {result.opened} opened, {result.closed} closed, {len(result.failed)} failed, "
            f"{max(0.0, until - time.monotonic()):.0f} s left",
            flush=True,
        )


def run(traders: int, seconds: float, max_cets: int, block_s: float) -> Sustained:
    with tempfile.TemporaryDirectory(prefix="bench-sustained-") as tmp:
        net = Devnet(Path(tmp) / "devnet", electrum_reply_hold_s=TEST_REPLY_HOLD_S)
        try:
            net.start_electrumx()
            return asyncio.run(_measure(net, Path(tmp), traders, seconds, max_cets, block_s))
        finally:
            net.close()


def report(result: Sustained, block_s: float) -> str:
    out = [
        f"{result.traders} traders, {result.seconds:.0f} s, contracts of at most "
        f"{result.max_cets} CETs (5x long of {QUANTITY:,} USD at "
        f"{PRICE_CENTS // 100:,} USD against the coordinator), a block every {block_s:g} s.",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| positions opened | {result.opened} ({result.per_minute(result.opened):.1f}/min) |",
        f"| positions closed | {result.closed} ({result.per_minute(result.closed):.1f}/min) |",
        f"| trades (opens + closes) per minute | "
        f"{result.per_minute(result.opened + result.closed):.1f} |",
        f"| failures | {len(result.failed)} |",
        "",
        "Steps: every round trip seen through, those that ended after the window included.",
        "",
        "| step (wall seconds a trader waits) | median | p90 | max | n |",
        "|---|---:|---:|---:|---:|",
    ]
    slowest = ("-", 0.0)
    for step in STEPS:
        spans = sorted(result.steps.get(step, []))
        if not spans:
            out.append(f"| {step} | - | - | - | 0 |")
            continue
        median = statistics.median(spans)
        p90 = spans[min(len(spans) - 1, int(len(spans) * 0.9))]
        out.append(f"| {step} | {median:.2f} | {p90:.2f} | {spans[-1]:.2f} | {len(spans)} |")
        if median > slowest[1]:
            slowest = (step, median)
    out += ["", f"Slowest step (by median): {slowest[0]}."]
    if result.failed:
        out += ["", "Failures (first 5):", *[f"- {f}" for f in result.failed[:5]]]
    return "\n".join(out)
