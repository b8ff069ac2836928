"""Wire models (``tentenone.wire.oracle``) built from committed records."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from tentenone.wire.oracle import (
    Announcement,
    Attestation,
    IndexPrice,
    OracleAnnounced,
    OracleAttested,
    PriceQuote,
)
from tentenone_oracle.aggregation import IndexPrice as IndexPriceRecord
from tentenone_oracle.repository import Announced, Attested

__all__ = [
    "announced_event",
    "announcement_view",
    "attestation_view",
    "attested_event",
    "cents",
    "index_price_view",
]


def cents(price: Decimal) -> int:
    """USD to whole cents, half-up: prices travel as integers."""
    return int((price * 100).to_integral_value(rounding=ROUND_HALF_UP))


def announcement_view(oracle: str, hashing: str, a: Announced) -> Announcement:
    ann = a.announcement
    event = ann.oracle_event
    return Announcement(
        oracle=oracle,
        event_id=a.event_id,
        oracle_public_key=ann.oracle_public_key.hex(),
        hashing=hashing,
        maturity=a.maturity,
        kind=a.kind.value,
        descriptor=a.descriptor,
        nonces=[n.hex() for n in event.oracle_nonces],
        announcement_signature=ann.announcement_signature.hex(),
        announcement_tlv=ann.serialize().hex(),
        state=a.state.name.lower(),
    )


def attestation_view(oracle: str, a: Attested) -> Attestation:
    att = a.attestation
    return Attestation(
        oracle=oracle,
        event_id=a.event_id,
        oracle_public_key=att.oracle_public_key.hex(),
        maturity=a.maturity,
        outcome=a.outcome,
        values=list(att.outcomes),
        signatures=[s.hex() for s in att.signatures],
        price_cents=cents(a.price) if a.price is not None else None,
        attested_at=a.attested_at,
        attestation_tlv=att.serialize().hex(),
    )


def announced_event(oracle: str, hashing: str, a: Announced) -> OracleAnnounced:
    return OracleAnnounced(**dict(announcement_view(oracle, hashing, a)))


def attested_event(oracle: str, a: Attested) -> OracleAttested:
    return OracleAttested(**dict(attestation_view(oracle, a)))


def index_price_view(oracle: str, index: IndexPriceRecord) -> IndexPrice:
    return IndexPrice(
        oracle=oracle,
        price_cents=cents(index.price),
        at=index.at,
        quotes=[
            PriceQuote(source=q.source, price_cents=cents(q.price), observed_at=q.observed_at)
            for q in index.quotes
        ],
    )
