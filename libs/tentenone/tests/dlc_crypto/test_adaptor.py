"""ECDSA adaptor signatures: properties, tampering, batches and bad input."""

from __future__ import annotations

import contextlib
from concurrent.futures import ProcessPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tentenone.bitcoin import ecdsa
from tentenone.bitcoin.curve import CURVE_ORDER, base_mult
from tentenone.bitcoin.errors import InvalidPoint, InvalidScalar
from tentenone.dlc import adaptor
from tentenone.errors import InvalidInput, TentenoneError

from ._keys import digests, scalars


def _point(secret: bytes) -> bytes:
    return base_mult(int.from_bytes(secret, "big")).format()


@settings(max_examples=40, deadline=None)
@given(signing_key=scalars, decryption_key=scalars, digest=digests)
def test_sign_verify_decrypt_recover(
    signing_key: bytes, decryption_key: bytes, digest: bytes
) -> None:
    x_pub, y_pub = _point(signing_key), _point(decryption_key)
    sig = adaptor.encrypt(signing_key, y_pub, digest)
    blob = sig.to_bytes()
    assert len(blob) == adaptor.ADAPTOR_SIGNATURE_SIZE
    assert adaptor.AdaptorSignature.from_bytes(blob) == sig
    assert adaptor.verify(x_pub, y_pub, digest, blob)
    ecdsa_sig = adaptor.decrypt(blob, decryption_key)
    # A valid, low-S ECDSA signature libsecp256k1 accepts for the signing key.
    assert ecdsa.verify_compact(x_pub, digest, ecdsa_sig)
    assert ecdsa.verify(x_pub, digest, ecdsa.compact_to_der(ecdsa_sig))
    assert adaptor.recover(y_pub, blob, ecdsa_sig) == decryption_key


@settings(max_examples=25, deadline=None)
@given(signing_key=scalars, decryption_key=scalars, digest=digests, data=st.data())
def test_tampering_any_byte_fails(
    signing_key: bytes, decryption_key: bytes, digest: bytes, data: st.DataObject
) -> None:
    x_pub, y_pub = _point(signing_key), _point(decryption_key)
    blob = bytearray(adaptor.encrypt(signing_key, y_pub, digest).to_bytes())
    index = data.draw(st.integers(0, len(blob) - 1), label="index")
    flip = data.draw(st.integers(1, 255), label="xor")
    blob[index] ^= flip
    # Tampered bytes that no longer parse raise a typed error: also a rejection.
    with contextlib.suppress(TentenoneError):
        assert not adaptor.verify(x_pub, y_pub, digest, bytes(blob))


@settings(max_examples=15, deadline=None)
@given(signing_key=scalars, decryption_key=scalars, other=scalars, digest=digests)
def test_wrong_key_point_or_message_fails(
    signing_key: bytes, decryption_key: bytes, other: bytes, digest: bytes
) -> None:
    x_pub, y_pub, other_pub = _point(signing_key), _point(decryption_key), _point(other)
    sig = adaptor.encrypt(signing_key, y_pub, digest)
    other_digest = bytes([digest[0] ^ 1]) + digest[1:]
    assert not adaptor.verify(x_pub, y_pub, other_digest, sig)
    if other_pub != x_pub:
        assert not adaptor.verify(other_pub, y_pub, digest, sig)
    if other_pub != y_pub:
        assert not adaptor.verify(x_pub, other_pub, digest, sig)
        with pytest.raises(adaptor.AdaptorRecoveryError):
            adaptor.recover(other_pub, sig, adaptor.decrypt(sig, decryption_key))


def test_nonces_are_fresh_unless_fixed() -> None:
    key, y_pub, digest = b"\x11" * 32, _point(b"\x22" * 32), b"\x33" * 32
    first = adaptor.encrypt(key, y_pub, digest)
    second = adaptor.encrypt(key, y_pub, digest)
    assert first.r_point != second.r_point  # fresh aux randomness: a new nonce
    assert adaptor.encrypt(key, y_pub, digest, aux=None) == adaptor.encrypt(
        key, y_pub, digest, aux=None
    )
    assert adaptor.encrypt(key, y_pub, digest, aux=b"\x01" * 32) != adaptor.encrypt(
        key, y_pub, digest, aux=b"\x02" * 32
    )


def test_batches_match_single_operations() -> None:
    key = b"\x07" * 32
    items = [(_point(bytes([i + 1]) * 32), bytes([i]) * 32) for i in range(6)]
    batch = adaptor.encrypt_many(key, items, aux=None)
    assert batch == [adaptor.encrypt(key, p, m, aux=None) for p, m in items]
    checks = [(p, m, s) for (p, m), s in zip(items, batch, strict=True)]
    checks[3] = (checks[3][0], b"\xff" * 32, checks[3][2])  # one wrong digest
    assert adaptor.verify_many(_point(key), checks) == [True, True, True, False, True, True]


def test_batches_across_processes_match() -> None:
    key = b"\x09" * 32
    items = [(_point(bytes([i + 1]) * 32), bytes([i]) * 32) for i in range(8)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        parallel = adaptor.encrypt_many(key, items, aux=None, executor=pool)
        assert parallel == adaptor.encrypt_many(key, items, aux=None)
        checks = [(p, m, s) for (p, m), s in zip(items, parallel, strict=True)]
        assert adaptor.verify_many(_point(key), checks, executor=pool) == [True] * 8


# Bad input: each is a typed error naming what was wrong, never a crash.

_VALID = adaptor.encrypt(b"\x05" * 32, _point(b"\x06" * 32), b"\x07" * 32, aux=None).to_bytes()


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (_VALID[:161], "expected 162 bytes"),
        (_VALID + b"\x00", "expected 162 bytes"),
        (b"\x04" + _VALID[1:], "adaptor signature R: prefix"),
        (_VALID[:33] + b"\x02" + b"\x00" * 32 + _VALID[66:], "adaptor signature R_a"),
        (_VALID[:66] + b"\x00" * 32 + _VALID[98:], "s_a: scalar is zero"),
        (_VALID[:66] + CURVE_ORDER.to_bytes(32, "big") + _VALID[98:], "s_a: scalar is not below"),
        (_VALID[:130] + b"\xff" * 32, "proof c: scalar is not below"),
        (_VALID[:98] + b"\xff" * 32 + _VALID[130:], "proof b is not below n"),
    ],
)
def test_malformed_blobs_name_the_field(blob: bytes, message: str) -> None:
    with pytest.raises(adaptor.AdaptorSignatureEncodingError, match=message):
        adaptor.AdaptorSignature.from_bytes(blob)


def test_bad_keys_and_digests_are_typed_errors() -> None:
    y_pub = _point(b"\x06" * 32)
    with pytest.raises(InvalidScalar, match="secret key: scalar is zero"):
        adaptor.encrypt(bytes(32), y_pub, b"\x00" * 32)
    with pytest.raises(InvalidScalar, match="secret key: expected 32 bytes"):
        adaptor.encrypt(b"\x01" * 31, y_pub, b"\x00" * 32)
    with pytest.raises(InvalidPoint, match="encryption key: x is not"):
        adaptor.encrypt(b"\x01" * 32, b"\x02" + b"\x00" * 32, b"\x00" * 32)
    with pytest.raises(InvalidPoint, match="encryption key: expected 33 bytes"):
        adaptor.verify(y_pub, y_pub[:32], b"\x00" * 32, _VALID)
    with pytest.raises(InvalidInput, match="message hash"):
        adaptor.encrypt(b"\x01" * 32, y_pub, b"\x00" * 31)
    with pytest.raises(InvalidInput, match="aux randomness"):
        adaptor.encrypt(b"\x01" * 32, y_pub, b"\x00" * 32, aux=b"\x00" * 31)
    with pytest.raises(InvalidScalar, match="decryption key: scalar is zero"):
        adaptor.decrypt(_VALID, bytes(32))
    with pytest.raises(InvalidInput, match="64 compact bytes"):
        adaptor.recover(y_pub, _VALID, b"\x00" * 63)


# Static signing vectors with fixed aux randomness, generated by an author of
# secp256k1-zkp's ecdsa_adaptor module and published in bitcoin-s's test suite:
# (secret key, message hash, decryption key, encryption key, aux, adaptor signature).
# They pin our nonce derivation (and so the whole signature) to the reference's.
_SIGNING_VECTORS = [
    (
        "00033065FBFD7BABE601089E75C463D16E8FB8C731ED520DE425585099E27F70",
        "9BB3A7C4CF1C10C225FF6C78867352559C6B0AD43DA0744BF0744A1C520FB03A",
        "918B8E4F61F44EA1EF3F3C236973F2F12796E0A028FCEC3F30D71BF1C035A95A",
        "038B3E8F09A59F17A3CC7B8BDF04038CD102CDBE6A9FFCFFF1A7A8EA749826F48D",
        "580E40DCE3C772ED359FE6D9C1459702016845F1981ECC04E371B00E7B851ACA",
        "0389CFE2E8861E763EA33C64C5034C292011A34CB8EAEC5376200B9D7D35F9304C03D951170788AEC19A9410"
        "0ED8381040BD22C5A60F7264B53E51567D36A3DA9F5F30DC49EBC212AEED4535EA39C8B8F9418AFC8B4E88"
        "99C8C978B4440C4EC4474FD90760B4037045C2DA538AB237B1DCE99209A0093949A472F24F44C6A7F25084"
        "B47ECB9F342D5E5249BFFB3C9B6E3BCD5E3356558615CD0B256C53E13F74D753",
    ),
    (
        "B700B67DF0ADC70A715C6883CA2AB21976E33E974094F430E8932C3C64F88D49",
        "3F690F3844B9ACF40D2CF91383BD6912CEB306FF909FC4DB7022372F8943A0F7",
        "BF984ABB08D8DAE02F0A3EC7626AD5EF95458732B7D1CA49D027F7A87CD754AC",
        "0258ECE4ABAFF624689160C197057E6BAF6D1E539114CF84B63E544EEFA970E006",
        "2938CC748CEC98E96C2A1B45FC1F8B9036A0547ACFC6D81C0EFA439058ED6423",
        "02A4A2900432C36D8ADA1E6124E22D9E902744814EEF3A0E82399B0F440EEBDE790262309993372A96023447"
        "71B0B23D6BC6F6CC168F72DEBA0B964134DE418A4C3A863D8EFCCE991BBD3B2AB990863D61F6C5D6826AE0"
        "4F2A6D140A46E6CBA340CE527B7889B7FAE3253CD2E0C49D9A0DA23A08FB18B2A22C5238F81535674E20FD"
        "00FDAC5C53EA54D51DCF3290D231DD5FC164ED6756F85883668EBAAF4FA86CB1",
    ),
    (
        "29999EEF451EB2E62772A965329967F8B75CEB1E15B0FFB596B6E0C9CA7D2127",
        "D9B5C45FFB11BC6425E7786014A2ADABCE6A75580CC5B43EFF30FE2261F98F6F",
        "16B30482C5BE8E19ACFB869749EAB4383DF44416E7B329720E00809E014E5088",
        "02A7E8E1E648D7977AE8A9AD1E7E77D875D098E34717E5B66183BF0969873B8B70",
        "4A259D87BFFAE9E6A18B5CCD68E5FA24AEBCB424D22F015ACD27FE66FE007C90",
        "03485D1947850BEA0DEEB384F978D0C423E1D9E19AF5B0BB23DB7524C4556B4838025815E5A01897A0C6731F"
        "91718B4933F342822BE8995EEEDD7C755746825E4D8B885C5F737D408D105D50B41AE1A107EBD82C9ADA56"
        "7D4B71AEC808291CA8287A3087E5438B64C83806B36ABAFE69B4AF373209C02DF5516DFF83114188BD7457"
        "893D7691842AB373C049A17663505F11F23223119E5FBE2BCA9892E33C8726E6",
    ),
    (
        "BA837CC074A2CABAB78266230F01B8241937FC76358230736745E9CCB387D4FC",
        "2E5BBCDBF24618F586910CB2DB7F4475EAD4F2C37DC4115C0DDC0ABB537917E5",
        "AF81094DB8EEA02499C1F98A385BCE55EB00683FC5A4141A50B344671DC76EE3",
        "02D9D918CE57AEF470F4E5B543D7599330502CBEAB1285EDA545E38A37F2A32325",
        "B32E2416E5259212F037C5E83688AF83EBF0AE73B757FEB26ACBD19199D63BCD",
        "039E956529933038083DA428AA2E333AAFD35947A8D11997670DA0287987410ED302604BF918A20793981BB9"
        "E19B5B677EE764BA23E4FA09A7726D1FA37AE179F0160CFFFCB792F9A46D0240A424265454BB971CC91757"
        "63E8A9772635A61C253A39875826BBEB83779ED05144CE35E8B6B2A3469EB3A949543119AC28CC27AFD1D2"
        "99520B2A7ED5CA1D814BA96EB80750A9F56F878F7D2D26E70B2245A39DE9AB59",
    ),
    (
        "AEEF60CF249A0CFE57B971A0624B41D6E7007F82B8FE86A568F2E9DC5CE01C6D",
        "45131FDB8F3AED1AE4040BC43EB1D24AD144D9085B35C3F7036C490EFD492D9A",
        "AFD71563537C0E8438EE7FA047C91890471F5C699A63F2C0520C5CF99050FCB9",
        "0224F1566286D1D49189250F878710AF5A2F3658FC7633E4B33F825561B2E3BBAE",
        "034FB76F56207BA7D8BD7C944C82A2198B0B61CE31160F6ED5B8CC642A1C55AA",
        "02B90DDC325AF9A443B8845A10D3D3FB6A90D9937E4AF56E2E814106AEE976A9D2024FA51F36F15F4C4390FD"
        "881B01EB5C9488928F626C3104442BA230EE890B08FC656096218AF24A8B92ED518F9FE1F13213DB771187"
        "F95640ECAF02658A2ABA40A9CD5E89DB8215879A294CCE4E72786FE5E2267BC25F934CE34CFBF2FEF361A0"
        "BDFF1B2132552C0BD0C699A3195C5EA6D82C50B784175DE54E4924BCD15C06DB",
    ),
]


@pytest.mark.parametrize(
    ("secret", "digest", "decryption", "encryption", "aux", "expected"), _SIGNING_VECTORS
)
def test_signing_matches_the_reference_byte_for_byte(
    secret: str, digest: str, decryption: str, encryption: str, aux: str, expected: str
) -> None:
    sig = adaptor.encrypt(
        bytes.fromhex(secret), bytes.fromhex(encryption), bytes.fromhex(digest), bytes.fromhex(aux)
    )
    assert sig.to_bytes() == bytes.fromhex(expected)
    assert adaptor.verify(
        _point(bytes.fromhex(secret)), bytes.fromhex(encryption), bytes.fromhex(digest), sig
    )
    ecdsa_sig = adaptor.decrypt(sig, bytes.fromhex(decryption))
    assert adaptor.recover(bytes.fromhex(encryption), sig, ecdsa_sig) == bytes.fromhex(decryption)


def test_batches_across_processes_check_input_in_the_caller() -> None:
    """Bad points are refused before any work is sent to the pool."""
    key = b"\x09" * 32
    uncompressed = base_mult(5).format(compressed=False)
    with ProcessPoolExecutor(max_workers=1) as pool:
        for bad in (uncompressed, b"\x02" + b"\x00" * 32):
            with pytest.raises(InvalidPoint, match="encryption key"):
                adaptor.encrypt_many(key, [(bad, b"\x00" * 32)] * 2, executor=pool)


@settings(max_examples=25, deadline=None)
@given(signing_key=scalars, decryption_key=scalars, digest=digests, data=st.data())
def test_fast_verification_agrees_with_the_general_path(
    signing_key: bytes, decryption_key: bytes, digest: bytes, data: st.DataObject
) -> None:
    """The recovery-based combinations give the spec's answer, valid or tampered."""
    from tentenone.bitcoin.curve import VerifyScratch, inverse, point_from_bytes

    x_pub, y_pub = _point(signing_key), _point(decryption_key)
    blob = bytearray(adaptor.encrypt(signing_key, y_pub, digest).to_bytes())
    if data.draw(st.booleans(), label="tamper"):
        index = data.draw(st.integers(66, len(blob) - 1), label="index")  # scalars only
        blob[index] ^= data.draw(st.integers(1, 255), label="xor")
    try:
        sig = adaptor.AdaptorSignature.from_bytes(bytes(blob))
    except TentenoneError:
        return
    x_point, y_point = point_from_bytes(x_pub, "x"), point_from_bytes(y_pub, "y")
    s_inv = inverse(sig.s_a)
    general = adaptor._verify_with_inverse(x_point, y_point, y_pub, digest, sig, s_inv)
    assert adaptor._fast_path(x_pub, sig)
    fast = adaptor._verify_fast(VerifyScratch(), x_pub, y_point, y_pub, digest, sig, s_inv)
    assert fast == general
