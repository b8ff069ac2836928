"""BIP-39 mnemonics: generate, check with a clear reason, and turn into a seed."""

from __future__ import annotations

import secrets
import unicodedata

from tentenone.wallet._embit import bip39
from tentenone.wallet.errors import InvalidMnemonic

__all__ = ["generate_mnemonic", "normalize_mnemonic", "seed_from_mnemonic"]

_WORDLIST: list[str] = list(bip39.WORDLIST)
_WORDS = set(_WORDLIST)


def generate_mnemonic(words: int = 12) -> str:
    """A new mnemonic of 12, 15, 18, 21 or 24 words from the OS's random source."""
    if words not in (12, 15, 18, 21, 24):
        raise InvalidMnemonic(f"a mnemonic has 12, 15, 18, 21 or 24 words, not {words}")
    return str(bip39.mnemonic_from_bytes(secrets.token_bytes(words * 4 // 3)))


def normalize_mnemonic(text: str) -> str:
    """The mnemonic in canonical form (NFKD, lower case, single spaces), or ``InvalidMnemonic``.

    The message names what is wrong but never repeats the words themselves.
    """
    if not isinstance(text, str):
        raise InvalidMnemonic("a mnemonic is a string of words")
    words = unicodedata.normalize("NFKD", text).lower().split()
    if len(words) not in (12, 15, 18, 21, 24):
        raise InvalidMnemonic(f"a mnemonic has 12, 15, 18, 21 or 24 words, got {len(words)}")
    unknown = [i + 1 for i, w in enumerate(words) if w not in _WORDS]
    if unknown:
        positions = ", ".join(str(p) for p in unknown)
        raise InvalidMnemonic(f"word(s) at position {positions} are not in the BIP-39 list")
    phrase = " ".join(words)
    if not bip39.mnemonic_is_valid(phrase):
        raise InvalidMnemonic("mnemonic checksum does not match: a word is wrong or misplaced")
    return phrase


def seed_from_mnemonic(text: str, passphrase: str = "") -> bytes:
    """The 64-byte BIP-39 seed."""
    return bytes(bip39.mnemonic_to_seed(normalize_mnemonic(text), passphrase))
