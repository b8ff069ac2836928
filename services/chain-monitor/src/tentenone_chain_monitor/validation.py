"""Checks of what callers send: scripts, outpoints, depths, names, transactions.

Each failure is a typed error of ``tentenone.wire.chain`` whose message says
what was wrong; nothing is written before every check passed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tentenone.bitcoin.tx import Transaction, parse_transaction
from tentenone.errors import TentenoneError
from tentenone.wire.chain import (
    InvalidOutpoint,
    InvalidScript,
    InvalidTransaction,
    InvalidWatch,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_DEPTHS",
    "MAX_SCRIPT_BYTES",
    "check_depths",
    "check_name",
    "check_outpoint",
    "check_txid",
    "parse_script_hex",
    "parse_tx_hex",
]

#: consensus MAX_SCRIPT_SIZE: no spendable output script is longer
MAX_SCRIPT_BYTES = 10_000
MAX_DEPTH = 1000
MAX_DEPTHS = 10
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/@-]*$")
_OP_PUSHDATA1, _OP_PUSHDATA2, _OP_PUSHDATA4 = 0x4C, 0x4D, 0x4E


def _hex_bytes(value: str, what: str, error: type[TentenoneError]) -> bytes:
    if len(value) % 2 or not re.fullmatch(r"[0-9a-fA-F]*", value):
        raise error(f"{what} is not hex: {value[:40]!r}")
    return bytes.fromhex(value)


def parse_script_hex(value: str) -> bytes:
    """An output script from hex: 1..10,000 bytes whose pushes stay inside the script."""
    script = _hex_bytes(value, "script", InvalidScript)
    if not script:
        raise InvalidScript("script is empty")
    if len(script) > MAX_SCRIPT_BYTES:
        raise InvalidScript(f"script is {len(script)} bytes, more than {MAX_SCRIPT_BYTES}")
    _check_pushes(script)
    return script


def _check_pushes(script: bytes) -> None:
    pos = 0
    while pos < len(script):
        op = script[pos]
        pos += 1
        if 0x01 <= op <= 0x4B:
            size = op
        elif op in (_OP_PUSHDATA1, _OP_PUSHDATA2, _OP_PUSHDATA4):
            width = {_OP_PUSHDATA1: 1, _OP_PUSHDATA2: 2, _OP_PUSHDATA4: 4}[op]
            if pos + width > len(script):
                raise InvalidScript(f"script ends inside the length of a push at byte {pos - 1}")
            size = int.from_bytes(script[pos : pos + width], "little")
            pos += width
        else:
            continue
        if pos + size > len(script):
            raise InvalidScript(
                f"push of {size} bytes at byte {pos - 1} runs past the script's end"
            )
        pos += size


def check_txid(value: str, error: type[TentenoneError] = InvalidOutpoint) -> str:
    """A txid: 64 hex characters (taken lower-case)."""
    text = value.lower() if isinstance(value, str) else ""
    if not _HEX64.match(text):
        raise error(f"txid must be 64 hex characters, got {str(value)[:80]!r}")
    return text


def check_outpoint(txid: str, vout: int) -> tuple[str, int]:
    checked = check_txid(txid)
    if isinstance(vout, bool) or not 0 <= vout <= 0xFFFFFFFF:
        raise InvalidOutpoint(f"output index must be 0..4294967295, got {vout!r}")
    return checked, vout


def check_depths(depths: Sequence[int]) -> list[int]:
    """Depths ascending, without repeats: 1..1000, at least one, at most 10."""
    if not depths:
        raise InvalidWatch("depths: give at least one (1 = in a block)")
    if len(set(depths)) > MAX_DEPTHS:
        raise InvalidWatch(f"depths: at most {MAX_DEPTHS} different depths, got {len(depths)}")
    for depth in depths:
        if isinstance(depth, bool) or not 1 <= depth <= MAX_DEPTH:
            raise InvalidWatch(f"depths must be 1..{MAX_DEPTH}, got {depth!r}")
    return sorted(set(depths))


def check_name(value: str, what: str, max_len: int) -> str:
    """An owner or ref: printable, no spaces, starting with a letter or digit."""
    if not value or len(value) > max_len or not _NAME.match(value):
        raise InvalidWatch(
            f"{what} must be 1..{max_len} characters of letters, digits and _.:/@- "
            f"(starting with a letter or digit), got {value[:80]!r}"
        )
    return value


def parse_tx_hex(value: str) -> tuple[bytes, Transaction]:
    """A raw transaction from hex, parsed (so its txid is known before it is sent)."""
    raw = _hex_bytes(value, "transaction", InvalidTransaction)
    try:
        return raw, parse_transaction(raw)
    except TentenoneError as exc:
        raise InvalidTransaction(f"not a transaction: {exc.message}") from None
    except (ValueError, IndexError) as exc:
        raise InvalidTransaction(f"not a transaction: {exc}") from None
