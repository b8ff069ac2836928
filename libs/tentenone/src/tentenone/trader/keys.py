"""Every key of the trader, derived from the one BIP-39 seed (ADR 0110).

Paths (``h`` = hardened; ``coin`` is 0 on mainnet, 1 on every test network):

- on-chain wallet: BIP-84 ``m/84h/coin/0h`` (``tentenone.wallet.WalletAccount``);
- node key, which signs the gateway's challenges (BIP-340, x-only):
  ``m/1010h/coin/0h/0h``;
- DLC funding key of contract number ``n`` (the 2-of-2 funding output, the
  CET adaptor and refund signatures): ``m/1010h/coin/1h/nh``; ``n`` is
  allocated by the trader's database and kept in the backup;
- backup encryption key: HKDF-SHA256 of the secret at ``m/1010h/coin/2h/0h``
  with info ``tentenone backup v1`` (ChaCha20-Poly1305, ``tentenone.trader.backup``).

Every level is hardened: a leaked funding key gives nothing about the others
or about the wallet. Purpose 1010 is this project's own (no BIP assigns it).
"""

from __future__ import annotations

import importlib
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tentenone.bitcoin.keys import public_key
from tentenone.chain.network import Network
from tentenone.oracle import schnorr
from tentenone.trader.errors import TraderInputError
from tentenone.trader.keystore import SecretWords
from tentenone.wallet import AddressKind, WalletAccount, seed_from_mnemonic

__all__ = ["FUNDING_KEY_LIMIT", "PURPOSE", "TraderKeys"]

_bip32: Any = importlib.import_module("embit.bip32")
_HARD = 0x8000_0000
PURPOSE = 1010
#: funding key numbers are hardened indexes: below 2^31
FUNDING_KEY_LIMIT = _HARD


class TraderKeys:
    """The keys of one seed on one network. ``repr`` shows only public data."""

    __slots__ = ("_root", "_words", "network", "node_pubkey")

    def __init__(self, words: SecretWords, network: Network) -> None:
        self._words = words
        self.network = network
        self._root = _bip32.HDKey.from_seed(seed_from_mnemonic(words.reveal()))
        #: the trader's identity at the gateway: x-only public key, 32 bytes
        self.node_pubkey = schnorr.public_key(self._secret(0, 0))

    def __repr__(self) -> str:
        return f"TraderKeys(node={self.node_pubkey.hex()}, network={self.network.value})"

    def _secret(self, branch: int, index: int) -> bytes:
        path = [PURPOSE + _HARD, self.network.coin_type + _HARD, branch + _HARD, index + _HARD]
        return bytes(self._root.derive(path).key.secret)

    def wallet_account(self) -> WalletAccount:
        return WalletAccount.from_mnemonic(self._words.reveal(), self.network, AddressKind.P2WPKH)

    def sign_challenge(self, digest: bytes) -> bytes:
        """BIP-340 signature of the gateway's 32-byte challenge digest by the node key."""
        if len(digest) != 32:
            raise TraderInputError("a challenge digest has 32 bytes")
        return schnorr.sign(self._secret(0, 0), digest)

    def funding_secret(self, number: int) -> bytes:
        """The secret of funding key ``number`` (a contract's, see the module)."""
        if not 0 <= number < FUNDING_KEY_LIMIT:
            raise TraderInputError(f"funding key number {number} is outside 0..2^31-1")
        return self._secret(1, number)

    def funding_pubkey(self, number: int) -> bytes:
        """Compressed public key (33 bytes) of funding key ``number``."""
        return public_key(self.funding_secret(number))

    def backup_key(self) -> bytes:
        """The 32-byte key that encrypts this seed's backups."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"tentenone backup v1")
        return hkdf.derive(self._secret(2, 0))
