"""A one-key signer for tests against the devnet: P2WPKH (BIP143) and P2TR key path (BIP341).

Not a wallet: it signs the transactions a test builds by hand (valid ones and
deliberately broken ones). The taproot sighash is embit's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import coincurve
from embit import ec
from embit import script as escript
from embit.transaction import Transaction as ETransaction

from tentenone_devnet.codec import OutPoint, Tx, TxIn, TxOut
from tentenone_devnet.faucet import bip143_sighash
from tentenone_devnet.scripts import p2wpkh_script, script_to_address

__all__ = ["Key", "Spendable"]


@dataclass(frozen=True)
class Spendable:
    outpoint: OutPoint
    out: TxOut


class Key:
    def __init__(self, secret: bytes | None = None) -> None:
        self.secret = secret or os.urandom(32)
        self._ck = coincurve.PrivateKey(self.secret)
        self._ek = ec.PrivateKey(self.secret)
        self.pubkey = self._ck.public_key.format(compressed=True)
        self.p2wpkh = p2wpkh_script(self.pubkey)
        self.p2tr = bytes(escript.p2tr(self._ek.get_public_key()).data)

    def address(self, taproot: bool = False) -> str:
        addr = script_to_address(self.p2tr if taproot else self.p2wpkh)
        assert addr is not None
        return addr

    def spend(
        self,
        coins: list[Spendable],
        outputs: list[TxOut],
        *,
        sequence: int = 0xFFFFFFFD,
        locktime: int = 0,
        version: int = 2,
    ) -> Tx:
        """Sign every input (each coin must pay to this key's P2WPKH or P2TR script)."""
        tx = Tx(version, [TxIn(c.outpoint, b"", sequence) for c in coins], outputs, locktime)
        etx = ETransaction.parse(tx.raw)
        spks = [escript.Script(c.out.script_pubkey) for c in coins]
        values = [c.out.value for c in coins]
        for i, coin in enumerate(coins):
            if coin.out.script_pubkey == self.p2wpkh:
                code = b"\x76\xa9\x14" + self.p2wpkh[2:] + b"\x88\xac"
                digest = bip143_sighash(tx, i, code, coin.out.value)
                tx.vin[i].witness = [self._ck.sign(digest, hasher=None) + b"\x01", self.pubkey]
            elif coin.out.script_pubkey == self.p2tr:
                digest = etx.sighash_taproot(i, spks, values)
                sig = self._ek.taproot_tweak(b"").schnorr_sign(digest)
                tx.vin[i].witness = [sig.serialize()]
            else:
                raise ValueError(f"input {i} does not pay to this key")
        # A new object: ``tx.raw`` was cached before the witnesses were set.
        return Tx.parse(Tx(tx.version, tx.vin, tx.vout, tx.locktime).raw)
