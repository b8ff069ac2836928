"""The oracle on the bus: its events and RPC methods.

Events (exchange ``oracle.events``, whichever oracle instance publishes;
``oracle_public_key`` tells instances apart):

- ``oracle.announced``: an event announced, with its ``oracle_announcement`` TLV;
- ``oracle.attested``: an event attested, with its ``oracle_attestation`` TLV;
- ``oracle.index_price``: the BTC/USD index price, every few seconds (for the
  market maker and the gateway; not stored, may be missed: it is a feed).

RPC methods of the instance named ``oracle`` (``oracle.<method>``); another
instance ``oracle-b`` serves the same methods as ``oracle-b.<method>``
(``rpc_methods("oracle-b")``): ``get_public_key``, ``list_announcements``,
``get_announcement``, ``get_attestation``, ``get_index_price``,
``announce_enum``, ``attest_enum``.

Prices on the wire are integers (USD cents); TLVs, keys, nonces and
signatures are lower-case hex.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field

from tentenone.wire.base import Event, RpcMethod, WireModel

__all__ = [
    "ANNOUNCE_ENUM",
    "ATTEST_ENUM",
    "GET_ANNOUNCEMENT",
    "GET_ATTESTATION",
    "GET_INDEX_PRICE",
    "GET_PUBLIC_KEY",
    "LIST_ANNOUNCEMENTS",
    "AnnounceEnumRequest",
    "Announcement",
    "AnnouncementList",
    "AttestEnumRequest",
    "Attestation",
    "EventIdRequest",
    "IndexPrice",
    "IndexPriceUpdated",
    "ListAnnouncementsRequest",
    "NoArguments",
    "OracleAnnounced",
    "OracleAttested",
    "OracleIdentity",
    "PriceQuote",
    "rpc_methods",
]

_HEX64 = r"^[0-9a-f]{64}$"
_HEX = r"^([0-9a-f]{2})*$"
_EVENT_ID = Field(min_length=1, max_length=100)


class OracleIdentity(WireModel):
    """Who an oracle is: its service name, x-only public key and outcome hashing."""

    oracle: str
    public_key: str = Field(pattern=_HEX64)
    hashing: Literal["tagged", "sha256"]


class Announcement(WireModel):
    oracle: str
    event_id: str = _EVENT_ID
    oracle_public_key: str = Field(pattern=_HEX64)
    hashing: Literal["tagged", "sha256"]
    maturity: dt.datetime
    kind: Literal["numeric", "enum"]
    #: numeric: base, isSigned, unit, precision, nbDigits; enum: outcomes
    descriptor: dict[str, Any]
    nonces: list[str]
    announcement_signature: str = Field(pattern=r"^[0-9a-f]{128}$")
    announcement_tlv: str = Field(pattern=_HEX)
    state: Literal["announced", "attested"]


class Attestation(WireModel):
    oracle: str
    event_id: str = _EVENT_ID
    oracle_public_key: str = Field(pattern=_HEX64)
    maturity: dt.datetime
    #: the attested value ("91210") or the enumerated outcome
    outcome: str
    #: the strings signed, one per nonce (the digits, most significant first)
    values: list[str]
    signatures: list[str]
    #: numeric events: the index price the outcome was rounded from
    price_cents: int | None = None
    attested_at: dt.datetime
    attestation_tlv: str = Field(pattern=_HEX)


class PriceQuote(WireModel):
    source: str
    price_cents: int
    observed_at: dt.datetime


class IndexPrice(WireModel):
    oracle: str
    price_cents: int = Field(ge=0)
    at: dt.datetime
    quotes: list[PriceQuote]


class OracleAnnounced(Announcement, Event):
    event_type = "oracle.announced"
    source = "oracle"


class OracleAttested(Attestation, Event):
    event_type = "oracle.attested"
    source = "oracle"


class IndexPriceUpdated(IndexPrice, Event):
    event_type = "oracle.index_price"
    source = "oracle"


class NoArguments(WireModel):
    pass


class EventIdRequest(WireModel):
    event_id: str = _EVENT_ID


class ListAnnouncementsRequest(WireModel):
    #: only events maturing strictly after this instant
    after: dt.datetime | None = None
    limit: int = Field(default=100, ge=1, le=1000)


class AnnouncementList(WireModel):
    announcements: list[Announcement]


class AnnounceEnumRequest(WireModel):
    event_id: str = _EVENT_ID
    maturity: dt.datetime
    outcomes: list[str] = Field(min_length=1, max_length=1000)


class AttestEnumRequest(WireModel):
    event_id: str = _EVENT_ID
    outcome: str = Field(min_length=1, max_length=200)


def rpc_methods(service: str) -> dict[str, RpcMethod[Any, Any]]:
    """The RPC methods an oracle instance named ``service`` serves, by method name."""
    specs: list[RpcMethod[Any, Any]] = [
        RpcMethod(service, "get_public_key", NoArguments, OracleIdentity, "the oracle's key"),
        RpcMethod(
            service,
            "list_announcements",
            ListAnnouncementsRequest,
            AnnouncementList,
            "announcements by maturity",
        ),
        RpcMethod(service, "get_announcement", EventIdRequest, Announcement, "one announcement"),
        RpcMethod(
            service, "get_attestation", EventIdRequest, Attestation, "an event's attestation"
        ),
        RpcMethod(service, "get_index_price", NoArguments, IndexPrice, "the index price now"),
        RpcMethod(
            service,
            "announce_enum",
            AnnounceEnumRequest,
            Announcement,
            "announce an enumerated event",
        ),
        RpcMethod(
            service,
            "attest_enum",
            AttestEnumRequest,
            Attestation,
            "attest an enumerated event (once; a repeat returns the first attestation)",
        ),
    ]
    return {spec.name: spec for spec in specs}


_DEFAULT = rpc_methods("oracle")
GET_PUBLIC_KEY = _DEFAULT["get_public_key"]
LIST_ANNOUNCEMENTS = _DEFAULT["list_announcements"]
GET_ANNOUNCEMENT = _DEFAULT["get_announcement"]
GET_ATTESTATION = _DEFAULT["get_attestation"]
GET_INDEX_PRICE = _DEFAULT["get_index_price"]
ANNOUNCE_ENUM = _DEFAULT["announce_enum"]
ATTEST_ENUM = _DEFAULT["attest_enum"]
