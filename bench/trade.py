"""A matched trade becoming a fully signed DLC, step by step.

``signed``: one fill (a 5x long of 10,000 USD at 60,000 against the
coordinator, 20-digit oracle, about 3,000 CETs) taken from ``trade.matched``
to a fully signed contract on the protocol layer both sides run: the
coordinator builds and self-checks the offer, the trader checks the offer
against its order and signs every CET, the coordinator verifies every
adaptor signature of the trader and signs its own, the trader verifies
every one of the coordinator's and signs its funding input. Each message is
serialized and parsed as the bus and the gateway would. Timed by step, in
one process and with a process pool for signing and verifying (the
library's ``executor=``). Goal: under 2 s end to end.

``service``: the same through the DLC service on PostgreSQL and RabbitMQ
(``bench/_trade_service.py``), the coordinator's protocol work timed apart
from its database, encoding and bus costs.

``sustained``: 20 traders opening and closing positions for 5 minutes against every
service running as its own process on the devnet (``bench/_trade_sustained.py``);
trades per minute and the wall time of each step. Not part of ``all`` (it takes
the minutes it measures).

``python -m bench.trade [signed|service|all] [--repeat N] [--max-cets N] [--profile] [--no-write]``
``python -m bench.trade sustained [--traders 20] [--seconds 300] [--max-cets N] [--block-s 2]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench._report import machine, write_section
from tentenone.bitcoin.script import p2wpkh
from tentenone.dlc.adaptor_points import OracleHashingPolicy
from tentenone.dlc.curve import Side
from tentenone.dlc.messages import AcceptDlc, OfferDlc, SignDlc
from tentenone.dlc.oracle_messages import OracleAnnouncement
from tentenone.dlc.protocol.opening import (
    PartyFunding,
    accept_offer,
    build_offer,
    complete_funding,
    sign_accept,
)
from tentenone.dlc.protocol.signer import KeyInputSigner
from tentenone.dlc.protocol.terms import TradeTerms, build_contract, check_offer_terms
from tentenone.dlc.protocol.testing import TestOracle, key, prev_tx_coin, pubkey
from tentenone.dlc.validation import ValidationPolicy, validate_offer
from tentenone.oracle.hashing import OracleHashing

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
CHAIN_HASH = bytes.fromhex("06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f")
EVENT = "btcusd1900000000"
STEPS = (
    "offer: curve, contract, offer, self-check",
    "trader: offer checks (terms, Protocol.md)",
    "trader: accept (sign every CET)",
    "coordinator: verify accept, sign every CET",
    "trader: verify sign_dlc, sign funding",
    "wire: serialize + parse the three messages",
)


@dataclass
class Run:
    steps: dict[str, float] = field(default_factory=dict)
    #: CPU seconds of this process by step (the pool's workers are not in it)
    cpu: dict[str, float] = field(default_factory=dict)
    cets: int = 0
    signatures: int = 0

    @property
    def total(self) -> float:
        return sum(self.steps.values())


def _terms(oracle: TestOracle, max_cets: int) -> TradeTerms:
    return TradeTerms(
        trader_side=Side.LONG,
        quantity=10_000,
        price=Decimal(60_000),
        trader_leverage=Decimal(5),
        coordinator_leverage=Decimal(5),
        fee=2_000,
        oracle_public_key=oracle.public_key,
        event_id=EVENT,
        nb_digits=20,
        max_cets=max_cets,
    )


def _wire[M: OfferDlc | AcceptDlc | SignDlc](message: M) -> M:
    return type(message).parse(message.serialize())  # type: ignore[return-value]


def one_trade(
    announcement: OracleAnnouncement,
    terms: TradeTerms,
    policy: ValidationPolicy,
    executor: Executor | None,
    tag: int,
) -> Run:
    """The protocol steps of one matched trade, timed."""
    run = Run()
    clock = time.perf_counter

    def timed[T](step: str, fn: Callable[[], T]) -> T:
        start, cpu = clock(), time.process_time()
        result = fn()
        run.steps[step] = run.steps.get(step, 0.0) + clock() - start
        run.cpu[step] = run.cpu.get(step, 0.0) + time.process_time() - cpu
        return result

    coordinator = PartyFunding(
        pubkey(key("bench coordinator fund")),
        p2wpkh(pubkey(key("bench coordinator payout"))),
        p2wpkh(pubkey(key("bench coordinator wallet"))),
        (prev_tx_coin(key("bench coordinator wallet"), 50_000_000, tag),),
    )
    trader = PartyFunding(
        pubkey(key("bench trader fund")),
        p2wpkh(pubkey(key("bench trader payout"))),
        p2wpkh(pubkey(key("bench trader wallet"))),
        (prev_tx_coin(key("bench trader wallet"), 50_000_000, tag + 1),),
    )

    def offer() -> OfferDlc:
        info, curve = build_contract(terms, announcement)
        built = build_offer(
            info,
            curve.offer_collateral,
            coordinator,
            chain_hash=CHAIN_HASH,
            fee_rate=2,
            cet_locktime=200,
            refund_locktime=5_000,
        )
        validate_offer(built, policy)
        return built

    sent_offer = timed(STEPS[0], offer)
    got_offer = timed(STEPS[5], lambda: _wire(sent_offer))
    timed(
        STEPS[1], lambda: (check_offer_terms(got_offer, terms), validate_offer(got_offer, policy))
    )
    accept, checked = timed(
        STEPS[2],
        lambda: accept_offer(
            got_offer, policy, trader, key("bench trader fund"), executor=executor
        ),
    )
    got_accept = timed(STEPS[5], lambda: _wire(accept))
    sign, _ = timed(
        STEPS[3],
        lambda: sign_accept(
            sent_offer,
            got_accept,
            policy,
            key("bench coordinator fund"),
            KeyInputSigner([key("bench coordinator wallet")]),
            executor=executor,
        ),
    )
    got_sign = timed(STEPS[5], lambda: _wire(sign))
    timed(
        STEPS[4],
        lambda: complete_funding(
            checked,
            got_sign,
            policy,
            KeyInputSigner([key("bench trader wallet")]),
            executor=executor,
        ),
    )
    run.cets = len(checked.transactions.cets)
    run.signatures = len(accept.cet_adaptor_signatures)
    return run


def bench_signed(repeat: int, max_cets: int, workers: int) -> dict[str, Any]:
    oracle = TestOracle("bench oracle", hashing=OracleHashing.TAGGED)
    announcement = oracle.announce(EVENT, 1_900_000_000)
    policy = ValidationPolicy(
        chain_hashes=frozenset({CHAIN_HASH}),
        hashing=OracleHashingPolicy(OracleHashing.TAGGED),
    )
    terms = _terms(oracle, max_cets)
    results: dict[str, Any] = {}
    with ProcessPoolExecutor(workers) as pool:
        # warm the workers (imports, tables) outside the timing
        one_trade(announcement, terms, policy, pool, 1)
        for label, executor in (("one process", None), (f"pool of {workers}", pool)):
            runs = [
                one_trade(announcement, terms, policy, executor, 10 + 2 * i) for i in range(repeat)
            ]
            results[label] = runs
    return {"runs": results, "max_cets": max_cets, "workers": workers}


def _median_steps(runs: list[Run], cpu: bool = False) -> dict[str, float]:
    return {
        s: statistics.median((r.cpu if cpu else r.steps).get(s, 0.0) for r in runs) for s in STEPS
    }


def report_signed(result: dict[str, Any]) -> str:
    runs: dict[str, list[Run]] = result["runs"]
    first = next(iter(runs.values()))[0]
    lines = [
        f"One matched trade to a fully signed DLC: {first.cets} CETs, "
        f"{first.signatures} adaptor signatures per side, 20 digits, 5x/5x, "
        f"median of {len(first.steps) and len(next(iter(runs.values())))} runs (seconds).",
        "",
        "| step | " + " | ".join(runs) + " |",
        "|---|" + "---:|" * len(runs),
    ]
    lines[2] += " CPU, one process |"
    lines[3] += "---:|"
    medians = {label: _median_steps(rs) for label, rs in runs.items()}
    one = next(iter(runs.values()))
    cpu = _median_steps(one, cpu=True)
    for step in STEPS:
        cells = [f"{medians[lb][step]:.3f}" for lb in runs] + [f"{cpu[step]:.3f}"]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    totals = {lb: statistics.median(r.total for r in rs) for lb, rs in runs.items()}
    cpu_total = statistics.median(sum(r.cpu.values()) for r in one)
    cells = [f"**{totals[lb]:.3f}**" for lb in runs] + [f"**{cpu_total:.3f}**"]
    lines.append("| **total** | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def profile_signed(max_cets: int, top: int = 12) -> str:
    """cProfile of one trade in one process: where the time goes, by own time."""
    import cProfile
    import io
    import pstats

    oracle = TestOracle("bench oracle", hashing=OracleHashing.TAGGED)
    announcement = oracle.announce(EVENT, 1_900_000_000)
    policy = ValidationPolicy(
        chain_hashes=frozenset({CHAIN_HASH}),
        hashing=OracleHashingPolicy(OracleHashing.TAGGED),
    )
    profiler = cProfile.Profile()
    profiler.runcall(one_trade, announcement, _terms(oracle, max_cets), policy, None, 90)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
    return "\n".join(["```", *lines[start : start + top + 1], "```"])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.trade", description=__doc__)
    parser.add_argument(
        "part", nargs="?", choices=("signed", "service", "all", "sustained"), default="all"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-cets", type=int, default=3_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--profile", action="store_true", help="add a cProfile of one trade")
    parser.add_argument("--traders", type=int, default=20, help="sustained: concurrent traders")
    parser.add_argument("--seconds", type=float, default=300, help="sustained: length of the run")
    parser.add_argument("--block-s", type=float, default=2.0, help="sustained: a block every")
    args = parser.parse_args(argv)
    host = machine()
    if args.part == "sustained":
        return sustained(args, host)
    if args.part in ("signed", "all"):
        result = bench_signed(args.repeat, args.max_cets, args.workers)
        body = report_signed(result)
        if args.profile:
            body += "\n\nProfile of one trade (one process), by own time:\n\n"
            body += profile_signed(args.max_cets)
        print(body)
        if not args.no_write:
            stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
            write_section(
                "trade-signed",
                "## trade: matched trade to a signed DLC\n\n"
                f"`python -m bench.trade signed` ({stamp}; {host}). Goal: under 2 s.\n\n{body}",
            )
    if args.part in ("service", "all"):
        body = service_section(args.repeat, args.max_cets, args.workers, args.profile)
        print(body)
        if not args.no_write:
            stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
            write_section(
                "trade-service",
                "## trade: through the DLC service\n\n"
                f"`python -m bench.trade service` ({stamp}; {host}). Goal: under 2 s.\n\n{body}",
            )
    return 0


def sustained(args: argparse.Namespace, host: str) -> int:
    from bench import _trade_sustained

    result = _trade_sustained.run(args.traders, args.seconds, args.max_cets, args.block_s)
    body = _trade_sustained.report(result, args.block_s)
    print(body)
    if not args.no_write:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
        command = (
            f"python -m bench.trade sustained --traders {args.traders} "
            f"--seconds {args.seconds:g} --max-cets {args.max_cets}"
        )
        write_section(
            "trade-sustained",
            f"## trade: sustained, {args.traders} traders\n\n`{command}` ({stamp}; {host}).\n\n"
            + body,
        )
    return 0 if result.closed else 1


def service_section(repeat: int, max_cets: int, workers: int, profile: bool) -> str:
    import asyncio

    from bench import _trade_service

    lines = []
    for label, pool in (("one process", 0), (f"pool of {workers}", workers)):
        start = time.process_time()
        runs, prof = asyncio.run(_trade_service.run(repeat, max_cets, pool, profile and not pool))
        cpu = time.process_time() - start
        lines.append((label, runs, prof, cpu))
    first = lines[0][1][0]
    out = [
        f"One matched trade through the service: {int(first['signatures'])} adaptor signatures "
        f"per side, 20 digits, 5x against 5x; median of {repeat} runs "
        "after one warm-up (seconds).",
        "",
        "| step | " + " | ".join(label for label, *_ in lines) + " |",
        "|---|" + "---:|" * len(lines),
    ]
    out[2] += " CPU, one process |"
    out[3] += "---:|"
    for step in _trade_service.SERVICE_STEPS:
        cells = [f"{statistics.median(r[step] for r in runs):.3f}" for _, runs, _, _ in lines]
        cells.append(f"{statistics.median(r['cpu ' + step] for r in lines[0][1]):.3f}")
        out.append(f"| {step} | " + " | ".join(cells) + " |")
    totals = [
        statistics.median(sum(r[s] for s in _trade_service.SERVICE_STEPS) for r in runs)
        for _, runs, _, _ in lines
    ]
    cpu_total = statistics.median(
        sum(r["cpu " + s] for s in _trade_service.SERVICE_STEPS) for r in lines[0][1]
    )
    out.append("| **total** | " + " | ".join(f"**{t:.3f}**" for t in [*totals, cpu_total]) + " |")
    out += [
        "",
        "CPU: seconds of the bench process (the service and the trader, every thread; "
        "a pool's workers are not in it); the coordinator's protocol row is its thread's.",
    ]
    for label, _, prof, _ in lines:
        if prof:
            out += ["", f"Profile of the event loop's thread over one trade ({label}):", "", prof]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
