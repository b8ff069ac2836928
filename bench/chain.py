"""Chain benchmarks. Devnet part: block validation rate and ElectrumX indexing time.

The workload: 1,000 blocks of 100 transactions (plus coinbase), each a signed
1-in/1-out P2WPKH spend, in 100 lanes so every block spends the previous
block's outputs. The blocks are built once (and validated once while being
built), then timed:

- kernel: a fresh libbitcoinkernel chainstate ``process_block``s them (Core's
  full validation, scripts included);
- node: a fresh devnet ``Node`` accepts them (kernel + our UTXO/tx index);
- ElectrumX: started on that node's data, the time until it serves the tip.

No real bitcoind can run here, so the figures are absolute, with the machine.

Chain monitor part (``bench/_chain_monitor.py``): a new block -> ``chain.tx_confirmed``
for 1,000 watched outputs, end to end (goal under 1 s), with ElectrumX's deployed reply
hold and with the tests' shorter one.

    python -m bench chain                      # both parts, updates bench/RESULTS.md
    python -m bench.chain --part monitor       # one part (devnet | monitor)
    python -m bench.chain --quick              # 50 blocks / 100 watches, prints only
    python -m bench.chain --part monitor --per-tx 1 --hold tests --events each  # one row
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import coincurve

from bench._chain_monitor import run as run_monitor
from bench._report import machine, write_section
from tentenone_devnet.assembly import build_block
from tentenone_devnet.codec import OutPoint, Tx, TxIn, TxOut
from tentenone_devnet.faucet import bip143_sighash
from tentenone_devnet.kernel import Kernel
from tentenone_devnet.node import Node
from tentenone_devnet.processes import ElectrumXProcess, NodeProcess
from tentenone_devnet.scripts import p2wpkh_script
from tentenone_devnet.testing import TEST_REPLY_HOLD_S, electrum_call

__all__ = ["main"]

_RESULTS = Path(__file__).with_name("RESULTS.md")
_START, _END = "<!-- bench:chain-devnet:start -->", "<!-- bench:chain-devnet:end -->"
_MARKS_MONITOR = "<!-- bench:chain-monitor:start -->", "<!-- bench:chain-monitor:end -->"
_LANES = 100
_HOLDS = ("deployed", "tests")
_FEE = 200


class _Lanes:
    """100 P2WPKH coins of one key, each spent once per block."""

    def __init__(self) -> None:
        self.key = coincurve.PrivateKey(os.urandom(32))
        self.pubkey = self.key.public_key.format(compressed=True)
        self.script = p2wpkh_script(self.pubkey)
        self._code = b"\x76\xa9\x14" + self.script[2:] + b"\x88\xac"
        self.coins: list[tuple[OutPoint, int]] = []

    def sign(self, tx: Tx, values: list[int]) -> Tx:
        for i, value in enumerate(values):
            digest = bip143_sighash(tx, i, self._code, value)
            tx.vin[i].witness = [self.key.sign(digest, hasher=None) + b"\x01", self.pubkey]
        return Tx.parse(Tx(tx.version, tx.vin, tx.vout, tx.locktime).raw)

    def fan_out(self, coinbase: Tx) -> Tx:
        value = coinbase.vout[0].value - 10_000
        each = value // _LANES
        tx = Tx(2, [TxIn(OutPoint(coinbase.txid, 0))], [TxOut(each, self.script)] * _LANES)
        signed = self.sign(tx, [coinbase.vout[0].value])
        self.coins = [(OutPoint(signed.txid, n), each) for n in range(_LANES)]
        return signed

    def step(self) -> list[Tx]:
        txs = []
        coins = []
        for op, value in self.coins:
            tx = self.sign(Tx(2, [TxIn(op)], [TxOut(value - _FEE, self.script)]), [value])
            txs.append(tx)
            coins.append((OutPoint(tx.txid, 0), value - _FEE))
        self.coins = coins
        return txs


def _build(workdir: Path, blocks: int) -> tuple[list[bytes], int]:
    """Every block of the workload (setup first); returns (raw blocks, index of first timed)."""
    kernel = Kernel(workdir / "source")
    lanes = _Lanes()
    raws: list[bytes] = []

    def mine(txs: list[Tx]) -> Tx:
        height = kernel.height
        when = max(int(time.time()), kernel.median_time_past(height) + 1)
        fees = _FEE * len(txs) if txs and len(txs[0].vin) == 1 and len(txs) == _LANES else 0
        block = build_block(kernel.tip_hash, height + 1, when, txs, lanes.script, fees)
        raw = block.serialize()
        result = kernel.submit(raw)
        if not result.accepted:
            raise RuntimeError(f"workload block {height + 1} rejected: {result.reason}")
        raws.append(raw)
        return block.txs[0]

    first_coinbase = mine([])
    for _ in range(100):
        mine([])
    mine([lanes.fan_out(first_coinbase)])
    setup = len(raws)
    started = time.monotonic()
    for n in range(blocks):
        mine(lanes.step())
        if time.monotonic() - started > 5 and n % 50 == 0:
            print(f"  built {n}/{blocks} blocks", flush=True)
    kernel.close()
    return raws, setup


def _time_kernel(workdir: Path, raws: list[bytes], setup: int) -> float:
    kernel = Kernel(workdir / "kernel-only")
    for raw in raws[:setup]:
        kernel.submit(raw)
    started = time.perf_counter()
    for raw in raws[setup:]:
        if not kernel.submit(raw).accepted:
            raise RuntimeError("a workload block was rejected on replay")
    elapsed = time.perf_counter() - started
    kernel.close()
    return elapsed


def _time_node(datadir: Path, raws: list[bytes], setup: int) -> float:
    node = Node(datadir)
    for raw in raws[:setup]:
        node.submit_block(raw)
    started = time.perf_counter()
    for raw in raws[setup:]:
        if not node.submit_block(raw).accepted:
            raise RuntimeError("a workload block was rejected by the node")
    elapsed = time.perf_counter() - started
    node.close()
    return elapsed


def _time_electrumx(datadir: Path, tip_height: int) -> tuple[float, float]:
    """(seconds from ElectrumX's "catching up" to its "synced" log line, seconds to serve the tip).

    The first figure is its indexing alone; the second adds its start (imports, DB open).
    """
    node = NodeProcess(datadir)
    info = node.start()
    user, password = info.auth()
    url = info.rpc_url.replace("http://", f"http://{user}:{password}@")
    electrumx = ElectrumXProcess(datadir / "electrumx", url)
    log = electrumx.log_path
    try:
        started = time.perf_counter()
        electrumx.spawn()
        catching_up = synced = None
        while synced is None:
            text = log.read_text() if log.exists() else ""
            now = time.perf_counter()
            if catching_up is None and "catching up to daemon height" in text:
                catching_up = now
            if f"synced to height {tip_height:,}" in text:
                synced = now
            if not electrumx.alive():
                raise RuntimeError("ElectrumX exited:\n" + text[-2000:])
            time.sleep(0.02)
        assert catching_up is not None
        while True:
            try:
                tip = electrum_call(electrumx.address, "blockchain.headers.subscribe")
            except OSError:
                tip = {"height": -1}
            if tip["height"] >= tip_height:
                break
            time.sleep(0.05)
        return synced - catching_up, time.perf_counter() - started
    finally:
        electrumx.stop()
        node.stop()


def _devnet(blocks: int, write: bool) -> int:
    host = machine()
    with tempfile.TemporaryDirectory(prefix="bench-chain-") as tmp:
        work = Path(tmp)
        print(f"building {blocks} blocks of {_LANES} txs ...", flush=True)
        t0 = time.perf_counter()
        raws, setup = _build(work, blocks)
        build_s = time.perf_counter() - t0
        txs = blocks * _LANES
        size_mb = sum(len(r) for r in raws[setup:]) / 1e6
        kernel_s = _time_kernel(work, raws, setup)
        print(f"kernel: {blocks / kernel_s:.0f} blocks/s, {txs / kernel_s:.0f} tx/s", flush=True)
        node_s = _time_node(work / "node", raws, setup)
        print(f"node:   {blocks / node_s:.0f} blocks/s, {txs / node_s:.0f} tx/s", flush=True)
        process_s, ex_s = _time_electrumx(work / "node", len(raws))
        print(f"ElectrumX: processing {process_s:.1f} s, tip served after {ex_s:.1f} s", flush=True)
    section = "\n".join(
        [
            "## chain: devnet validation and ElectrumX indexing",
            "",
            f"{datetime.now(UTC):%Y-%m-%d}, `python -m bench chain`, machine: {host} "
            "(other work on the machine slows every row).",
            f"Workload: {blocks:,} blocks x {_LANES} signed P2WPKH txs ({txs:,} txs, "
            f"{size_mb:.1f} MB), on {setup} setup blocks; built (and validated once) in "
            f"{build_s:.1f} s. No real bitcoind can run here: absolute figures.",
            "",
            "| what | time | rate |",
            "|---|---|---|",
            f"| libbitcoinkernel `process_block` (full validation) | {kernel_s:.2f} s | "
            f"{blocks / kernel_s:,.0f} blocks/s, {txs / kernel_s:,.0f} tx/s |",
            f"| devnet node accept (kernel + index) | {node_s:.2f} s | "
            f"{blocks / node_s:,.0f} blocks/s, {txs / node_s:,.0f} tx/s |",
            f"| ElectrumX 2.0 index from genesis to tip (start included) | {ex_s:.2f} s | "
            f"{blocks / ex_s:,.0f} blocks/s, {txs / ex_s:,.0f} tx/s |",
            f"| of which indexing ('catching up' to 'synced' in its log) | {process_s:.2f} s | "
            f"{blocks / process_s:,.0f} blocks/s, {txs / process_s:,.0f} tx/s |",
        ]
    )
    print(section)
    if write:
        write_section("chain-devnet", section)
    return 0


def _monitor_rows(
    per_txs: tuple[int, ...], holds: tuple[str, ...], events: tuple[str, ...]
) -> list[tuple[int, float | None, bool, bool]]:
    """(outputs per tx, reply hold, batched, blocks) of each row. By default: per-watch
    events with both holds, batched events with the deployed hold, and the reference:
    the per-script Electrum path (no block source) of 1,000 x 1."""
    chosen = [None if h == "deployed" else TEST_REPLY_HOLD_S for h in holds or _HOLDS]
    if events:
        return [(p, h, e == "batched", True) for e in events for p in per_txs for h in chosen]
    rows = [(p, h, False, True) for p in per_txs for h in chosen]
    return [*rows, *((p, None, True, True) for p in per_txs), (1, TEST_REPLY_HOLD_S, False, False)]


def _monitor(
    watches: int, write: bool, rows_wanted: list[tuple[int, float | None, bool, bool]]
) -> int:
    host = machine()
    rows = []
    for per_tx, hold, batched, blocks in rows_wanted:
        print(f"chain monitor: {watches}, {per_tx}/tx, hold {hold}, {batched=}, {blocks=}")
        r = run_monitor(watches, hold, per_tx, blocks=blocks, batched=batched)
        print(f"  {r}", flush=True)
        held = "1 s (deployed)" if hold is None else f"{hold} s (tests)"
        kind = "`txs_confirmed` (batched)" if batched else "`tx_confirmed` each"
        if not blocks:
            kind += ", no block source: per script, as before (reference)"
        rows.append(
            f"| {watches // per_tx:,} x {per_tx} | {held} | {kind} | {r.generateblock_s:.2f} s | "
            f"{r.tip_seen_s:.2f} s | {r.first_script_s:.2f} / {r.last_script_s:.2f} s | "
            f"{r.committed_s:.2f} s | {r.first_event_s:.2f} s | "
            f"**{r.all_events_s:.2f} s** | {r.rounds} | {r.electrumx_floor_s:.2f} s |"
        )
    section = "\n".join(
        [
            "## chain: new block -> chain.tx_confirmed for watched outputs (chain monitor)",
            "",
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `python -m bench chain --part monitor`, "
            f"machine: {host}.",
            f"{watches:,} script watches, one key each; a block of transactions "
            "(never seen in the mempool) paying every watched output. Devnet node + "
            "ElectrumX 2.0 (polling the node every 0.1 s), PostgreSQL, RabbitMQ (quorum "
            "queue); the monitor in the bench's process, reading new blocks from the node "
            "(ADR 0055), a bus consumer beside it. Timed from `generateblock` returning to "
            "the last watch's confirmation received. Goal: under 1 s.",
            "",
            "Columns after the fourth are seconds after `generateblock` returned: the chain "
            "source's new tip, its first / last script notification, the monitor's first "
            "commit at the new height, the first and the last confirmation received. "
            "Events: one `chain.tx_confirmed` per watch, or (for an owner configured in "
            "`batched_owners`) one `chain.txs_confirmed` per round carrying them all. "
            "ElectrumX floor, the reference: what the per-script path would ask (every "
            "history, transaction and proof) sent at once on one connection by a bare client.",
            "",
            "| txs x outputs | ElectrumX reply hold | events | node: generateblock | tip seen | "
            "script changes | committed | first event | all events | rounds | "
            "ElectrumX floor |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(section)
    if write:
        write_section("chain-monitor", section)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.chain")
    parser.add_argument(
        "--quick", action="store_true", help="50 blocks / 100 watches, no RESULTS.md update"
    )
    parser.add_argument("--part", choices=["devnet", "monitor"], action="append")
    parser.add_argument("--watches", type=int, help="monitor part: watched outputs (one row)")
    parser.add_argument("--per-tx", type=int, action="append", help="monitor: outputs per tx")
    parser.add_argument("--hold", choices=_HOLDS, action="append", help="monitor: reply hold")
    parser.add_argument(
        "--events", choices=["each", "batched"], action="append", help="monitor: event form"
    )
    args = parser.parse_args(argv)
    one = args.watches is not None or args.per_tx or args.hold or args.events
    parts = args.part or ["devnet", "monitor"]
    rc = 0
    if "devnet" in parts:
        rc |= _devnet(50 if args.quick else 1_000, write=not args.quick)
    if "monitor" in parts:
        watches = args.watches or (100 if args.quick else 1_000)
        per_txs = tuple(args.per_tx or (1, 100))
        rows = _monitor_rows(per_txs, tuple(args.hold or ()), tuple(args.events or ()))
        rc |= _monitor(watches, not (args.quick or one), rows)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
