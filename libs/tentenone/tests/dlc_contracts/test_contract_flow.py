"""The product contract end to end with our own keys: offer, accept, sign,
validation by both sides, then an oracle attestation unlocking exactly the
CET of the attested price."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tentenone.bitcoin import ecdsa
from tentenone.dlc import adaptor
from tentenone.dlc.adaptor_points import adaptor_points
from tentenone.dlc.decomposition import prefix_interval
from tentenone.dlc.messages import parse_message
from tentenone.dlc.signing import CetLayout, cet_digests
from tentenone.dlc.validation import (
    InvalidAdaptorSignature,
    ValidationPolicy,
    validate_accept,
    validate_offer,
    validate_sign,
)
from tentenone.oracle.attestation import attest, attestation_secret
from tentenone.oracle.hashing import OracleHashing, digit_outcomes

VECTORS = Path(__file__).resolve().parents[5] / "shared" / "vectors" / "dlcspecs" / "test_vectors"


def test_both_sides_validate_the_whole_exchange(flow: Any) -> None:
    for message in (flow.offer, flow.accept, flow.sign):
        assert parse_message(message.serialize()) == message
    validate_offer(flow.offer, flow.policy)
    accepted = validate_accept(flow.offer, flow.accept, flow.policy)
    signed = validate_sign(accepted, flow.sign, flow.policy)
    offer_input = signed.funding_transaction.inputs[0]
    assert offer_input.witness == flow.sign.funding_signatures[0]
    assert signed.funding_transaction.txid() == accepted.transactions.funding.tx.txid()


@pytest.mark.parametrize("price", [1, 40_000, 49_999, 50_000, 55_123, 61_000, 2**20 - 1])
def test_attestation_decrypts_the_cet_of_the_price(flow: Any, price: int) -> None:
    accepted = validate_accept(flow.offer, flow.accept, flow.policy)
    plan, txs = accepted.plan, accepted.transactions
    outcomes = digit_outcomes(price, 2, 20)
    signatures = attest(flow.oracle_secret, flow.nonce_secrets, outcomes, OracleHashing.SHA256)
    matches = [
        (i, e)
        for i, e in enumerate(plan.entries)
        if list(e.oracles[0].messages) == outcomes[: len(e.oracles[0].messages)]
    ]
    assert len(matches) == 1, "exactly one adaptor signature per attested outcome"
    index, entry = matches[0]
    prefix = tuple(int(d) for d in entry.oracles[0].messages)
    start, end = prefix_interval(prefix, 2, 20)
    assert start <= price <= end
    secret = attestation_secret(signatures[: len(prefix)])
    digest = cet_digests(txs)[entry.cet_index]
    for pubkey, sigs in (
        (flow.accept.funding_pubkey, flow.accept.cet_adaptor_signatures),
        (flow.offer.funding_pubkey, flow.sign.cet_adaptor_signatures),
    ):
        assert ecdsa.verify_compact(pubkey, digest, adaptor.decrypt(sigs[index], secret))
    # the CET pays what the curve says at this price
    payout = plan.payouts[entry.cet_index]
    cet_values = sorted(out.value for out in txs.cets[entry.cet_index].outputs)
    assert cet_values == sorted(v for v in (payout.offer, payout.accept) if v >= 1000)


def test_adaptor_points_match_the_attestation(flow: Any) -> None:
    accepted = validate_accept(flow.offer, flow.accept, flow.policy)
    points = adaptor_points(flow.offer.contract_info, accepted.plan)
    outcomes = digit_outcomes(50_000, 2, 20)
    signatures = attest(flow.oracle_secret, flow.nonce_secrets, outcomes, OracleHashing.SHA256)
    for point, entry in zip(points, accepted.plan.entries, strict=True):
        messages = list(entry.oracles[0].messages)
        if messages == outcomes[: len(messages)]:
            secret = attestation_secret(signatures[: len(messages)])
            from tentenone.bitcoin.curve import base_mult

            assert base_mult(int.from_bytes(secret, "big")).format() == point.format()
            return
    pytest.fail("no adaptor point for the attested outcome")


def _vector_messages(name: str) -> tuple[Any, Any, Any]:
    data = json.loads((VECTORS / name).read_text())
    return tuple(  # type: ignore[return-value]
        parse_message(bytes.fromhex(data[k]["serialized"]))
        for k in ("offer_message", "accept_message", "sign_message")
    )


def test_rust_dlc_disjoint_layout_is_verified_only_when_asked() -> None:
    """rust-dlc's disjoint contracts sign later events' CETs with nLockTime 0 and
    the offerer signs event-relative CET indexes (ADR 0034): the spec layout
    rejects them, the rust-dlc layout accepts them."""
    offer, accept, sign = _vector_messages("enum_and_numerical_5_of_5_test.json")
    spec = ValidationPolicy(chain_hashes=frozenset({offer.chain_hash}))
    with pytest.raises(InvalidAdaptorSignature) as info:
        validate_accept(offer, accept, spec)
    assert info.value.code == "dlc_invalid_adaptor_signature"
    rust = ValidationPolicy(chain_hashes=frozenset({offer.chain_hash}), layout=CetLayout.RUST_DLC)
    validate_sign(validate_accept(offer, accept, rust), sign, rust)


def test_signing_and_verification_over_a_process_pool(flow: Any) -> None:
    from concurrent.futures import ProcessPoolExecutor
    from dataclasses import replace

    from tentenone.dlc.signing import sign_cets

    with ProcessPoolExecutor(max_workers=2) as pool:
        accepted = validate_accept(flow.offer, flow.accept, flow.policy, executor=pool)
        validate_sign(accepted, flow.sign, flow.policy, executor=pool)
        fresh = sign_cets(
            flow.accept_fund_secret,
            flow.offer.contract_info,
            accepted.plan,
            accepted.transactions,
            executor=pool,
        )
        # fresh nonces: other bytes, equally valid
        assert fresh != flow.accept.cet_adaptor_signatures
        validate_accept(
            flow.offer,
            replace(flow.accept, cet_adaptor_signatures=fresh),
            flow.policy,
            executor=pool,
        )
        sigs = list(flow.accept.cet_adaptor_signatures)
        sigs[-1] = flow.sign.cet_adaptor_signatures[-1]  # the offerer's, for the same CET
        broken = replace(flow.accept, cet_adaptor_signatures=tuple(sigs))
        with pytest.raises(InvalidAdaptorSignature) as info:
            validate_accept(flow.offer, broken, flow.policy, executor=pool)
    assert info.value.details["index"] == len(sigs) - 1


def test_find_execution_of_the_product_contract(flow: Any) -> None:
    from tentenone.dlc.execution import find_execution
    from tentenone.dlc.oracle_messages import OracleAttestation

    accepted = validate_accept(flow.offer, flow.accept, flow.policy)
    announcement = flow.offer.contract_info.event.oracle_info.announcement
    outcomes = digit_outcomes(47_777, 2, 20)
    sigs = attest(flow.oracle_secret, flow.nonce_secrets, outcomes, OracleHashing.SHA256)
    attestation = OracleAttestation(
        announcement.oracle_event.event_id,
        announcement.oracle_public_key,
        tuple(sigs),
        tuple(outcomes),
    )
    execution = find_execution(flow.offer.contract_info, accepted.plan, [attestation])
    digest = cet_digests(accepted.transactions)[execution.cet_index]
    signature = adaptor.decrypt(
        flow.accept.cet_adaptor_signatures[execution.entry_index], execution.secret
    )
    assert ecdsa.verify_compact(flow.accept.funding_pubkey, digest, signature)


def test_find_execution_two_of_three_oracles(announcement_factory: Any) -> None:
    """With 2-of-3 oracles, two attestations of the same price unlock the CET of
    that pair; one attestation alone unlocks nothing."""
    from tentenone.bitcoin.curve import base_mult
    from tentenone.dlc.cets import plan_cets
    from tentenone.dlc.contract import ContractEvent, MultiOracleInfo, SingleContractInfo
    from tentenone.dlc.curve import InverseFuture, Side, build_inverse_future
    from tentenone.dlc.errors import ContractError
    from tentenone.dlc.execution import find_execution
    from tentenone.dlc.oracle_messages import (
        DigitDecompositionEventDescriptor,
        OracleAnnouncement,
        OracleAttestation,
        OracleEvent,
    )
    from tentenone.oracle import schnorr

    def secret(label: str) -> bytes:
        import hashlib

        return hashlib.sha256(label.encode()).digest()

    oracles = []
    for o in range(3):
        nonce_secrets = [secret(f"o{o} nonce {i}") for i in range(20)]
        event = OracleEvent(
            tuple(schnorr.nonce_point(k) for k in nonce_secrets),
            0,
            DigitDecompositionEventDescriptor(2, False, "usd", 0, 20),
            "btcusd",
        )
        key = secret(f"o{o}")
        oracles.append(
            (key, nonce_secrets, OracleAnnouncement(bytes(64), schnorr.public_key(key), event))
        )
    curve = build_inverse_future(InverseFuture(Side.LONG, 1_000, 50_000, 5, 5, max_cets=20))
    info = SingleContractInfo(
        curve.total_collateral,
        ContractEvent(curve.descriptor, MultiOracleInfo(2, tuple(o[2] for o in oracles))),
    )
    plan = plan_cets(info)
    points = adaptor_points(info, plan)
    outcomes = digit_outcomes(53_210, 2, 20)

    def attestation_of(o: int) -> OracleAttestation:
        key, nonce_secrets, announcement = oracles[o]
        sigs = attest(key, nonce_secrets, outcomes, OracleHashing.SHA256)
        return OracleAttestation(
            "btcusd", announcement.oracle_public_key, tuple(sigs), tuple(outcomes)
        )

    execution = find_execution(info, plan, [attestation_of(2), attestation_of(0)])
    entry = plan.entries[execution.entry_index]
    assert {o.oracle for o in entry.oracles} == {0, 2}
    secret_point = base_mult(int.from_bytes(execution.secret, "big"))
    assert secret_point.format() == points[execution.entry_index].format()
    with pytest.raises(ContractError, match="refund"):
        find_execution(info, plan, [attestation_of(1)])
