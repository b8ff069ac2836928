"""The oracle's signing key: from the environment or a file, generated only on the devnet.

Where the key comes from, first match wins:

1. ``TENTENONE_ORACLE_SECRET_KEY`` (or ``..._SECRET_KEY_FILE``, how a
   Kubernetes Secret is mounted): 64 hex characters;
2. ``key_file``: a file holding the same;
3. devnet mode only: a new random key, written to ``key_file`` (mode 0600)
   before it is used, so a restart finds the same key. Two processes racing
   to create it end up with the one that reached the disk first.

Production mode never generates a key: a missing key is a ``ConfigError``
saying where one was looked for. The key's public half (BIP-340 x-only) is
what the oracle announces; clients pin it.
"""

from __future__ import annotations

import contextlib
import enum
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import coincurve

from tentenone.errors import ConfigError
from tentenone.logging import get_logger

__all__ = ["KeyMode", "OracleKey", "load_oracle_key"]

_log = get_logger(__name__)
_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class KeyMode(enum.StrEnum):
    PRODUCTION = "production"
    DEVNET = "devnet"


@dataclass(frozen=True, slots=True)
class OracleKey:
    """A secp256k1 secret and its x-only public key; the secret never shows in repr."""

    secret: bytes = field(repr=False)
    public_key: bytes  # 32-byte x-only (BIP-340)
    origin: str

    @classmethod
    def from_secret(cls, secret: bytes, origin: str) -> OracleKey:
        if len(secret) != 32 or not 0 < int.from_bytes(secret, "big") < _ORDER:
            raise ConfigError(f"oracle key from {origin} is not a valid secp256k1 secret")
        point = coincurve.PrivateKey(secret).public_key.format(compressed=True)
        return cls(secret, point[1:], origin)

    @property
    def public_key_hex(self) -> str:
        return self.public_key.hex()


def load_oracle_key(
    mode: KeyMode | str, secret_hex: str | None = None, key_file: Path | None = None
) -> OracleKey:
    """The oracle's key, per the rules in the module docstring."""
    mode = _mode(mode)
    if secret_hex is not None:
        return OracleKey.from_secret(_parse_hex(secret_hex, "TENTENONE_ORACLE_SECRET_KEY"), "env")
    if key_file is not None and key_file.exists():
        return _read_key_file(key_file)
    if mode is KeyMode.DEVNET and key_file is not None:
        return _generate_key_file(key_file)
    where = f"key_file {key_file}" if key_file else "no key_file set"
    hint = (
        "production mode never generates a key"
        if mode is KeyMode.PRODUCTION
        else "devnet mode generates one only into a key_file"
    )
    raise ConfigError(
        f"no oracle key: TENTENONE_ORACLE_SECRET_KEY(_FILE) unset and {where}; {hint}"
    )


def _mode(mode: KeyMode | str) -> KeyMode:
    try:
        return KeyMode(mode)
    except ValueError:
        raise ConfigError(f"oracle mode must be 'production' or 'devnet', got {mode!r}") from None


def _parse_hex(text: str, origin: str) -> bytes:
    text = text.strip()
    if len(text) != 64:
        raise ConfigError(f"oracle key from {origin} must be 64 hex characters, got {len(text)}")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ConfigError(f"oracle key from {origin} is not hex") from None


def _read_key_file(path: Path) -> OracleKey:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"oracle key file {path} cannot be read: {exc}") from exc
    mode = path.stat().st_mode
    if mode & 0o077:
        _log.warning("oracle key file is readable by others", extra={"path": str(path)})
    return OracleKey.from_secret(_parse_hex(text, str(path)), str(path))


def _generate_key_file(path: Path) -> OracleKey:
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        secret = secrets.token_bytes(32)
        if 0 < int.from_bytes(secret, "big") < _ORDER:
            break
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secret.hex() + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            # link() fails if the file exists: the first writer wins, everyone reads its key.
            os.link(tmp, path)
        except FileExistsError:
            return _read_key_file(path)
        _fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _log.warning("devnet mode: generated a new oracle key", extra={"path": str(path)})
    return OracleKey.from_secret(secret, str(path))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
