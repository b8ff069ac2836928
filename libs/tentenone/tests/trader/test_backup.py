"""Backups: encrypted under the seed's key, versions only grow, stale ones refused."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tentenone.chain.network import Network
from tentenone.dlc.messages import AcceptDlc, OfferDlc, SignDlc
from tentenone.dlc.protocol.opening import accept_offer, build_offer, sign_accept
from tentenone.dlc.protocol.settlement import complete_cet, refund_transaction
from tentenone.dlc.protocol.signed import SignedContract
from tentenone.dlc.protocol.signer import KeyInputSigner
from tentenone.dlc.protocol.states import TraderState
from tentenone.dlc.protocol.terms import build_contract
from tentenone.dlc.protocol.testing import (
    TestOracle,
    key,
    party_funding,
    sample_terms,
)
from tentenone.dlc.signing import Signer
from tentenone.dlc.validation import ValidationPolicy
from tentenone.trader.backup import (
    BackupPayload,
    ContractRecord,
    LocalBackupFile,
    blob_version,
    check_fresh,
    decrypt_backup,
    encrypt_backup,
    settle_only,
)
from tentenone.trader.errors import BackupCorrupt, BackupStale
from tentenone.trader.keys import TraderKeys
from tentenone.trader.keystore import SecretWords
from tentenone.wallet import generate_mnemonic
from tentenone.wire.dlc import MAX_BACKUP_BYTES

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
KEYS = TraderKeys(SecretWords("abandon " * 11 + "about"), Network.REGTEST)
POLICY = ValidationPolicy(chain_hashes=frozenset({bytes(32)}))


def _contract(pid: str) -> ContractRecord:
    return ContractRecord(
        id=pid,
        state=5,
        version=4,
        position_id=pid,
        market="btcusd1",
        side="long",
        quantity=1000,
        price_cents=5_000_000,
        leverage=5,
        temporary_contract_id="00" * 32,
        offer_hex="ab" * 5000,
        sign_hex="cd" * 100_000,
        maturity=NOW,
        created_at=NOW,
        updated_at=NOW,
    )


def _payload(version: int, state_number: int = 3, pids: tuple[str, ...] = ("p1",)) -> BackupPayload:
    return BackupPayload(
        version=version,
        created_at=NOW,
        network="regtest",
        node_pubkey=KEYS.node_pubkey.hex(),
        state_number=state_number,
        last_seq=7,
        funding_key_next=2,
        contracts=[_contract(p) for p in pids],
        orders=[],
    )


def test_round_trip_and_compression() -> None:
    blob = encrypt_backup(_payload(5), KEYS.backup_key())
    assert blob_version(blob) == 5
    assert decrypt_backup(blob, KEYS.backup_key()) == _payload(5)
    assert len(blob) < 20_000  # hex compresses
    assert b"regtest" not in blob and KEYS.node_pubkey.hex().encode() not in blob  # all sealed


def test_another_seed_or_a_damaged_blob_is_refused() -> None:
    blob = encrypt_backup(_payload(5), KEYS.backup_key())
    other = TraderKeys(SecretWords(generate_mnemonic()), Network.REGTEST)
    with pytest.raises(BackupCorrupt, match="another wallet"):
        decrypt_backup(blob, other.backup_key())
    flipped = bytearray(blob)
    flipped[-1] ^= 1
    with pytest.raises(BackupCorrupt):
        decrypt_backup(bytes(flipped), KEYS.backup_key())
    with pytest.raises(BackupCorrupt, match="not a tentenone backup"):
        decrypt_backup(b"XXXX" + blob[4:], KEYS.backup_key())


def test_the_version_cannot_be_relabelled() -> None:
    blob = bytearray(encrypt_backup(_payload(5), KEYS.backup_key()))
    blob[12] = 9  # the low byte of the version
    assert blob_version(bytes(blob)) == 9
    with pytest.raises(BackupCorrupt):
        decrypt_backup(bytes(blob), KEYS.backup_key())


def test_local_file_keeps_the_newest(tmp_path: Path) -> None:
    store = LocalBackupFile(tmp_path / "b" / "backup.bin")
    key = KEYS.backup_key()
    assert store.version() == 0
    v2, v3 = encrypt_backup(_payload(2), key), encrypt_backup(_payload(3), key)
    assert store.write(v2)
    assert store.write(v3)
    assert not store.write(v2)  # older: refused, the newer one stays
    assert store.read() == v3
    assert store.write(v3)  # the same again: fine
    assert not store.write(encrypt_backup(_payload(3), key))  # same version, other bytes
    assert store.read() == v3


def test_stale_detection() -> None:
    payload = _payload(4, state_number=3, pids=("p1",))
    # behind only in the state number: the coordinator moved p1 on its own
    report = check_fresh(payload, 5, {"p1": "settled"})
    assert report.behind and not report.missing_positions
    # a new offer nobody signed yet, or a cancelled one: fine
    check_fresh(payload, 6, {"p1": "open", "p2": "offered", "p3": "cancelled"})
    # a position we signed after the backup: refused
    with pytest.raises(BackupStale, match="p2") as exc:
        check_fresh(payload, 7, {"p1": "open", "p2": "signed"})
    assert exc.value.details["missing"] == ["p2"]


def test_a_renewal_held_under_its_stand_in_id_is_not_stale() -> None:
    """A backup written between renew_accept and renew_sign knows the new contract by its
    temporary id only; the coordinator already has it as a position of its own."""
    renewal = _contract("p1~r1").model_copy(update={"temporary_contract_id": "ee" * 32})
    payload = _payload(4).model_copy(update={"contracts": [_contract("p1"), renewal]})
    positions = {"p1": "rolling_over", "p9": "rolling_over"}
    report = check_fresh(payload, 8, positions, {"p9": ["ee" * 32, "ff" * 32]})
    assert report.behind and not report.missing_positions
    # another contract the coordinator holds our signatures for: still refused
    with pytest.raises(BackupStale, match="p9"):
        check_fresh(payload, 8, positions, {"p9": ["dd" * 32]})


# -- what a backup keeps of a contract (ADR 0113) ---------------------------------------------

EVENT = "btcusd-backup"


@dataclass(frozen=True)
class _Opened:
    oracle: TestOracle
    record: ContractRecord


@pytest.fixture(scope="module")
def opened() -> _Opened:
    """A real signed contract (the trader's three messages), as a backup record."""
    oracle = TestOracle()
    terms = sample_terms(oracle, EVENT, max_cets=40)
    info, curve = build_contract(terms, oracle.announce(EVENT, 1_800_000_000))
    offer = build_offer(
        info,
        curve.offer_collateral,
        party_funding("coordinator", 1),
        chain_hash=bytes(32),
        fee_rate=2,
        cet_locktime=100,
        refund_locktime=1_000,
    )
    accept, _ = accept_offer(offer, POLICY, party_funding("trader", 2), key("trader fund"))
    sign, _ = sign_accept(
        offer, accept, POLICY, key("coordinator fund"), KeyInputSigner([key("coordinator wallet")])
    )
    record = _contract("p1").model_copy(
        update={
            "offer_hex": offer.serialize().hex(),
            "accept_hex": accept.serialize().hex(),
            "sign_hex": sign.serialize().hex(),
        }
    )
    return _Opened(oracle, record)


def _signed(record: ContractRecord) -> SignedContract:
    return SignedContract.from_opening(
        OfferDlc.parse(bytes.fromhex(record.offer_hex)),
        AcceptDlc.parse(bytes.fromhex(record.accept_hex or "")),
        SignDlc.parse(bytes.fromhex(record.sign_hex or "")),
    )


@pytest.mark.parametrize("price", [20_000, 50_000, 61_234])
def test_a_settle_only_contract_completes_the_same_cet(opened: _Opened, price: int) -> None:
    full, kept = _signed(opened.record), _signed(settle_only(opened.record))
    attestation = opened.oracle.attest(EVENT, price)
    ours = complete_cet(kept, Signer.ACCEPTER, key("trader fund"), [attestation], POLICY.hashing)
    whole = complete_cet(full, Signer.ACCEPTER, key("trader fund"), [attestation], POLICY.hashing)
    assert ours[0].serialize() == whole[0].serialize()
    assert refund_transaction(kept).serialize() == refund_transaction(full).serialize()
    assert kept.txs.cets == full.txs.cets and kept.contract_id == full.contract_id


def test_settle_only_drops_what_settling_does_not_read(opened: _Opened) -> None:
    record = opened.record
    kept = settle_only(record)
    assert settle_only(kept) == kept  # idempotent: a restored device backs up the same
    accept = AcceptDlc.parse(bytes.fromhex(kept.accept_hex or ""))
    full_accept = AcceptDlc.parse(bytes.fromhex(record.accept_hex or ""))
    assert accept.cet_adaptor_signatures == ()
    assert accept.refund_signature == full_accept.refund_signature
    sign = SignDlc.parse(bytes.fromhex(kept.sign_hex or ""))
    full_sign = SignDlc.parse(bytes.fromhex(record.sign_hex or ""))
    assert len(sign.cet_adaptor_signatures) == len(full_sign.cet_adaptor_signatures) > 40
    for pruned, sig in zip(
        sign.cet_adaptor_signatures, full_sign.cet_adaptor_signatures, strict=True
    ):
        assert pruned[:33] == sig[:33] and pruned[66:98] == sig[66:98]  # R and s_a
    # a settled contract keeps no adaptor signature at all
    final = settle_only(record.model_copy(update={"state": int(TraderState.SETTLED)}))
    assert SignDlc.parse(bytes.fromhex(final.sign_hex or "")).cet_adaptor_signatures == ()
    assert _signed(final).txs.cets == _signed(record).txs.cets


#: the adaptor signatures per side of the bench's 3,000-CET contract (5x/5x, 20 digits)
BENCH_SIGNATURES = 9_341


def _big(opened: _Opened, pid: str, rng: random.Random) -> ContractRecord:
    """``opened`` with as many adaptor signatures as a 3,000-CET contract (random bytes,
    which compress no better than real ones)."""
    accept = AcceptDlc.parse(bytes.fromhex(opened.record.accept_hex or ""))
    sign = SignDlc.parse(bytes.fromhex(opened.record.sign_hex or ""))

    def sigs() -> tuple[bytes, ...]:
        return tuple(rng.randbytes(162) for _ in range(BENCH_SIGNATURES))

    return opened.record.model_copy(
        update={
            "id": pid,
            "position_id": pid,
            "accept_hex": replace(accept, cet_adaptor_signatures=sigs()).serialize().hex(),
            "sign_hex": replace(sign, cet_adaptor_signatures=sigs()).serialize().hex(),
        }
    )


def test_ten_open_3000_cet_positions_fit_the_gateway(opened: _Opened) -> None:
    rng = random.Random(7)
    records = [_big(opened, f"p{n}", rng) for n in range(10)]
    whole = _payload(9).model_copy(update={"contracts": records[:1]})
    # every message whole: three positions would already be more than the gateway keeps
    assert len(encrypt_backup(whole, KEYS.backup_key())) > MAX_BACKUP_BYTES // 3
    kept = _payload(9).model_copy(update={"contracts": [settle_only(r) for r in records]})
    blob = encrypt_backup(kept, KEYS.backup_key())
    assert len(blob) < MAX_BACKUP_BYTES  # the DLC service's limit; base64 fits the upload's
    assert decrypt_backup(blob, KEYS.backup_key()) == kept
