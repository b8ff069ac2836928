"""Bitcoin primitives: transactions against embit, DER, low-R ECDSA, scripts, curve errors."""

from __future__ import annotations

import pytest
from embit.transaction import Transaction as EmbitTransaction
from hypothesis import given, settings
from hypothesis import strategies as st

from tentenone.bitcoin import ecdsa
from tentenone.bitcoin.curve import (
    CURVE_ORDER,
    base_mult,
    inverse,
    inverse_many,
    point_from_bytes,
    point_sub,
    scalar_from_bytes,
)
from tentenone.bitcoin.errors import (
    InvalidAddress,
    InvalidAmount,
    InvalidPoint,
    InvalidScalar,
    InvalidSignatureEncoding,
    TransactionDecodeError,
)
from tentenone.bitcoin.script import (
    address_to_script_pubkey,
    is_standard_script_pubkey,
    multisig_2of2,
    p2pkh,
    p2sh,
    p2wpkh,
    p2wsh,
    script_pubkey_to_address,
)
from tentenone.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut, parse_transaction

from ._keys import digests, scalars

_txins = st.builds(
    TxIn,
    st.builds(OutPoint, st.binary(min_size=32, max_size=32), st.integers(0, 2**32 - 1)),
    st.binary(max_size=80),
    st.integers(0, 2**32 - 1),
    st.lists(st.binary(max_size=80), max_size=4).map(tuple),
)
_txouts = st.builds(TxOut, st.integers(0, 21_000_000 * 10**8), st.binary(max_size=60))
transactions = st.builds(
    Transaction,
    st.integers(0, 2**32 - 1),
    st.lists(_txins, min_size=1, max_size=4).map(tuple),
    st.lists(_txouts, max_size=4).map(tuple),
    st.integers(0, 2**32 - 1),
)


@settings(max_examples=60, deadline=None)
@given(tx=transactions)
def test_serialization_round_trips_and_matches_embit(tx: Transaction) -> None:
    raw = tx.serialize()
    assert parse_transaction(raw) == tx
    theirs = EmbitTransaction.parse(raw)
    assert theirs.serialize() == raw
    assert tx.txid_hex() == theirs.txid().hex()
    assert tx.txid() == parse_transaction(tx.serialize(include_witness=False)).txid()


def test_parser_rejects_what_is_not_one_transaction() -> None:
    tx = Transaction(2, (TxIn(OutPoint(b"\x01" * 32, 0), witness=(b"\x01",)),), (), 0)
    raw = tx.serialize()
    with pytest.raises(TransactionDecodeError, match="trailing bytes"):
        parse_transaction(raw + b"\x00")
    with pytest.raises(TransactionDecodeError, match="truncated"):
        parse_transaction(raw[:-1])
    no_witness = raw[: -4 - 3] + b"\x00" + raw[-4:]  # segwit flag, but no witness item
    with pytest.raises(TransactionDecodeError, match="every witness is empty"):
        parse_transaction(no_witness)
    with pytest.raises(TransactionDecodeError, match="bad segwit marker"):
        parse_transaction(raw[:5] + b"\x02" + raw[6:])
    with pytest.raises(TransactionDecodeError, match="non-canonical"):
        parse_transaction(b"\x02\x00\x00\x00" + b"\xfd\x01\x00" + bytes(60))
    with pytest.raises(InvalidAmount, match="outside"):
        TxOut(-1, b"")


@settings(max_examples=30, deadline=None)
@given(key=scalars, digest=digests)
def test_ecdsa_low_r_low_s(key: bytes, digest: bytes) -> None:
    der = ecdsa.sign(key, digest)
    r, s = ecdsa.der_decode(der)
    assert r < 2**255 and ecdsa.is_low_s(s)
    assert len(der) <= 71
    pub = base_mult(int.from_bytes(key, "big")).format()
    assert ecdsa.verify(pub, digest, der)
    assert ecdsa.der_encode(r, s) == der
    assert ecdsa.sign(key, digest) == der  # RFC 6979: deterministic
    high_s = r.to_bytes(32, "big") + (CURVE_ORDER - s).to_bytes(32, "big")
    assert not ecdsa.verify_compact(pub, digest, high_s)


@pytest.mark.parametrize(
    ("der", "message"),
    [
        ("3006020101020101" + "00", "bad header or length"),
        ("3006020101030101", "s is not an INTEGER"),
        ("300702020001020101", "r has excess padding"),
        ("3006020181020101", "r is negative"),
        ("3006020100020101", "r or s out of range"),
        ("3007020101020201", "bad header or length"),
    ],
)
def test_der_is_strict(der: str, message: str) -> None:
    with pytest.raises(InvalidSignatureEncoding, match=message):
        ecdsa.der_decode(bytes.fromhex(der))


def test_scripts_and_addresses() -> None:
    pub_a, pub_b = base_mult(3).format(), base_mult(4).format()
    script = multisig_2of2(pub_b, pub_a)
    assert script == multisig_2of2(pub_a, pub_b)  # BIP-67: sorted whatever the order
    assert script[2:35] == min(pub_a, pub_b)
    for spk in (p2wpkh(pub_a), p2wsh(script), p2pkh(pub_a), p2sh(script), b"\x51\x20" + bytes(32)):
        assert is_standard_script_pubkey(spk)
        assert address_to_script_pubkey(script_pubkey_to_address(spk)) == spk
    for spk in (b"", script, b"\x21" + pub_a + b"\xac", b"\x00\x15" + bytes(21), b"\x51\x01\x00"):
        assert not is_standard_script_pubkey(spk)
    with pytest.raises(InvalidAddress):
        address_to_script_pubkey("bcrt1qnotanaddress")


def test_curve_errors_name_the_field() -> None:
    with pytest.raises(InvalidScalar, match="tweak: scalar is not below the curve order"):
        scalar_from_bytes(CURVE_ORDER.to_bytes(32, "big"), "tweak")
    with pytest.raises(InvalidScalar, match="tweak: expected 32 bytes, got 3"):
        scalar_from_bytes(b"abc", "tweak")
    with pytest.raises(InvalidPoint, match="nonce: x is not the coordinate"):
        point_from_bytes(b"\x02" + b"\x00" * 32, "nonce")
    with pytest.raises(InvalidPoint, match="nonce: prefix 0x04"):
        point_from_bytes(b"\x04" + b"\x00" * 32, "nonce")
    with pytest.raises(InvalidPoint, match="infinity"):
        point_sub(base_mult(5), base_mult(5))
    with pytest.raises(InvalidScalar, match="zero has no inverse"):
        inverse_many([3, 0])


@settings(max_examples=20, deadline=None)
@given(values=st.lists(st.integers(1, CURVE_ORDER - 1), min_size=1, max_size=20))
def test_batch_inversion(values: list[int]) -> None:
    assert inverse_many(values) == [inverse(v) for v in values]


def test_keys() -> None:
    from tentenone.bitcoin.keys import (
        check_public_key,
        new_secret_key,
        public_key,
        xonly_public_key,
    )

    secret = new_secret_key()
    assert secret != new_secret_key()
    pub = public_key(secret)
    assert check_public_key(pub) == pub and xonly_public_key(secret) == pub[1:]
    with pytest.raises(InvalidPoint, match="funding pubkey: prefix"):
        check_public_key(b"\x05" + pub[1:], "funding pubkey")
    with pytest.raises(InvalidScalar, match="secret key: scalar is zero"):
        public_key(bytes(32))


@settings(max_examples=30, deadline=None)
@given(point_key=scalars, k=scalars)
def test_constant_time_multiplication_matches(point_key: bytes, k: bytes) -> None:
    from tentenone.bitcoin.curve import MultScratch, point_mult

    point = base_mult(int.from_bytes(point_key, "big"))
    scratch = MultScratch()
    expected = point_mult(point, int.from_bytes(k, "big")).format()
    assert scratch.point_mult(point, k) == expected
    assert scratch.both(point, k) == (base_mult(int.from_bytes(k, "big")).format(), expected)
