"""Chain client and wallet benchmark: verification and signing costs, and a real sync.

``python -m bench wallet`` (or ``make bench``). Offline: header chain checks
(continuity, proof of work, nBits rule) per header, merkle proof checks,
coin selection over 1,000 coins, PSBT signing per input (P2WPKH, P2TR).
On the devnet (node + ElectrumX, started here): a cold header sync of the
whole chain through ``ElectrumChainSource`` and a wallet's first sync.
No reference implementation runs here: absolute figures, with the machine.
Results replace the ``## wallet`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench._report import machine, write_section
from tentenone.chain import ElectrumChainSource, Network, OutPoint
from tentenone.chain.headers import BlockHeader, HeaderChain
from tentenone.chain.merkle import verify_merkle_proof
from tentenone.wallet import (
    AddressKind,
    Candidate,
    MemoryPersister,
    PsbtInput,
    Wallet,
    WalletAccount,
    create_psbt,
    select_coins,
    sign_inputs,
)

HERE = Path(__file__).parent
WORDS = "legal winner thank year wave sausage worth useful legal winner thank yellow"
_GENESIS = BlockHeader(
    (1).to_bytes(4, "little")
    + bytes(32)
    + bytes.fromhex("4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b")[::-1]
    + (1296688602).to_bytes(4, "little")
    + (0x207FFFFF).to_bytes(4, "little")
    + (2).to_bytes(4, "little")
)


def _dsha(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def _regtest_headers(count: int) -> list[BlockHeader]:
    out, prev = [], _GENESIS
    for i in range(count):
        for nonce in range(1000):
            raw = (
                (0x20000000).to_bytes(4, "little")
                + bytes.fromhex(prev.hash)[::-1]
                + _dsha(prev.raw)
                + (1_700_000_000 + i).to_bytes(4, "little")
                + (0x207FFFFF).to_bytes(4, "little")
                + nonce.to_bytes(4, "little")
            )
            header = BlockHeader(raw)
            if header.hash_int <= 0x7FFFFF << 232:
                break
        out.append(header)
        prev = header
    return out


def _time(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best wall time of ``repeat`` runs, seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _offline() -> dict[str, float]:
    rows: dict[str, float] = {}
    headers = _regtest_headers(2000)
    seconds = _time(lambda: HeaderChain(Network.REGTEST.params, 0, [_GENESIS]).connect(1, headers))
    rows["header checks (2,000 regtest headers), µs per header"] = seconds / 2000 * 1e6

    leaves = [_dsha(os.urandom(200)) for _ in range(4096)]
    raw = os.urandom(200)
    leaves[1234] = _dsha(raw)
    root_header = bytearray(_GENESIS.raw)
    level, index = list(leaves), 1234
    branch = []
    while len(level) > 1:
        branch.append(level[index ^ 1][::-1].hex())
        level = [_dsha(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        index >>= 1
    root_header[36:68] = level[0]
    header = BlockHeader(bytes(root_header))
    txid = leaves[1234][::-1].hex()
    n = 2000
    seconds = _time(
        lambda: [verify_merkle_proof(txid, raw, branch, 1234, header) for _ in range(n)]
    )
    rows["merkle proof check (4,096-tx block), µs"] = seconds / n * 1e6

    coins = [Candidate(f"c{i}", 10_000 + (i * 7919) % 990_000, 272) for i in range(1000)]
    seconds = _time(
        lambda: select_coins(
            coins,
            target=3_333_333,
            base_weight=166,
            fee_rate_kvb=5000,
            change_output_weight=124,
            change_spend_weight=272,
            dust_limit=294,
        )
    )
    rows["coin selection over 1,000 coins, ms"] = seconds * 1e3

    for kind in AddressKind:
        account = WalletAccount.from_mnemonic(WORDS, Network.REGTEST, kind)
        derived = [account.derive(0, i) for i in range(50)]
        inputs = [
            PsbtInput(OutPoint(os.urandom(32).hex(), 0), 20_000, d.script, d) for d in derived
        ]
        psbt = create_psbt(account, inputs, [(derived[0].script, 50 * 20_000 - 5_000)])
        ours = dict(enumerate(derived))
        seconds = _time(lambda a=account, p=psbt, o=ours: sign_inputs(p, a, o), repeat=2)
        rows[f"PSBT signing, {kind.value}, ms per input (50 inputs)"] = seconds / 50 * 1e3
    return rows


async def _devnet_sync(blocks: int) -> dict[str, float]:
    from tentenone_devnet.testing import Devnet

    rows: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        net = Devnet(Path(tmp))
        try:
            account = WalletAccount.from_mnemonic(WORDS, Network.REGTEST)
            for i in range(10):
                address = account.derive(0, i)
                net.fund(_address(address.script), 100_000)
            net.mine(blocks)
            net.start_electrumx()
            height = net.rpc.call("getblockcount")
            start = time.perf_counter()
            source = ElectrumChainSource([f"tcp://{net.electrum_address}"], Network.REGTEST)
            await source.start()
            rows[f"cold header sync, {height} headers via ElectrumX, s"] = (
                time.perf_counter() - start
            )
            start = time.perf_counter()
            wallet = Wallet(account, source, MemoryPersister())
            await wallet.start()
            assert wallet.balance().confirmed == 1_000_000
            rows["wallet first sync: 10 funded + 40 empty scripts, s"] = time.perf_counter() - start
            await wallet.close()
            await source.close()
        finally:
            net.close()
    return rows


def _address(script: bytes) -> str:
    from tentenone.wallet import script_to_address

    return script_to_address(script, Network.REGTEST)


def _report(rows: dict[str, float]) -> str:
    lines = [
        "## wallet",
        "",
        f"`python -m bench wallet` on {machine()}, "
        f"{time.strftime('%Y-%m-%d')}. Best of 3 (offline rows); one run (devnet rows). "
        "No reference client runs here. The devnet sync is bound by round trips: ElectrumX 2 "
        "pads small replies and may hold them up to 1 s (traffic-analysis defence), so "
        "requests are sent in batches.",
        "",
        "| measure | value |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {value:.2f} |" for name, value in rows.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench wallet")
    parser.add_argument("--blocks", type=int, default=400, help="blocks to mine for the sync")
    parser.add_argument("--no-devnet", action="store_true", help="offline figures only")
    parser.add_argument("--no-write", action="store_true", help="print, do not update RESULTS.md")
    args = parser.parse_args(argv)
    rows = _offline()
    if not args.no_devnet:
        rows.update(asyncio.run(_devnet_sync(args.blocks)))
    section = _report(rows)
    print(section)
    if not args.no_write:
        write_section("wallet", section)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
