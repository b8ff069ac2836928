"""The oracle's tables: events (with their announcement), nonces, attestations.

What the constraints guarantee, whatever the code above them does:

- ``events.event_id`` is the primary key: an event is announced once.
- ``nonces.public_nonce`` is unique: a nonce is committed to one event and one
  digit only. Rows are written in the transaction that stores the
  announcement and its outbox event, so a nonce's use is on disk before the
  announcement can be published.
- ``attestations.event_id`` is the primary key: one outcome per event. The
  attestation row, the event's state change and the ``oracle.attested``
  outbox event commit together, and signatures leave the service only from
  this table (ADR 0073).

No secret is stored: nonces are re-derived from the key (ADR 0070).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import ClassVar

from sqlalchemy import Column, ForeignKey, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from tentenone.store import UtcDateTime, service_registry
from tentenone.store.statemachine import Stateful, StateMachine

__all__ = [
    "EVENT",
    "AttestationRow",
    "EventKind",
    "EventRow",
    "EventState",
    "NonceRow",
    "OracleTable",
]

_EVENT_ID_LEN = 100


class OracleTable(SQLModel, registry=service_registry()):
    """The base of every oracle table (its own MetaData, with the platform tables)."""


class EventKind(enum.StrEnum):
    NUMERIC = "numeric"
    ENUM = "enum"


class EventState(enum.IntEnum):
    ANNOUNCED = 1
    ATTESTED = 2


#: An event is announced once and attested once; attested is final.
EVENT = StateMachine(
    "oracle_event",
    EventState,
    initial={EventState.ANNOUNCED},
    transitions={EventState.ANNOUNCED: {EventState.ATTESTED}},
)


class EventRow(OracleTable, Stateful, table=True):
    """An announced event; ``state``/``version`` (Stateful) move only through ``EVENT``."""

    __tablename__ = "events"
    state_machine: ClassVar[StateMachine[EventState]] = EVENT

    event_id: str = Field(sa_column=Column(String(_EVENT_ID_LEN), primary_key=True))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    maturity: dt.datetime = Field(sa_column=Column(UtcDateTime(), nullable=False, index=True))
    #: The event descriptor as JSON (numeric: base, digits, unit...; enum: outcomes).
    descriptor: str = Field(sa_column=Column(Text, nullable=False))
    oracle_public_key: str = Field(sa_column=Column(String(64), nullable=False))
    #: The ``oracle_announcement`` TLV, hex.
    announcement_tlv: str = Field(sa_column=Column(Text, nullable=False))
    announced_at: dt.datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class NonceRow(OracleTable, table=True):
    __tablename__ = "nonces"
    __table_args__ = (UniqueConstraint("public_nonce"),)

    event_id: str = Field(
        sa_column=Column(
            String(_EVENT_ID_LEN),
            ForeignKey("events.event_id", ondelete="RESTRICT"),
            primary_key=True,
        )
    )
    idx: int = Field(primary_key=True)
    #: The x-only R value (hex) announced for this digit.
    public_nonce: str = Field(sa_column=Column(String(64), nullable=False))


class AttestationRow(OracleTable, table=True):
    __tablename__ = "attestations"

    event_id: str = Field(
        sa_column=Column(
            String(_EVENT_ID_LEN),
            ForeignKey("events.event_id", ondelete="RESTRICT"),
            primary_key=True,
        )
    )
    #: The outcome: the attested value ("91210") or the enumerated outcome.
    outcome: str = Field(sa_column=Column(Text, nullable=False))
    #: JSON list of the strings signed, one per nonce (the digits, or the enum outcome).
    outcomes: str = Field(sa_column=Column(Text, nullable=False))
    #: JSON list of the 64-byte BIP-340 signatures, hex, in nonce order.
    signatures: str = Field(sa_column=Column(Text, nullable=False))
    #: The ``oracle_attestation`` TLV, hex.
    attestation_tlv: str = Field(sa_column=Column(Text, nullable=False))
    #: Numeric events: the index price (decimal text) and the quotes it came from (JSON).
    price: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    price_sources: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    attested_at: dt.datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
