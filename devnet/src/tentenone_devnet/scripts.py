"""Output scripts: regtest addresses, the script types bitcoind names, asm text."""

from __future__ import annotations

import hashlib
from enum import StrEnum

from embit import base58, bech32

__all__ = [
    "HRP",
    "AddressError",
    "ScriptType",
    "address_to_script",
    "classify",
    "descriptor_checksum",
    "disassemble",
    "infer_descriptor",
    "is_push_only",
    "is_unspendable",
    "p2wpkh_script",
    "script_to_address",
    "witness_program",
]

HRP = "bcrt"
_P2PKH_PREFIX = 0x6F
_P2SH_PREFIX = 0xC4
OP_RETURN = 0x6A
_MAX_SCRIPT_SIZE = 10_000


class AddressError(ValueError):
    """Not a valid regtest address."""


class ScriptType(StrEnum):
    """The ``type`` strings of bitcoind's ``scriptPubKey`` objects (GetTxnOutputType)."""

    NONSTANDARD = "nonstandard"
    PUBKEY = "pubkey"
    PUBKEYHASH = "pubkeyhash"
    SCRIPTHASH = "scripthash"
    MULTISIG = "multisig"
    NULLDATA = "nulldata"
    ANCHOR = "anchor"
    WITNESS_V0_KEYHASH = "witness_v0_keyhash"
    WITNESS_V0_SCRIPTHASH = "witness_v0_scripthash"
    WITNESS_V1_TAPROOT = "witness_v1_taproot"
    WITNESS_UNKNOWN = "witness_unknown"


_ANCHOR_SCRIPT = bytes.fromhex("51024e73")


def witness_program(script: bytes) -> tuple[int, bytes] | None:
    """(version, program) when ``script`` is a witness program (BIP141)."""
    if not 4 <= len(script) <= 42:
        return None
    op = script[0]
    if op != 0 and not 0x51 <= op <= 0x60:
        return None
    if script[1] + 2 != len(script):
        return None
    return (0 if op == 0 else op - 0x50), script[2:]


def _iter_ops(script: bytes) -> list[tuple[int, bytes | None]]:
    """(opcode, pushed data) pairs; raises ValueError on a truncated push."""
    ops: list[tuple[int, bytes | None]] = []
    i = 0
    while i < len(script):
        op = script[i]
        i += 1
        if op <= 0x4E:
            if op < 0x4C:
                n = op
            else:
                width = {0x4C: 1, 0x4D: 2, 0x4E: 4}[op]
                if i + width > len(script):
                    raise ValueError("truncated push length")
                n = int.from_bytes(script[i : i + width], "little")
                i += width
            if i + n > len(script):
                raise ValueError("truncated push")
            ops.append((op, script[i : i + n]))
            i += n
        else:
            ops.append((op, None))
    return ops


def is_push_only(script: bytes) -> bool:
    try:
        return all(op <= 0x60 for op, _ in _iter_ops(script))
    except ValueError:
        return False


def is_unspendable(script: bytes) -> bool:
    """Outputs Core never puts in the UTXO set (CScript::IsUnspendable)."""
    return (len(script) > 0 and script[0] == OP_RETURN) or len(script) > _MAX_SCRIPT_SIZE


def _multisig(script: bytes) -> bool:
    try:
        ops = _iter_ops(script)
    except ValueError:
        return False
    if len(ops) < 4 or ops[-1][0] != 0xAE:
        return False
    m, n = ops[0][0], ops[-2][0]
    if not (0x51 <= m <= 0x60 and 0x51 <= n <= 0x60):
        return False
    keys = ops[1:-2]
    return (
        len(keys) == n - 0x50
        and m <= n
        and all(d is not None and len(d) in (33, 65) for _, d in keys)
    )


def classify(script: bytes) -> ScriptType:
    """Solver's classification, the subset bitcoind's policy needs."""
    n = len(script)
    if n == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        return ScriptType.PUBKEYHASH
    if n == 23 and script[:2] == b"\xa9\x14" and script[22] == 0x87:
        return ScriptType.SCRIPTHASH
    if script == _ANCHOR_SCRIPT:
        return ScriptType.ANCHOR
    prog = witness_program(script)
    if prog is not None:
        version, program = prog
        if version == 0 and len(program) == 20:
            return ScriptType.WITNESS_V0_KEYHASH
        if version == 0 and len(program) == 32:
            return ScriptType.WITNESS_V0_SCRIPTHASH
        if version == 1 and len(program) == 32:
            return ScriptType.WITNESS_V1_TAPROOT
        if version != 0:
            return ScriptType.WITNESS_UNKNOWN
        return ScriptType.NONSTANDARD
    if n >= 1 and script[0] == OP_RETURN and is_push_only(script[1:]):
        return ScriptType.NULLDATA
    if (n == 35 and script[0] == 33 and script[34] == 0xAC) or (
        n == 67 and script[0] == 65 and script[66] == 0xAC
    ):
        return ScriptType.PUBKEY
    if _multisig(script):
        return ScriptType.MULTISIG
    return ScriptType.NONSTANDARD


def script_to_address(script: bytes) -> str | None:
    kind = classify(script)
    if kind is ScriptType.PUBKEYHASH:
        return str(base58.encode_check(bytes((_P2PKH_PREFIX,)) + script[3:23]))
    if kind is ScriptType.SCRIPTHASH:
        return str(base58.encode_check(bytes((_P2SH_PREFIX,)) + script[2:22]))
    prog = witness_program(script)
    if prog is not None and kind is not ScriptType.NONSTANDARD:
        return str(bech32.encode(HRP, prog[0], prog[1]))
    return None


def address_to_script(address: str) -> bytes:
    """The scriptPubKey of a regtest address; AddressError when it is not one."""
    if address.lower().startswith(HRP + "1"):
        version, program = bech32.decode(HRP, address)
        if version is None:
            raise AddressError(f"invalid bech32 address {address!r}")
        prog = bytes(program)
        if version == 0 and len(prog) not in (20, 32):
            raise AddressError(f"invalid witness v0 program length in {address!r}")
        return bytes((0 if version == 0 else 0x50 + version, len(prog))) + prog
    try:
        data = bytes(base58.decode_check(address))
    except Exception as exc:  # embit raises bare ValueError/Exception variants
        raise AddressError(f"invalid address {address!r}") from exc
    if len(data) == 21 and data[0] == _P2PKH_PREFIX:
        return b"\x76\xa9\x14" + data[1:] + b"\x88\xac"
    if len(data) == 21 and data[0] == _P2SH_PREFIX:
        return b"\xa9\x14" + data[1:] + b"\x87"
    raise AddressError(f"not a regtest address {address!r}")


def p2wpkh_script(pubkey: bytes) -> bytes:
    h160 = hashlib.new("ripemd160", hashlib.sha256(pubkey).digest()).digest()
    return b"\x00\x14" + h160


_OPCODE_NAMES: dict[int, str] = {
    0x00: "0",
    0x4F: "-1",
    0x50: "OP_RESERVED",
    **{0x50 + i: str(i) for i in range(1, 17)},
    0x61: "OP_NOP",
    0x63: "OP_IF",
    0x64: "OP_NOTIF",
    0x67: "OP_ELSE",
    0x68: "OP_ENDIF",
    0x69: "OP_VERIFY",
    0x6A: "OP_RETURN",
    0x6B: "OP_TOALTSTACK",
    0x6C: "OP_FROMALTSTACK",
    0x73: "OP_IFDUP",
    0x74: "OP_DEPTH",
    0x75: "OP_DROP",
    0x76: "OP_DUP",
    0x7C: "OP_SWAP",
    0x82: "OP_SIZE",
    0x87: "OP_EQUAL",
    0x88: "OP_EQUALVERIFY",
    0x93: "OP_ADD",
    0x9A: "OP_BOOLAND",
    0xA6: "OP_RIPEMD160",
    0xA8: "OP_SHA256",
    0xA9: "OP_HASH160",
    0xAA: "OP_HASH256",
    0xAC: "OP_CHECKSIG",
    0xAD: "OP_CHECKSIGVERIFY",
    0xAE: "OP_CHECKMULTISIG",
    0xAF: "OP_CHECKMULTISIGVERIFY",
    0xB1: "OP_CHECKLOCKTIMEVERIFY",
    0xB2: "OP_CHECKSEQUENCEVERIFY",
    0xBA: "OP_CHECKSIGADD",
}


def disassemble(script: bytes) -> str:
    """bitcoind's ``asm`` form (ScriptToAsmStr without sighash decoding)."""
    out: list[str] = []
    try:
        ops = _iter_ops(script)
    except ValueError:
        ops = []
        out_err = True
    else:
        out_err = False
    for op, data in ops:
        if data is not None and op != 0:
            if len(data) <= 4:
                out.append(str(_scriptnum(data)))
            else:
                out.append(data.hex())
        else:
            out.append(_OPCODE_NAMES.get(op, f"OP_UNKNOWN_{op:#04x}" if op > 0xBA else f"op{op}"))
    if out_err:
        out.append("[error]")
    return " ".join(out)


def _scriptnum(data: bytes) -> int:
    if not data:
        return 0
    value = int.from_bytes(data, "little")
    if data[-1] & 0x80:
        return -(value & ~(0x80 << (8 * (len(data) - 1))))
    return value


_DESC_INPUT = (
    "0123456789()[],'/*abcdefgh@:$%{}"
    "IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~"
    'ijklmnopqrstuvwxyzABCDEFGH`#"\\ '
)
_DESC_CHECKSUM = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_DESC_GEN = (0xF5DEE51989, 0xA9FDCA3312, 0x1BAB10E32D, 0x3706B1677A, 0x644D626FFD)


def _desc_polymod(c: int, val: int) -> int:
    top = c >> 35
    c = ((c & 0x7FFFFFFFF) << 5) ^ val
    for i, gen in enumerate(_DESC_GEN):
        if top >> i & 1:
            c ^= gen
    return c


def descriptor_checksum(desc: str) -> str:
    """The BIP-380 descriptor checksum."""
    c, cls, count = 1, 0, 0
    for ch in desc:
        pos = _DESC_INPUT.find(ch)
        if pos < 0:
            raise ValueError(f"invalid descriptor character {ch!r}")
        c = _desc_polymod(c, pos & 31)
        cls = cls * 3 + (pos >> 5)
        count += 1
        if count == 3:
            c = _desc_polymod(c, cls)
            cls, count = 0, 0
    if count:
        c = _desc_polymod(c, cls)
    for _ in range(8):
        c = _desc_polymod(c, 0)
    c ^= 1
    return "".join(_DESC_CHECKSUM[(c >> (5 * (7 - j))) & 31] for j in range(8))


def infer_descriptor(script: bytes) -> str:
    """What bitcoind's ``desc`` field shows for a script it has no keys for."""
    address = script_to_address(script)
    if address is not None:
        body = f"addr({address})"
    elif classify(script) is ScriptType.PUBKEY:
        body = f"pk({script[1:-1].hex()})"
    else:
        body = f"raw({script.hex()})"
    return f"{body}#{descriptor_checksum(body)}"
