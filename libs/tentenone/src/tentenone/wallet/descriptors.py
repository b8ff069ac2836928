"""BIP-84 (P2WPKH) and BIP-86 (P2TR key-path) accounts: derivation, scripts, descriptors.

A ``WalletAccount`` holds the account's public key and, when it can sign,
the root private key. ``repr`` never shows key material.
"""

from __future__ import annotations

import enum
import importlib
from dataclasses import dataclass, field
from typing import Any

from tentenone.chain.network import Network
from tentenone.wallet._embit import bip32, descriptor, networks, script
from tentenone.wallet.errors import InvalidWalletInput, SigningError
from tentenone.wallet.mnemonic import seed_from_mnemonic

__all__ = ["CHANGE", "RECEIVE", "AddressKind", "DerivedScript", "WalletAccount"]

RECEIVE = 0
CHANGE = 1
_HARD = 0x80000000
_checksum: Any = importlib.import_module("embit.descriptor.checksum")


class AddressKind(enum.StrEnum):
    P2WPKH = "p2wpkh"
    P2TR = "p2tr"

    @property
    def purpose(self) -> int:
        return 84 if self is AddressKind.P2WPKH else 86

    @property
    def input_weight(self) -> int:
        """Weight of a signed input: outpoint, empty scriptSig, sequence and the witness."""
        base = (32 + 4 + 1 + 4) * 4
        # P2WPKH: count, 72-byte DER signature with sighash byte, 33-byte key.
        # P2TR key path: count and a 64-byte Schnorr signature (SIGHASH_DEFAULT).
        return base + (1 + 1 + 72 + 1 + 33 if self is AddressKind.P2WPKH else 1 + 1 + 64)

    @property
    def max_witness_len(self) -> int:
        """dlcspecs funding input ``max_witness_len``: the serialized witness at most."""
        return 108 if self is AddressKind.P2WPKH else 66

    @property
    def output_script_len(self) -> int:
        return 22 if self is AddressKind.P2WPKH else 34


@dataclass(frozen=True, slots=True)
class DerivedScript:
    branch: int
    index: int
    script: bytes
    path: tuple[int, ...]
    """Full derivation path from the master key (hardened indexes have bit 31 set)."""
    pubkey: bytes
    """Compressed public key (33 bytes); for P2TR its x-only form is ``pubkey[1:]``."""


@dataclass(eq=False)
class WalletAccount:
    kind: AddressKind
    network: Network
    account: int
    fingerprint: bytes
    account_xpub: Any = field(repr=False)
    _root: Any = field(default=None, repr=False)

    @classmethod
    def from_mnemonic(
        cls,
        words: str,
        network: Network,
        kind: AddressKind = AddressKind.P2WPKH,
        *,
        passphrase: str = "",
        account: int = 0,
    ) -> WalletAccount:
        if not 0 <= account < _HARD:
            raise InvalidWalletInput(f"account must be 0..2^31-1, got {account}")
        version = networks.NETWORKS[network.value]["xprv"]
        root = bip32.HDKey.from_seed(seed_from_mnemonic(words, passphrase), version=version)
        xpub = root.derive(cls._account_path(kind, network, account)).to_public()
        return cls(kind, network, account, bytes(root.my_fingerprint), xpub, root)

    @classmethod
    def watch_only(
        cls, kind: AddressKind, network: Network, account: int, fingerprint: bytes, xpub: str
    ) -> WalletAccount:
        try:
            key = bip32.HDKey.from_string(xpub)
        except Exception:
            raise InvalidWalletInput("account public key is not a valid extended key") from None
        if key.is_private:
            raise InvalidWalletInput("watch-only accounts take a public key, not a private one")
        return cls(kind, network, account, fingerprint, key, None)

    @staticmethod
    def _account_path(kind: AddressKind, network: Network, account: int) -> list[int]:
        return [kind.purpose + _HARD, network.coin_type + _HARD, account + _HARD]

    @property
    def can_sign(self) -> bool:
        return self._root is not None

    @property
    def account_path(self) -> list[int]:
        return self._account_path(self.kind, self.network, self.account)

    def descriptor(self, branch: int | None = None) -> str:
        """The public output descriptor with checksum (both branches when ``branch`` is None)."""
        path = "/".join(f"{i - _HARD}h" for i in self.account_path)
        xpub = self.account_xpub.to_base58(networks.NETWORKS[self.network.value]["xpub"])
        tail = "<0;1>" if branch is None else str(branch)
        fn = "wpkh" if self.kind is AddressKind.P2WPKH else "tr"
        text = f"{fn}([{self.fingerprint.hex()}/{path}]{xpub}/{tail}/*)"
        descriptor.Descriptor.from_string(text)  # embit checks what it parses
        return str(_checksum.add_checksum(text))

    def derive(self, branch: int, index: int) -> DerivedScript:
        if branch not in (RECEIVE, CHANGE) or not 0 <= index < _HARD:
            raise InvalidWalletInput(f"cannot derive branch {branch} index {index}")
        child = self.account_xpub.derive([branch, index])
        pub = child.get_public_key()
        if self.kind is AddressKind.P2WPKH:
            script = bytes.fromhex("0014") + _hash160(pub.sec())
        else:
            script = bytes.fromhex("5120") + pub.taproot_tweak(b"").xonly()
        return DerivedScript(
            branch, index, script, (*self.account_path, branch, index), bytes(pub.sec())
        )

    def private_key(self, path: tuple[int, ...]) -> Any:
        """The private key at ``path`` (under our account only); ``SigningError`` if watch-only."""
        if self._root is None:
            raise SigningError("this account is watch-only: it holds no private key")
        if list(path[:3]) != self.account_path or len(path) != 5:
            raise SigningError("derivation path is not under this wallet's account")
        return self._root.derive(list(path)).key


def _hash160(data: bytes) -> bytes:
    return bytes(script.hashes.hash160(data))
