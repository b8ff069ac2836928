"""Test fixtures of the protocol: an oracle that announces and attests, keys, coins.

For tests only (ours, the trader's, the end-to-end ones): every key is
derived from a label, so a failing test is reproducible.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal

from tentenone.bitcoin.curve import base_mult, scalar_from_bytes
from tentenone.bitcoin.script import p2wpkh
from tentenone.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut
from tentenone.dlc.curve import Side
from tentenone.dlc.messages import FundingInput
from tentenone.dlc.oracle_messages import (
    DigitDecompositionEventDescriptor,
    OracleAnnouncement,
    OracleAttestation,
    OracleEvent,
)
from tentenone.dlc.protocol.opening import PartyFunding
from tentenone.dlc.protocol.terms import TradeTerms
from tentenone.oracle import schnorr
from tentenone.oracle.announcement import sign_announcement
from tentenone.oracle.attestation import attest
from tentenone.oracle.hashing import OracleHashing

__all__ = ["TestOracle", "key", "party_funding", "prev_tx_coin", "pubkey", "sample_terms"]


def key(label: str) -> bytes:
    """A secret key derived from ``label``."""
    return hashlib.sha256(label.encode()).digest()


def pubkey(secret: bytes) -> bytes:
    return bytes(base_mult(scalar_from_bytes(secret, "secret")).format())


def prev_tx_coin(secret: bytes, value: int, tag: int) -> FundingInput:
    """A funding input spending a made-up transaction paying P2WPKH(secret)."""
    spend = TxIn(OutPoint(hashlib.sha256(bytes([tag % 256, tag // 256])).digest(), 0))
    prev = Transaction(2, (spend,), (TxOut(value, p2wpkh(pubkey(secret))),), 0)
    return FundingInput(0, prev.serialize(), 0, 0xFFFFFFFF, 108)


def party_funding(label: str, tag: int, value: int = 5_000_000) -> PartyFunding:
    """One side's funding: keys from ``label``, one made-up coin of ``value`` sat."""
    return PartyFunding(
        pubkey(key(f"{label} fund")),
        p2wpkh(pubkey(key(f"{label} payout"))),
        p2wpkh(pubkey(key(f"{label} wallet"))),
        (prev_tx_coin(key(f"{label} wallet"), value, tag),),
    )


@dataclass
class TestOracle:
    """An oracle with fixed keys: announces digit events, attests prices."""

    label: str = "oracle"
    nb_digits: int = 20
    hashing: OracleHashing = OracleHashing.SHA256
    _nonces: dict[str, tuple[bytes, ...]] = field(default_factory=dict)

    __test__ = False  # not a pytest class

    @property
    def secret(self) -> bytes:
        return key(self.label)

    @property
    def public_key(self) -> bytes:
        return schnorr.public_key(self.secret)

    def announce(self, event_id: str, maturity: int) -> OracleAnnouncement:
        nonces = tuple(key(f"{self.label} {event_id} nonce {i}") for i in range(self.nb_digits))
        self._nonces[event_id] = nonces
        event = OracleEvent(
            tuple(schnorr.nonce_point(k) for k in nonces),
            maturity,
            DigitDecompositionEventDescriptor(2, False, "usd/btc", 0, self.nb_digits),
            event_id,
        )
        signature = sign_announcement(self.secret, event.value_bytes(), self.hashing)
        return OracleAnnouncement(signature, self.public_key, event)

    def attest(self, event_id: str, price: int) -> OracleAttestation:
        digits = tuple(format(price, f"0{self.nb_digits}b"))
        sigs = attest(self.secret, self._nonces[event_id], digits, self.hashing)
        return OracleAttestation(event_id, self.public_key, tuple(sigs), digits)


def sample_terms(
    oracle: TestOracle, event_id: str, *, side: Side = Side.LONG, max_cets: int = 60
) -> TradeTerms:
    """A 5x/5x trade of 1,000 USD at 50,000 with a 500 sat fee."""
    return TradeTerms(
        trader_side=side,
        quantity=1_000,
        price=Decimal(50_000),
        trader_leverage=Decimal(5),
        coordinator_leverage=Decimal(5),
        fee=500,
        oracle_public_key=oracle.public_key,
        event_id=event_id,
        nb_digits=oracle.nb_digits,
        max_cets=max_cets,
    )
