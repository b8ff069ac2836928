"""Input checks: every bad script, outpoint, depth list or name is a typed error."""

from __future__ import annotations

import pytest

from tentenone.wire.chain import InvalidOutpoint, InvalidScript, InvalidTransaction, InvalidWatch
from tentenone_chain_monitor.validation import (
    check_depths,
    check_name,
    check_outpoint,
    parse_script_hex,
    parse_tx_hex,
)

P2WPKH = "0014" + "11" * 20


def test_good_scripts() -> None:
    assert parse_script_hex(P2WPKH) == bytes.fromhex(P2WPKH)
    assert parse_script_hex("6a") == b"\x6a"  # OP_RETURN alone
    assert parse_script_hex("4c02abcd")  # OP_PUSHDATA1 of 2 bytes
    assert parse_script_hex("4d0001" + "00" * 256)  # OP_PUSHDATA2 of 256


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("0014zz", "not hex"),
        ("001", "not hex"),
        ("0014" + "11" * 19, "runs past"),  # a 20-byte push with 19 bytes left
        ("4c", "inside the length"),
        ("4d01", "inside the length"),
        ("4c05aabb", "runs past"),
        ("51" * 10_001, "more than 10000"),
    ],
)
def test_bad_scripts(text: str, why: str) -> None:
    with pytest.raises(InvalidScript, match=why) as err:
        parse_script_hex(text)
    assert err.value.code == "chain_monitor_invalid_script"


def test_outpoints() -> None:
    assert check_outpoint("AB" * 32, 0) == ("ab" * 32, 0)
    for txid, vout in [("ab" * 31, 0), ("zz" * 32, 0), ("ab" * 32, -1), ("ab" * 32, 2**32)]:
        with pytest.raises(InvalidOutpoint) as err:
            check_outpoint(txid, vout)
        assert err.value.code == "chain_monitor_invalid_outpoint"
    with pytest.raises(InvalidOutpoint):
        check_outpoint("ab" * 32, True)  # type: ignore[arg-type]


def test_depths() -> None:
    assert check_depths([6, 1, 3, 3]) == [1, 3, 6]
    for bad in ([], [0], [1001], list(range(1, 12)), [True]):
        with pytest.raises(InvalidWatch):
            check_depths(bad)


def test_names() -> None:
    assert check_name("dlc", "owner", 64) == "dlc"
    assert check_name("c-1/funding:0", "ref", 200)
    for bad in ("", " dlc", "a b", "-x", "x" * 65):
        with pytest.raises(InvalidWatch, match="owner"):
            check_name(bad, "owner", 64)


def test_transactions() -> None:
    for bad in ("zz", "0100", "02000000000000000000"):
        with pytest.raises(InvalidTransaction) as err:
            parse_tx_hex(bad)
        assert err.value.code == "chain_monitor_invalid_transaction"
