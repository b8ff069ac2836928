"""The faucet: a P2WPKH key the miner pays to, and the transactions it signs.

The key is generated once per data directory (``faucet.key``, mode 0600): it
is devnet money only and never leaves the machine.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import coincurve

from tentenone_devnet.codec import OutPoint, Tx, TxIn, TxOut, compact_size, sha256d
from tentenone_devnet.scripts import p2wpkh_script, script_to_address

__all__ = ["Faucet", "bip143_sighash"]

_SIGHASH_ALL = 1


def bip143_sighash(tx: Tx, index: int, script_code: bytes, value: int) -> bytes:
    """The BIP143 (segwit v0) signature hash with SIGHASH_ALL."""
    prevouts = b"".join(i.prevout.txid + struct.pack("<I", i.prevout.n) for i in tx.vin)
    sequences = b"".join(struct.pack("<I", i.sequence) for i in tx.vin)
    outputs = b"".join(o.serialize() for o in tx.vout)
    txin = tx.vin[index]
    preimage = b"".join(
        [
            struct.pack("<i", tx.version),
            sha256d(prevouts),
            sha256d(sequences),
            txin.prevout.txid,
            struct.pack("<I", txin.prevout.n),
            compact_size(len(script_code)),
            script_code,
            struct.pack("<q", value),
            struct.pack("<I", txin.sequence),
            sha256d(outputs),
            struct.pack("<I", tx.locktime),
            struct.pack("<I", _SIGHASH_ALL),
        ]
    )
    return sha256d(preimage)


class Faucet:
    def __init__(self, key_path: Path) -> None:
        if key_path.exists():
            secret = bytes.fromhex(key_path.read_text().strip())
        else:
            secret = os.urandom(32)
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secret.hex())
        self._key = coincurve.PrivateKey(secret)
        self.pubkey = self._key.public_key.format(compressed=True)
        self.script = p2wpkh_script(self.pubkey)
        address = script_to_address(self.script)
        assert address is not None
        self.address = address

    def spend(self, coins: list[tuple[OutPoint, TxOut]], outputs: list[TxOut], fee: int) -> Tx:
        """Sign a tx spending faucet ``coins`` to ``outputs``, change back to the faucet."""
        total = sum(c.value for _, c in coins)
        change = total - sum(o.value for o in outputs) - fee
        if change < 0:
            raise ValueError("faucet coins do not cover outputs and fee")
        vout = list(outputs)
        if change > 1000:
            vout.append(TxOut(change, self.script))
        tx = Tx(2, [TxIn(op, b"", 0xFFFFFFFD) for op, _ in coins], vout, 0)
        h160 = self.script[2:]
        script_code = b"\x76\xa9\x14" + h160 + b"\x88\xac"
        for i, (_, coin) in enumerate(coins):
            digest = bip143_sighash(tx, i, script_code, coin.value)
            sig = self._key.sign(digest, hasher=None) + bytes((_SIGHASH_ALL,))
            tx.vin[i].witness = [sig, self.pubkey]
        return Tx.parse(tx.raw)  # fresh object: no cached ids from the unsigned form
