"""Shared helpers: where the dlcspecs vectors and specs live."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[4]
SHARED = REPO.parent / "shared"
VECTORS = SHARED / "vectors" / "dlcspecs"
RUN_FILES = sorted((VECTORS / "test_vectors").glob("*.json"))


def load_vector(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.fixture(params=RUN_FILES, ids=[p.stem for p in RUN_FILES])
def run_vector(request: pytest.FixtureRequest) -> dict[str, Any]:
    path: Path = request.param
    return load_vector(path)


def dummy_announcement(nb_digits: int, seed: int = 0, key: bytes | None = None) -> Any:
    """An announcement with distinct made-up nonces (its signature is not checked here)."""
    from tentenone.dlc.oracle_messages import (
        DigitDecompositionEventDescriptor,
        OracleAnnouncement,
        OracleEvent,
    )

    def h(*parts: object) -> bytes:
        return hashlib.sha256(repr((seed, *parts)).encode()).digest()

    event = OracleEvent(
        tuple(h("nonce", i) for i in range(nb_digits)),
        1_700_000_000,
        DigitDecompositionEventDescriptor(2, False, "usd/btc", 0, nb_digits),
        "btcusd",
    )
    return OracleAnnouncement(h("sig") + h("sig2"), key or h("key"), event)


@pytest.fixture(scope="session")
def announcement_factory() -> Any:
    return dummy_announcement


@dataclass(frozen=True)
class Flow:
    """A complete offer -> accept -> sign of the product contract, with every key."""

    oracle_secret: bytes
    nonce_secrets: tuple[bytes, ...]
    offer_fund_secret: bytes
    accept_fund_secret: bytes
    offer_wallet_secret: bytes
    policy: Any
    offer: Any
    accept: Any
    sign: Any
    curve: Any


def _secret(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def _prevtx(pubkey: bytes, value: int, tag: int) -> bytes:
    from tentenone.bitcoin.script import p2wpkh
    from tentenone.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut

    spend = TxIn(OutPoint(bytes([tag]) * 32, 0))
    return Transaction(2, (spend,), (TxOut(value, p2wpkh(pubkey)),), 0).serialize()


def build_flow(max_cets: int = 40, offer_side: str = "long") -> Flow:
    """Our own keys end to end: oracle announcement, curve, offer, accept, sign."""
    from dataclasses import replace

    from tentenone.bitcoin.curve import base_mult
    from tentenone.bitcoin.script import p2wpkh
    from tentenone.dlc.contract import ContractEvent, SingleContractInfo, SingleOracleInfo
    from tentenone.dlc.curve import InverseFuture, Side, build_inverse_future
    from tentenone.dlc.messages import AcceptDlc, FundingInput, OfferDlc, SignDlc
    from tentenone.dlc.oracle_messages import (
        DigitDecompositionEventDescriptor,
        OracleAnnouncement,
        OracleEvent,
    )
    from tentenone.dlc.signing import contract_transactions, sign_cets, sign_refund
    from tentenone.dlc.transactions import contract_id, sign_p2wpkh_input
    from tentenone.dlc.validation import ValidationPolicy, validate_accept, validate_offer
    from tentenone.oracle import schnorr
    from tentenone.oracle.announcement import sign_announcement
    from tentenone.oracle.hashing import OracleHashing

    def pub(secret: bytes) -> bytes:
        return bytes(base_mult(int.from_bytes(secret, "big")).format())

    oracle_secret = _secret("oracle")
    nonce_secrets = tuple(_secret(f"nonce {i}") for i in range(20))
    event = OracleEvent(
        tuple(schnorr.nonce_point(k) for k in nonce_secrets),
        1_800_000_000,
        DigitDecompositionEventDescriptor(2, False, "usd/btc", 0, 20),
        "btcusd-weekly",
    )
    announcement = OracleAnnouncement(
        sign_announcement(oracle_secret, event.value_bytes(), OracleHashing.SHA256),
        schnorr.public_key(oracle_secret),
        event,
    )
    curve = build_inverse_future(
        InverseFuture(Side(offer_side), 1_000, 50_000, 5, 5, fee=500, max_cets=max_cets)
    )
    info = SingleContractInfo(
        curve.total_collateral,
        ContractEvent(curve.descriptor, SingleOracleInfo(announcement)),
    )
    secrets = {name: _secret(name) for name in ("of", "af", "ow", "aw", "op", "ap")}
    chain = bytes(32)
    offer = OfferDlc(
        protocol_version=1,
        contract_flags=0,
        chain_hash=chain,
        temporary_contract_id=_secret("temp"),
        contract_info=info,
        funding_pubkey=pub(secrets["of"]),
        payout_spk=p2wpkh(pub(secrets["op"])),
        payout_serial_id=11,
        offer_collateral=curve.offer_collateral,
        funding_inputs=(
            FundingInput(7, _prevtx(pub(secrets["ow"]), 10_000_000, 1), 0, 0xFFFFFFFF, 107),
        ),
        change_spk=p2wpkh(pub(secrets["ow"])),
        change_serial_id=5,
        fund_output_serial_id=9,
        feerate_per_vb=2,
        cet_locktime=1_800_000_000,
        refund_locktime=1_800_604_800,
    )
    policy = ValidationPolicy(chain_hashes=frozenset({chain}))
    plan = validate_offer(offer, policy).plan
    unsigned = AcceptDlc(
        protocol_version=1,
        temporary_contract_id=offer.temporary_contract_id,
        accept_collateral=curve.accept_collateral,
        funding_pubkey=pub(secrets["af"]),
        payout_spk=p2wpkh(pub(secrets["ap"])),
        payout_serial_id=3,
        funding_inputs=(
            FundingInput(8, _prevtx(pub(secrets["aw"]), 10_000_000, 2), 0, 0xFFFFFFFF, 107),
        ),
        change_spk=p2wpkh(pub(secrets["aw"])),
        change_serial_id=13,
        cet_adaptor_signatures=(),
        refund_signature=bytes(64),
    )
    txs = contract_transactions(offer, unsigned, plan)
    accept = replace(
        unsigned,
        cet_adaptor_signatures=sign_cets(secrets["af"], info, plan, txs),
        refund_signature=sign_refund(secrets["af"], txs),
    )
    accepted = validate_accept(offer, accept, policy)
    funding = accepted.transactions.funding
    witness = sign_p2wpkh_input(funding.tx, 0, secrets["ow"], 10_000_000)
    sign = SignDlc(
        protocol_version=1,
        contract_id=contract_id(
            funding.tx.txid(), funding.output_index, offer.temporary_contract_id
        ),
        cet_adaptor_signatures=sign_cets(secrets["of"], info, plan, accepted.transactions),
        refund_signature=sign_refund(secrets["of"], accepted.transactions),
        funding_signatures=(witness,),
    )
    return Flow(
        oracle_secret,
        nonce_secrets,
        secrets["of"],
        secrets["af"],
        secrets["ow"],
        policy,
        offer,
        accept,
        sign,
        curve,
    )


@pytest.fixture(scope="session")
def flow() -> Flow:
    return build_flow()
