"""Where the trader's BIP-39 words live: the ``KeyStore`` interface and its file implementation.

``FileKeyStore`` keeps the words encrypted at rest (ARCHITECTURE §3
"Security"): a 32-byte key is stretched from the passphrase with Argon2id
(argon2-cffi), and the words are sealed with ChaCha20-Poly1305
(``cryptography``). The file is JSON::

    {"format": "tentenone-keystore", "version": 1,
     "kdf": {"name": "argon2id", "time_cost": 3, "memory_kib": 65536,
             "parallelism": 1, "salt": "<b64>"},
     "cipher": {"name": "chacha20-poly1305", "nonce": "<b64>"},
     "ciphertext": "<b64>", "checksum": "<sha256 hex of the header and ciphertext>"}

Everything but the ciphertext and checksum is the AEAD's associated data,
so changing a parameter, the salt or the nonce fails authentication like a
wrong passphrase. The checksum is no security measure (anyone can recompute
it): it tells a damaged file (``KeyStoreCorrupt``) apart from a wrong
passphrase (``WrongPassphrase``). Parameters outside sane bounds are refused
before any work, so a crafted file cannot make the app allocate gigabytes.

A platform secure element implements :class:`KeyStore` instead (it may never
hand out the words; then it must sign, which is left for that implementation).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from tentenone.atomic_file import write_atomic
from tentenone.trader.errors import (
    KeyStoreCorrupt,
    KeyStoreExists,
    KeyStoreMissing,
    TraderInputError,
    WrongPassphrase,
)
from tentenone.wallet.mnemonic import normalize_mnemonic

__all__ = [
    "DEFAULT_KDF",
    "FileKeyStore",
    "KdfParams",
    "KeyStore",
    "MemoryKeyStore",
    "SecretWords",
    "check_passphrase",
    "open_sealed",
    "seal",
]

_FORMAT = "tentenone-keystore"
_VERSION = 1
_MIN_PASSPHRASE = 4
_MAX_PASSPHRASE = 1024


class SecretWords:
    """The mnemonic, kept out of reprs, logs and tracebacks' locals views."""

    __slots__ = ("_words",)

    def __init__(self, words: str) -> None:
        self._words = normalize_mnemonic(words)

    def reveal(self) -> str:
        """The words themselves: only to derive keys or to show them to their owner."""
        return self._words

    def __repr__(self) -> str:
        return "SecretWords(<hidden>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretWords) and secrets.compare_digest(
            self._words.encode(), other._words.encode()
        )

    def __hash__(self) -> int:
        return hash(hashlib.sha256(self._words.encode()).digest())


@dataclass(frozen=True, slots=True)
class KdfParams:
    """Argon2id cost: ``time_cost`` passes over ``memory_kib`` KiB with ``parallelism`` lanes."""

    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 1

    def check(self) -> None:
        if not 1 <= self.time_cost <= 20:
            raise KeyStoreCorrupt(f"kdf time_cost {self.time_cost} is outside 1..20")
        if not 8 <= self.memory_kib <= 1024 * 1024:
            raise KeyStoreCorrupt(f"kdf memory {self.memory_kib} KiB is outside 8 KiB..1 GiB")
        if not 1 <= self.parallelism <= 16:
            raise KeyStoreCorrupt(f"kdf parallelism {self.parallelism} is outside 1..16")


#: What new key stores use: about a third of a second on one core of this machine.
DEFAULT_KDF = KdfParams()


def check_passphrase(passphrase: str) -> bytes:
    """The passphrase as the KDF takes it (NFKC, UTF-8); a clear error if unusable."""
    if not isinstance(passphrase, str):
        raise TraderInputError("the passphrase must be text")
    text = unicodedata.normalize("NFKC", passphrase)
    if not _MIN_PASSPHRASE <= len(text) <= _MAX_PASSPHRASE:
        raise TraderInputError(
            f"the passphrase must have {_MIN_PASSPHRASE} to {_MAX_PASSPHRASE} characters"
        )
    return text.encode()


class KeyStore(Protocol):
    """Holds the seed words, unlocked by a passphrase (or by the platform, for a secure element)."""

    def exists(self) -> bool: ...

    def create(self, words: SecretWords, passphrase: str) -> None:
        """Store ``words``; ``KeyStoreExists`` if a seed is already stored."""
        ...

    def unlock(self, passphrase: str) -> SecretWords:
        """The words; ``WrongPassphrase``, ``KeyStoreCorrupt`` or ``KeyStoreMissing`` otherwise."""
        ...

    def change_passphrase(self, old: str, new: str) -> None: ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(value: Any, what: str, length: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise KeyStoreCorrupt(f"key store field {what} is not base64 text")
    try:
        data = base64.b64decode(value, validate=True)
    except ValueError:
        raise KeyStoreCorrupt(f"key store field {what} is not base64") from None
    if length is not None and len(data) != length:
        raise KeyStoreCorrupt(f"key store field {what} has {len(data)} bytes, not {length}")
    return data


def _derive(passphrase: bytes, salt: bytes, params: KdfParams) -> bytes:
    return hash_secret_raw(
        passphrase,
        salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=32,
        type=Type.ID,
    )


def _header_bytes(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def seal(words: SecretWords, passphrase: str, params: KdfParams) -> bytes:
    """The key store file's bytes for ``words`` under ``passphrase``."""
    params.check()
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    header = {
        "format": _FORMAT,
        "version": _VERSION,
        "kdf": {
            "name": "argon2id",
            "time_cost": params.time_cost,
            "memory_kib": params.memory_kib,
            "parallelism": params.parallelism,
            "salt": _b64(salt),
        },
        "cipher": {"name": "chacha20-poly1305", "nonce": _b64(nonce)},
    }
    key = _derive(check_passphrase(passphrase), salt, params)
    aad = _header_bytes(header)
    ciphertext = ChaCha20Poly1305(key).encrypt(nonce, words.reveal().encode(), aad)
    checksum = hashlib.sha256(aad + ciphertext).hexdigest()
    body = {**header, "ciphertext": _b64(ciphertext), "checksum": checksum}
    return json.dumps(body, indent=1, sort_keys=True).encode() + b"\n"


def _parse(data: bytes) -> tuple[dict[str, Any], KdfParams, bytes, bytes, bytes]:
    try:
        body = json.loads(data)
    except ValueError:
        raise KeyStoreCorrupt("the key store file is not JSON: it is damaged") from None
    if not isinstance(body, dict) or body.get("format") != _FORMAT:
        raise KeyStoreCorrupt("the file is not a tentenone key store")
    if body.get("version") != _VERSION:
        raise KeyStoreCorrupt(f"key store version {body.get('version')!r} is not supported")
    header = {k: v for k, v in body.items() if k not in ("ciphertext", "checksum")}
    kdf, cipher = header.get("kdf"), header.get("cipher")
    if not isinstance(kdf, dict) or kdf.get("name") != "argon2id":
        raise KeyStoreCorrupt("the key store's kdf is not argon2id")
    if not isinstance(cipher, dict) or cipher.get("name") != "chacha20-poly1305":
        raise KeyStoreCorrupt("the key store's cipher is not chacha20-poly1305")
    try:
        params = KdfParams(int(kdf["time_cost"]), int(kdf["memory_kib"]), int(kdf["parallelism"]))
    except (KeyError, TypeError, ValueError):
        raise KeyStoreCorrupt("the key store's kdf parameters are missing or not numbers") from None
    params.check()
    salt = _unb64(kdf.get("salt"), "kdf.salt", 16)
    nonce = _unb64(cipher.get("nonce"), "cipher.nonce", 12)
    ciphertext = _unb64(body.get("ciphertext"), "ciphertext")
    aad = _header_bytes(header)
    if hashlib.sha256(aad + ciphertext).hexdigest() != body.get("checksum"):
        raise KeyStoreCorrupt("the key store's checksum does not match: the file is damaged")
    return header, params, salt, nonce, ciphertext


def open_sealed(data: bytes, passphrase: str) -> SecretWords:
    """The words in key store bytes ``data``."""
    header, params, salt, nonce, ciphertext = _parse(data)
    key = _derive(check_passphrase(passphrase), salt, params)
    try:
        plain = ChaCha20Poly1305(key).decrypt(nonce, ciphertext, _header_bytes(header))
    except InvalidTag:
        raise WrongPassphrase(
            "the passphrase does not open this key store (or the file was altered)"
        ) from None
    return SecretWords(plain.decode())


class FileKeyStore:
    """A key store in one file, written atomically with mode 0600."""

    def __init__(self, path: Path | str, *, kdf: KdfParams = DEFAULT_KDF) -> None:
        self.path = Path(path)
        self.kdf = kdf

    def __repr__(self) -> str:
        return f"FileKeyStore({str(self.path)!r})"

    def exists(self) -> bool:
        return self.path.exists()

    def create(self, words: SecretWords, passphrase: str) -> None:
        if self.exists():
            raise KeyStoreExists(
                f"{self.path} already holds a seed: move it away first (it may hold funds)"
            )
        self._write(seal(words, passphrase, self.kdf))

    def unlock(self, passphrase: str) -> SecretWords:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            raise KeyStoreMissing(
                f"no key store at {self.path}: create a wallet or restore one first"
            ) from None
        return open_sealed(data, passphrase)

    def change_passphrase(self, old: str, new: str) -> None:
        words = self.unlock(old)
        self._write(seal(words, new, self.kdf))

    def _write(self, data: bytes) -> None:
        write_atomic(self.path, data)


class MemoryKeyStore:
    """The same format in memory (tests, and the embedded demo's throwaway traders)."""

    def __init__(self, *, kdf: KdfParams = DEFAULT_KDF) -> None:
        self.kdf = kdf
        self.data: bytes | None = None

    def exists(self) -> bool:
        return self.data is not None

    def create(self, words: SecretWords, passphrase: str) -> None:
        if self.data is not None:
            raise KeyStoreExists("this key store already holds a seed")
        self.data = seal(words, passphrase, self.kdf)

    def unlock(self, passphrase: str) -> SecretWords:
        if self.data is None:
            raise KeyStoreMissing("no seed stored yet")
        return open_sealed(self.data, passphrase)

    def change_passphrase(self, old: str, new: str) -> None:
        self.data = seal(self.unlock(old), new, self.kdf)
