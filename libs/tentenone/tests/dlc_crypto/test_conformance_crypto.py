"""Every case of the six crypto/transaction vector files, through the conformance handlers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tentenone.dlc.conformance._crypto import HANDLERS

# Case counts as shipped: a file that silently shrank would otherwise still pass.
EXPECTED_CASES = {
    "ecdsa_adaptor.json": 11,
    "contract_id_test.json": 4,
    "dlc_fee_test.json": 472,
    "dlc_fee_test_scripts.json": 11,
    "dlc_schnorr_test.json": 5,
    "dlc_hash_test.json": 6,
    "dlc_tx_test.json": 27,
}


@pytest.mark.parametrize("file_name", sorted(HANDLERS))
def test_every_case_passes(dlcspecs_vectors: Path, file_name: str) -> None:
    results = HANDLERS[file_name](dlcspecs_vectors / file_name)
    failed = [f"{r.name}: {r.detail}" for r in results if not r.passed]
    assert not failed, "\n".join(failed)
    assert len(results) == EXPECTED_CASES[file_name]


def test_cases_that_must_fail_are_rejected(dlcspecs_vectors: Path) -> None:
    """The 4 adaptor cases carrying an ``error`` pass only because we reject them."""
    import json

    from tentenone.dlc import adaptor

    cases = json.loads((dlcspecs_vectors / "ecdsa_adaptor.json").read_text())
    wrong_proof = next(c for c in cases if c.get("error") == "proof is wrong")
    assert not adaptor.verify(
        bytes.fromhex(wrong_proof["public_signing_key"]),
        bytes.fromhex(wrong_proof["encryption_key"]),
        bytes.fromhex(wrong_proof["message_hash"]),
        bytes.fromhex(wrong_proof["adaptor_sig"]),
    )
    assert sum(1 for c in cases if c.get("error")) == 4


def test_a_broken_expectation_fails(tmp_path: Path, dlcspecs_vectors: Path) -> None:
    """The handler really compares: one flipped byte in an expected value fails the case."""
    import json

    cases = json.loads((dlcspecs_vectors / "contract_id_test.json").read_text())
    cid = bytearray.fromhex(cases[0]["contractId"])
    cid[5] ^= 1
    cases[0]["contractId"] = cid.hex()
    broken = tmp_path / "contract_id_test.json"
    broken.write_text(json.dumps(cases))
    results = HANDLERS["contract_id_test.json"](broken)
    assert [r.passed for r in results] == [False, True, True, True]
    assert "contract id" in results[0].detail
