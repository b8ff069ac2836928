from __future__ import annotations

import hashlib
import unicodedata

import coincurve
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tentenone.errors import InvalidInput
from tentenone_oracle.nonces import NonceDeriver

SECRET = bytes.fromhex("5376a94490ff9b07387511351fdf9fb56d0f704effaa9e55218ac82f712f8a26")
ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _spec_nonce(secret: bytes, event_id: str, index: int) -> tuple[int, bytes]:
    """ADR 0070's derivation written out independently, step by step."""

    def th(tag: str, msg: bytes) -> bytes:
        t = hashlib.sha256(tag.encode()).digest()
        return hashlib.sha256(t + t + msg).digest()

    root = th("tentenone/oracle/nonce-root/v1", secret)
    e = event_id.encode("utf-8")
    msg = root + len(e).to_bytes(2, "big") + e + index.to_bytes(2, "big") + b"\x00"
    k = int.from_bytes(th("tentenone/oracle/nonce/v1", msg), "big")
    point = coincurve.PrivateKey(k.to_bytes(32, "big")).public_key.format()
    if point[0] == 3:
        k = ORDER - k
    return k, point[1:]


def test_matches_the_written_derivation() -> None:
    deriver = NonceDeriver(SECRET)
    for event_id in ("btcusd1764316800", "weather-2026-01-01", "é"):
        for index in (0, 1, 19):
            nonce = deriver.nonce(event_id, index)
            k, x = _spec_nonce(SECRET, event_id, index)
            assert nonce.secret == k.to_bytes(32, "big")
            assert nonce.public == x


def test_public_nonce_is_k_g_with_even_y() -> None:
    for nonce in NonceDeriver(SECRET).nonces("btcusd1764316800", 20):
        point = coincurve.PrivateKey(nonce.secret).public_key.format()
        assert point == b"\x02" + nonce.public


def test_deterministic_and_distinct() -> None:
    a = NonceDeriver(SECRET).nonces("btcusd1764316800", 20)
    b = NonceDeriver(SECRET).nonces("btcusd1764316800", 20)
    assert a == b
    others = NonceDeriver(SECRET).nonces("btcusd1764921600", 20)
    other_key = NonceDeriver(bytes(31) + b"\x01").nonces("btcusd1764316800", 20)
    publics = {n.public for n in a + others + other_key}
    assert len(publics) == 60


@given(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30))
def test_no_two_event_ids_share_a_nonce(e1: str, e2: str) -> None:
    e1, e2 = unicodedata.normalize("NFC", e1), unicodedata.normalize("NFC", e2)
    deriver = NonceDeriver(SECRET)
    # Length-prefixing: "ab"+index can never read as "a"+something else.
    if e1 != e2:
        assert deriver.nonce(e1, 0) != deriver.nonce(e2, 0)
    assert deriver.nonce(e1, 0) != deriver.nonce(e1, 1)


def test_secrets_stay_out_of_repr() -> None:
    deriver = NonceDeriver(SECRET)
    nonce = deriver.nonce("x", 0)
    assert nonce.secret.hex() not in repr(nonce)
    assert "root hidden" in repr(deriver)


@pytest.mark.parametrize(
    ("event_id", "index", "match"),
    [
        ("", 0, "non-empty"),
        ("A\u030a", 0, "NFC"),
        ("x" * 70000, 0, "bytes, more than"),
        ("x", -1, "index"),
        ("x", 65536, "index"),
    ],
)
def test_bad_input(event_id: str, index: int, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        NonceDeriver(SECRET).nonce(event_id, index)


def test_bad_count_and_secret() -> None:
    with pytest.raises(InvalidInput, match="count"):
        NonceDeriver(SECRET).nonces("x", 0)
    with pytest.raises(InvalidInput, match="32 bytes"):
        NonceDeriver(b"short")
