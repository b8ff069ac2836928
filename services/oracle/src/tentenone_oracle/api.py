"""The oracle's public REST API, shaped like p2pderivatives' oracle.

- ``GET /oracle/publickey``: the x-only key (hex) and the hashing convention
- ``GET /asset``, ``GET /asset/{asset}/config``
- ``GET /asset/{asset}/announcement/{time}``: the announcement of the first
  expiry at or after ``time`` (ISO 8601), announced on demand within range
- ``GET /asset/{asset}/attestation/{time}``: its attestation, once matured
- ``GET /announcements``: announcements by maturity (``after``, ``limit``)
- ``GET /announcements/{event_id}``, ``GET /attestations/{event_id}``
- ``GET /index-price``: the index price now, with the quotes it came from

Announcements and attestations come as JSON with p2pderivatives' field
names (``oracleEvent.nonces``, ``signatures``, ``values``...) plus the
dlcspecs TLV in hex (``announcementTlv``, ``attestationTlv``). Errors are
problem+json with the error's stable ``code``.
"""

# No ``from __future__ import annotations``: FastAPI must see the route-local dependency type.
import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from tentenone.errors import InvalidInput, NotFound
from tentenone_oracle.oracle import Oracle
from tentenone_oracle.repository import Announced, Attested

__all__ = [
    "AnnouncementPublic",
    "AttestationPublic",
    "IndexPricePublic",
    "PublicKeyPublic",
    "build_router",
]


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True)


class PublicKeyPublic(_Public):
    publicKey: str  # noqa: N815 - p2pderivatives' field names
    hashing: str
    instance: str


class OracleEventPublic(_Public):
    nonces: list[str]
    eventMaturity: dt.datetime  # noqa: N815
    eventMaturityEpoch: int  # noqa: N815
    eventDescriptor: dict[str, Any]  # noqa: N815
    eventId: str  # noqa: N815


class AnnouncementPublic(_Public):
    announcementSignature: str  # noqa: N815
    oraclePublicKey: str  # noqa: N815
    oracleEvent: OracleEventPublic  # noqa: N815
    announcementTlv: str  # noqa: N815
    status: str


class AttestationPublic(_Public):
    eventId: str  # noqa: N815
    oraclePublicKey: str  # noqa: N815
    signatures: list[str]
    values: list[str]
    outcome: str
    price: str | None
    maturity: dt.datetime
    attestedAt: dt.datetime  # noqa: N815
    attestationTlv: str  # noqa: N815


class QuotePublic(_Public):
    source: str
    price: str
    observedAt: dt.datetime  # noqa: N815


class IndexPricePublic(_Public):
    price: str
    at: dt.datetime
    quotes: list[QuotePublic]
    rejected: list[dict[str, str]]


def announcement_public(a: Announced) -> AnnouncementPublic:
    ann = a.announcement
    event = ann.oracle_event
    return AnnouncementPublic(
        announcementSignature=ann.announcement_signature.hex(),
        oraclePublicKey=ann.oracle_public_key.hex(),
        oracleEvent=OracleEventPublic(
            nonces=[n.hex() for n in event.oracle_nonces],
            eventMaturity=a.maturity,
            eventMaturityEpoch=event.event_maturity_epoch,
            eventDescriptor=a.descriptor,
            eventId=event.event_id,
        ),
        announcementTlv=ann.serialize().hex(),
        status=a.state.name.lower(),
    )


def attestation_public(a: Attested) -> AttestationPublic:
    att = a.attestation
    return AttestationPublic(
        eventId=a.event_id,
        oraclePublicKey=att.oracle_public_key.hex(),
        signatures=[s.hex() for s in att.signatures],
        values=list(att.outcomes),
        outcome=a.outcome,
        price=str(a.price) if a.price is not None else None,
        maturity=a.maturity,
        attestedAt=a.attested_at,
        attestationTlv=att.serialize().hex(),
    )


def build_router(get_oracle: Callable[..., Oracle]) -> APIRouter:
    """The routes, over the ``Oracle`` that ``get_oracle`` returns."""
    router = APIRouter(tags=["oracle"])
    OracleDep = Annotated[Oracle, Depends(get_oracle)]  # noqa: N806

    @router.get("/oracle/publickey")
    async def public_key(oracle: OracleDep) -> PublicKeyPublic:
        return PublicKeyPublic(
            publicKey=oracle.signer.public_key.hex(),
            hashing=oracle.signer.hashing.value,
            instance=oracle.config.name,
        )

    @router.get("/asset")
    async def assets(oracle: OracleDep) -> list[str]:
        return [oracle.schedule.symbol]

    @router.get("/asset/{asset}/config")
    async def asset_config(asset: str, oracle: OracleDep) -> dict[str, Any]:
        _check_asset(oracle, asset)
        period = oracle.schedule.period_s
        return {
            "startDate": dt.datetime.fromtimestamp(oracle.schedule.anchor_s, dt.UTC),
            "frequency": f"PT{period}S",
            "range": f"PT{period * oracle.config.announce_ahead}S",
            "schedule": oracle.schedule.spec,
        }

    @router.get("/asset/{asset}/announcement/{time}")
    async def asset_announcement(asset: str, time: str, oracle: OracleDep) -> AnnouncementPublic:
        expiry = _expiry_for(oracle, asset, time)
        found = await oracle.get_announced(oracle.schedule.event_id(expiry), missing_ok=True)
        if found is None:
            found = await _announce_in_range(oracle, expiry)
        return announcement_public(found)

    @router.get("/asset/{asset}/attestation/{time}")
    async def asset_attestation(asset: str, time: str, oracle: OracleDep) -> AttestationPublic:
        expiry = _expiry_for(oracle, asset, time)
        attested = await oracle.get_attested(oracle.schedule.event_id(expiry))
        assert attested is not None
        return attestation_public(attested)

    @router.get("/announcements")
    async def announcements(
        oracle: OracleDep,
        after: dt.datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[AnnouncementPublic]:
        if after is not None and after.tzinfo is None:
            raise InvalidInput("after must carry a time zone (e.g. ...Z)")
        return [announcement_public(a) for a in await oracle.list_announced(limit, after)]

    @router.get("/announcements/{event_id}")
    async def announcement(event_id: str, oracle: OracleDep) -> AnnouncementPublic:
        found = await oracle.get_announced(event_id)
        assert found is not None
        return announcement_public(found)

    @router.get("/attestations/{event_id}")
    async def attestation(event_id: str, oracle: OracleDep) -> AttestationPublic:
        found = await oracle.get_attested(event_id)
        assert found is not None
        return attestation_public(found)

    @router.get("/index-price")
    async def index_price(oracle: OracleDep) -> IndexPricePublic:
        index = await oracle.prices.latest()
        return IndexPricePublic(
            price=str(index.price),
            at=index.at,
            quotes=[
                QuotePublic(source=q.source, price=str(q.price), observedAt=q.observed_at)
                for q in index.quotes
            ],
            rejected=[
                {"source": r.source, "reason": r.reason.value, "detail": r.detail}
                for r in index.rejected
            ],
        )

    return router


def _check_asset(oracle: Oracle, asset: str) -> None:
    if asset != oracle.schedule.symbol:
        raise NotFound(
            f"unknown asset {asset[:40]!r}; this oracle attests {oracle.schedule.symbol}"
        )


def _expiry_for(oracle: Oracle, asset: str, time: str) -> dt.datetime:
    _check_asset(oracle, asset)
    try:
        when = dt.datetime.fromisoformat(time)
    except ValueError:
        raise InvalidInput(
            f"time {time[:40]!r} is not ISO 8601 (e.g. 2025-11-28T08:00:00Z)"
        ) from None
    if when.tzinfo is None:
        raise InvalidInput(f"time {time[:40]!r} has no time zone (add Z)")
    return oracle.schedule.at_or_after(when)


async def _announce_in_range(oracle: Oracle, expiry: dt.datetime) -> Announced:
    upcoming = oracle.schedule.upcoming(oracle.clock(), oracle.config.announce_ahead)
    if expiry not in upcoming:
        raise NotFound(
            f"no announcement for {expiry.isoformat()}: outside the announced range "
            f"(the next {oracle.config.announce_ahead} expiries)"
        )
    return await oracle.announce_expiry(expiry)
