"""The trader's encrypted backup: bytes per open position, before and after ADR 0113.

One real contract as ``bench.trade`` signs it (5x/5x, 20 digits, about 3,000
CETs), stored as the trader stores it; then the backup blob of that one
position written the way it was before ADR 0113 (every message whole, zlib's
default strategy: the reference, rebuilt here in the same run) and as it is
now (``settle_only``, ``Z_FILTERED``), field by field, with how many such
positions fit the DLC service's ``MAX_BACKUP_BYTES``.

``python -m bench.backup [--max-cets N] [--no-write]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import struct
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor

from bench._report import machine, write_section
from bench.trade import CHAIN_HASH, EVENT, _terms
from tentenone.chain.network import Network
from tentenone.dlc.adaptor_points import OracleHashingPolicy
from tentenone.dlc.protocol.opening import (
    accept_offer,
    build_offer,
    complete_funding,
    sign_accept,
)
from tentenone.dlc.protocol.signer import KeyInputSigner
from tentenone.dlc.protocol.terms import build_contract
from tentenone.dlc.protocol.testing import TestOracle, key, party_funding
from tentenone.dlc.validation import ValidationPolicy
from tentenone.oracle.hashing import OracleHashing
from tentenone.trader.backup import BackupPayload, ContractRecord, encrypt_backup, settle_only
from tentenone.trader.keys import TraderKeys
from tentenone.trader.keystore import SecretWords
from tentenone.wire.dlc import MAX_BACKUP_BYTES

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
KEYS = TraderKeys(SecretWords("abandon " * 11 + "about"), Network.REGTEST)
FIELDS = ("offer_hex", "accept_hex", "sign_hex", "funding_tx_hex")


def signed_record(max_cets: int) -> tuple[ContractRecord, int]:
    """An open position's row as the trader stores it, and its adaptor signatures per side."""
    oracle = TestOracle("bench oracle", hashing=OracleHashing.TAGGED)
    policy = ValidationPolicy(
        chain_hashes=frozenset({CHAIN_HASH}), hashing=OracleHashingPolicy(OracleHashing.TAGGED)
    )
    info, curve = build_contract(_terms(oracle, max_cets), oracle.announce(EVENT, 1_900_000_000))
    offer = build_offer(
        info,
        curve.offer_collateral,
        party_funding("bench coordinator", 1, 50_000_000),
        chain_hash=CHAIN_HASH,
        fee_rate=2,
        cet_locktime=200,
        refund_locktime=5_000,
    )
    with ProcessPoolExecutor(os.cpu_count() or 2) as pool:
        trader = party_funding("bench trader", 2, 50_000_000)
        accept, checked = accept_offer(
            offer, policy, trader, key("bench trader fund"), executor=pool
        )
        coordinator = KeyInputSigner([key("bench coordinator wallet")])
        sign, _ = sign_accept(
            offer, accept, policy, key("bench coordinator fund"), coordinator, executor=pool
        )
        wallet = KeyInputSigner([key("bench trader wallet")])
        tx, signed = complete_funding(checked, sign, policy, wallet, executor=pool)
    record = ContractRecord(
        id="p1",
        state=5,  # open
        version=4,
        position_id="p1",
        market=EVENT,
        side="long",
        quantity=10_000,
        price_cents=6_000_000,
        leverage=5,
        funding_key=0,
        temporary_contract_id=offer.temporary_contract_id.hex(),
        contract_id=signed.contract_id.hex(),
        offer_hex=offer.serialize().hex(),
        accept_hex=accept.serialize().hex(),
        sign_hex=sign.serialize().hex(),
        funding_tx_hex=tx.serialize().hex(),
        funding_txid=tx.txid_hex(),
        maturity=NOW,
        created_at=NOW,
        updated_at=NOW,
    )
    return record, len(accept.cet_adaptor_signatures)


def _payload(contracts: list[ContractRecord]) -> BackupPayload:
    return BackupPayload(
        version=1,
        created_at=NOW,
        network="regtest",
        node_pubkey=KEYS.node_pubkey.hex(),
        state_number=1,
        last_seq=1,
        funding_key_next=1,
        contracts=contracts,
        orders=[],
    )


def reference_blob(payload: BackupPayload) -> bytes:
    """The blob as ``encrypt_backup`` wrote it before ADR 0113 (zlib's default strategy)."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    header = struct.pack(">4sBQ", b"TTBK", 1, payload.version)
    nonce = secrets.token_bytes(12)
    plain = zlib.compress(payload.model_dump_json().encode(), 6)
    return header + nonce + ChaCha20Poly1305(KEYS.backup_key()).encrypt(nonce, plain, header)


def _deflated(text: str, now: bool) -> int:
    if not now:
        return len(zlib.compress(text.encode(), 6))
    deflate = zlib.compressobj(6, zlib.DEFLATED, 15, 8, zlib.Z_FILTERED)
    return len(deflate.compress(text.encode()) + deflate.flush())


def report(record: ContractRecord, signatures: int) -> str:
    kept = settle_only(record)
    empty = len(encrypt_backup(_payload([]), KEYS.backup_key()))
    start = time.perf_counter()
    after = len(encrypt_backup(_payload([kept]), KEYS.backup_key())) - empty
    seconds = time.perf_counter() - start
    before = len(reference_blob(_payload([record]))) - empty
    lines = [
        f"One open position: {signatures} adaptor signatures per side. Bytes in the backup "
        f"(deflated hex; the blob adds {empty} bytes of its own).",
        "",
        "| field | before (whole, zlib default) | after (settle_only, Z_FILTERED) |",
        "|---|---:|---:|",
    ]
    for name in FIELDS:
        was, now = getattr(record, name) or "", getattr(kept, name) or ""
        lines.append(f"| {name} | {_deflated(was, False):,} | {_deflated(now, True):,} |")
    lines += [
        f"| **blob per position** | **{before:,}** | **{after:,}** |",
        f"| positions under MAX_BACKUP_BYTES ({MAX_BACKUP_BYTES:,}) "
        f"| {(MAX_BACKUP_BYTES - empty) // before} | {(MAX_BACKUP_BYTES - empty) // after} |",
        "",
        f"{before / after:.1f}x smaller; writing the one-position backup took {seconds:.2f} s "
        "(prune, JSON, deflate, encrypt).",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.backup", description=__doc__)
    parser.add_argument("--max-cets", type=int, default=3_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    host = machine()
    record, signatures = signed_record(args.max_cets)
    body = report(record, signatures)
    print(body)
    if not args.no_write:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
        write_section(
            "backup",
            "## backup: the trader's encrypted backup per open position\n\n"
            f"`python -m bench.backup` ({stamp}; {host}).\n\n{body}",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
