"""A matched trade to a fully signed DLC through the DLC service, by step.

The service runs in this process on the machine's PostgreSQL and RabbitMQ
(its own database and vhost) with the in-memory chain, wallet and oracle of
its tests (``services/dlc/tests/dlc_world.py``: the chain is not on this
path). The trader is the protocol layer over the bus, as the gateway relays
it. Steps: ``trade.matched`` published → offer_dlc listed; the trader checks
the offer and signs every CET; accept_dlc submitted (the coordinator
verifies every adaptor signature, signs its own, stores and answers);
sign_dlc listed; the trader verifies every signature and signs its funding
input. Inside the submit, the coordinator's protocol work (verify + sign) is
timed apart from the rest (database, encoding, bus).
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from tentenone.testing import postgres
from tentenone.testing.amqp import VhostPool, vhost_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services" / "dlc" / "tests"))

import dlc_world  # the service tests' helpers (memory ports), on the path above

import tentenone_dlc.coordinator as coordinator_module
from tentenone.dlc.messages import OfferDlc, SignDlc
from tentenone.dlc.protocol.terms import check_offer_terms
from tentenone.errors import TentenoneError

SERVICE_STEPS = (
    "match → offer_dlc listed (build, reserve, store, bus)",
    "trader: offer checks + accept (sign every CET)",
    "submit accept_dlc: coordinator verify + sign (protocol)",
    "accept_dlc → sign_dlc listed: the rest (bus, parse, DB, encode)",
    "trader: verify sign_dlc, sign funding",
)


async def one_trade(world: Any, trader: Any, protocol: list[float]) -> dict[str, float]:
    clock = time.perf_counter
    steps: dict[str, float] = {}
    cpu = {"at": time.process_time()}

    def cpu_step(step: str) -> None:
        # CPU seconds of this process (every thread; not the pool's workers)
        now = time.process_time()
        steps[f"cpu {step}"] = now - cpu["at"]
        cpu["at"] = now

    start = clock()
    await world.match(trader)
    position_id, offer = await trader.next_message("offer_dlc", within=120)
    assert isinstance(offer, OfferDlc)
    steps[SERVICE_STEPS[0]] = clock() - start
    cpu_step(SERVICE_STEPS[0])
    start = clock()
    check_offer_terms(offer, replace(trader.terms(), coordinator_leverage=Decimal(5)))
    accept = await trader.accept(offer)
    steps[SERVICE_STEPS[1]] = clock() - start
    cpu_step(SERVICE_STEPS[1])
    steps["signatures"] = len(accept.cet_adaptor_signatures)
    start, before = clock(), len(protocol)
    # on a loaded machine the RPC may time out: the work goes on, sign_dlc follows
    with contextlib.suppress(TentenoneError):
        await trader.submit(position_id, accept, "accept_dlc")
    _, sign = await trader.next_message("sign_dlc", within=300)
    assert isinstance(sign, SignDlc)
    inside = sum(protocol[before:])
    steps[SERVICE_STEPS[2]] = inside
    steps[SERVICE_STEPS[3]] = clock() - start - inside
    cpu_step(SERVICE_STEPS[3])
    steps[f"cpu {SERVICE_STEPS[2]}"] = protocol_cpu[-1] if protocol_cpu else 0.0
    steps[f"cpu {SERVICE_STEPS[3]}"] -= steps[f"cpu {SERVICE_STEPS[2]}"]
    start = clock()
    await asyncio.to_thread(trader.fund, sign)
    steps[SERVICE_STEPS[4]] = clock() - start
    cpu_step(SERVICE_STEPS[4])
    return steps


#: CPU seconds of each sign_accept (its thread)
protocol_cpu: list[float] = []


def _timed_sign_accept(protocol: list[float]) -> Callable[..., Any]:
    original = coordinator_module.sign_accept

    def timed(*args: Any, **kw: Any) -> Any:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            return original(*args, **kw)
        finally:
            protocol.append(time.perf_counter() - start)
            protocol_cpu.append(time.thread_time() - cpu)

    return timed


async def run(
    repeat: int, max_cets: int, workers: int, profile: bool
) -> tuple[list[dict[str, float]], str]:
    pool = VhostPool()
    vhost = pool.acquire()
    db_name = postgres.create_database()
    protocol: list[float] = []
    coordinator_module.sign_accept = _timed_sign_accept(protocol)  # type: ignore[assignment]
    runs: list[dict[str, float]] = []
    report = ""
    try:
        fixture = dlc_world.start_fixture(vhost_url(vhost), postgres.async_url(db_name))
        start = await anext(fixture)
        world = await start(
            max_cets=max_cets, nb_digits=20, coordinator_leverage=5, signing_workers=workers
        )
        profiler = cProfile.Profile() if profile else None
        for i in range(repeat + 1):  # the first warms the pool, caches and connections
            trader = dlc_world.Trader(world, f"bench-{i}", max_cets=max_cets, rpc_timeout=300)
            if profiler is not None and i == repeat:
                profiler.enable()
            steps = await one_trade(world, trader, protocol)
            if profiler is not None and i == repeat:
                profiler.disable()
            if i:
                runs.append(steps)
        if profiler is not None:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(14)
            lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
            first = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
            report = "\n".join(["```", *lines[first : first + 15], "```"])
        await fixture.aclose()
    finally:
        pool.release(vhost)
        pool.close()
        postgres.drop_database(db_name)
    return runs, report
