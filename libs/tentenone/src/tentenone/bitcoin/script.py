"""Scripts: the 2-of-2 funding script, standard script pubkeys, addresses.

Public names (stable): ``multisig_2of2``, ``sorted_pubkeys``, ``p2wsh``,
``p2wpkh``, ``p2pkh``, ``p2sh``, ``push_data``, ``redeem_script_to_script_sig``,
``is_standard_script_pubkey``, ``is_witness_script_pubkey``,
``address_to_script_pubkey``, ``script_pubkey_to_address``.
"""

from __future__ import annotations

from embit import script as _embit_script
from embit.networks import NETWORKS as _NETWORKS

from tentenone.bitcoin.errors import InvalidAddress, InvalidScript
from tentenone.bitcoin.hashes import hash160, sha256

__all__ = [
    "OP_0",
    "OP_2",
    "OP_CHECKMULTISIG",
    "address_to_script_pubkey",
    "is_standard_script_pubkey",
    "is_witness_script_pubkey",
    "multisig_2of2",
    "p2pkh",
    "p2sh",
    "p2wpkh",
    "p2wsh",
    "push_data",
    "redeem_script_to_script_sig",
    "script_pubkey_to_address",
    "sorted_pubkeys",
]

OP_0 = 0x00
OP_PUSHDATA1 = 0x4C
OP_PUSHDATA2 = 0x4D
OP_1 = 0x51
OP_2 = 0x52
OP_16 = 0x60
OP_DUP = 0x76
OP_EQUAL = 0x87
OP_EQUALVERIFY = 0x88
OP_HASH160 = 0xA9
OP_CHECKSIG = 0xAC
OP_CHECKMULTISIG = 0xAE


def push_data(data: bytes) -> bytes:
    """The minimal push of ``data`` (for data longer than 1 byte or above 16)."""
    n = len(data)
    if n < OP_PUSHDATA1:
        return bytes([n]) + data
    if n <= 0xFF:
        return bytes([OP_PUSHDATA1, n]) + data
    if n <= 0xFFFF:
        return bytes([OP_PUSHDATA2]) + n.to_bytes(2, "little") + data
    raise InvalidScript(f"push of {n} bytes is too large")


def _check_compressed(pubkey: bytes, what: str) -> None:
    if len(pubkey) != 33 or pubkey[0] not in (2, 3):
        raise InvalidScript(f"{what} must be a 33-byte compressed public key")


def sorted_pubkeys(a: bytes, b: bytes) -> tuple[bytes, bytes]:
    """The two keys, lexicographically lesser first (BIP-67)."""
    return (a, b) if a <= b else (b, a)


def multisig_2of2(pubkey_a: bytes, pubkey_b: bytes) -> bytes:
    """``2 <pubkey1> <pubkey2> 2 OP_CHECKMULTISIG`` with the keys sorted.

    Transactions.md: "Where ``pubkey1`` is the lexicographically lesser of
    ``offer_funding_pubkey`` and ``accept_funding_pubkey``" and "both ``pubkey``s
    are in compressed format".
    """
    _check_compressed(pubkey_a, "funding pubkey")
    _check_compressed(pubkey_b, "funding pubkey")
    first, second = sorted_pubkeys(pubkey_a, pubkey_b)
    return bytes([OP_2, 33]) + first + bytes([33]) + second + bytes([OP_2, OP_CHECKMULTISIG])


def p2wsh(witness_script: bytes) -> bytes:
    return bytes([OP_0, 32]) + sha256(witness_script)


def p2wpkh(pubkey: bytes) -> bytes:
    _check_compressed(pubkey, "P2WPKH pubkey")
    return bytes([OP_0, 20]) + hash160(pubkey)


def p2pkh(pubkey: bytes) -> bytes:
    return bytes([OP_DUP, OP_HASH160, 20]) + hash160(pubkey) + bytes([OP_EQUALVERIFY, OP_CHECKSIG])


def p2sh(redeem_script: bytes) -> bytes:
    return bytes([OP_HASH160, 20]) + hash160(redeem_script) + bytes([OP_EQUAL])


def redeem_script_to_script_sig(redeem_script: bytes) -> bytes:
    """The scriptSig of a nested P2SH(segwit) input: one push of the redeem script."""
    return push_data(redeem_script) if redeem_script else b""


def is_witness_script_pubkey(spk: bytes) -> bool:
    """A witness program: ``OP_n`` (0..16) then one push of 2 to 40 bytes (BIP-141)."""
    if not 4 <= len(spk) <= 42:
        return False
    version = spk[0]
    if version != OP_0 and not OP_1 <= version <= OP_16:
        return False
    return spk[1] + 2 == len(spk) and 2 <= spk[1] <= 40


def is_standard_script_pubkey(spk: bytes) -> bool:
    """Protocol.md "Script Pubkey Standardness Definition": the five accepted forms."""
    n = len(spk)
    if (
        n == 25
        and spk[:3] == bytes([OP_DUP, OP_HASH160, 20])
        and spk[23:] == bytes([OP_EQUALVERIFY, OP_CHECKSIG])
    ):
        return True
    if n == 23 and spk[:2] == bytes([OP_HASH160, 20]) and spk[22] == OP_EQUAL:
        return True
    if spk[:1] == bytes([OP_0]):
        return (n == 22 and spk[1] == 20) or (n == 34 and spk[1] == 32)
    if n >= 4 and OP_1 <= spk[0] <= OP_16:
        return spk[1] + 2 == n and 2 <= spk[1] <= 40
    return False


def _network(name: str) -> dict[str, object]:
    aliases = {"bitcoin": "main", "mainnet": "main", "testnet": "test", "signet": "signet"}
    key = aliases.get(name, name)
    if key not in _NETWORKS:
        raise InvalidAddress(f"unknown network {name!r}")
    network: dict[str, object] = _NETWORKS[key]
    return network


def address_to_script_pubkey(address: str) -> bytes:
    """The script pubkey an address pays to (any network: base58 or bech32/bech32m)."""
    try:
        spk: bytes = _embit_script.address_to_scriptpubkey(address).data
    except Exception as exc:  # embit raises several unrelated types for a bad string
        raise InvalidAddress(f"not a valid address: {address!r}") from exc
    return spk


def script_pubkey_to_address(spk: bytes, network: str = "regtest") -> str:
    try:
        address: str = _embit_script.Script(spk).address(_network(network))
    except InvalidAddress:
        raise
    except Exception as exc:  # embit raises several unrelated types for a bad script
        raise InvalidScript(f"script {spk.hex()} has no address form") from exc
    return address
