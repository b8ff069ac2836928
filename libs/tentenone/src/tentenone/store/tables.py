"""The platform tables every service has in its own schema: outbox, inbox, transition log.

They are defined once here, as SQLAlchemy Core tables, in numbered versions.
``platform_tables(metadata)`` puts the latest version on a service's MetaData
(so Alembic autogenerate sees them and reports no difference); migrations
create a *given* version with ``tentenone.store.migrations.create_platform_tables(1)``
so an old migration keeps creating what it created when it was written.
A new version adds a function here and an upgrade step in ``migrations``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from tentenone.store.types import UtcDateTime

__all__ = [
    "INBOX",
    "NAMING_CONVENTION",
    "OUTBOX",
    "PLATFORM_TABLES_VERSION",
    "PLATFORM_TABLE_NAMES",
    "TRANSITIONS",
    "new_metadata",
    "platform_tables",
]

#: Constraint names are deterministic, so Alembic (and SQLite batch mode) can address them.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

PLATFORM_TABLES_VERSION = 1
PLATFORM_TABLE_NAMES = ("outbox", "inbox", "state_transitions")

# BIGINT on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")


def new_metadata() -> MetaData:
    """A MetaData with the project's constraint naming convention."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def _tables_v1(metadata: MetaData) -> tuple[Table, Table, Table]:
    outbox = Table(
        "outbox",
        metadata,
        # Publish order. sqlite_autoincrement: never reuse a number after a purge.
        Column("seq", _SEQ, primary_key=True, autoincrement=True),
        Column("id", String(36), nullable=False),
        Column("source", String(100), nullable=False),
        Column("event_type", String(255), nullable=False),
        Column("payload", Text, nullable=False),
        Column("headers", Text, nullable=False),
        Column("correlation_id", String(128), nullable=True),
        Column("occurred_at", UtcDateTime(), nullable=False),
        Column("published_at", UtcDateTime(), nullable=True),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        PrimaryKeyConstraint("seq", name="pk_outbox"),
        UniqueConstraint("id", name="uq_outbox_id"),
        Index(
            "ix_outbox_unpublished",
            "seq",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
        sqlite_autoincrement=True,
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", String(200), nullable=False),
        Column("event_id", String(200), nullable=False),
        Column("received_at", UtcDateTime(), nullable=False),
        PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox"),
        Index("ix_inbox_received_at", "received_at"),
    )
    transitions = Table(
        "state_transitions",
        metadata,
        Column("seq", _SEQ, primary_key=True, autoincrement=True),
        Column("machine", String(100), nullable=False),
        Column("entity_id", String(200), nullable=False),
        # The row's version after this transition: one entry per version.
        Column("version", Integer, nullable=False),
        Column("from_state", Integer, nullable=True),
        Column("to_state", Integer, nullable=False),
        Column("reason", Text, nullable=False),
        Column("data", Text, nullable=False),
        Column("correlation_id", String(128), nullable=True),
        Column("at", UtcDateTime(), nullable=False),
        PrimaryKeyConstraint("seq", name="pk_state_transitions"),
        UniqueConstraint(
            "machine", "entity_id", "version", name="uq_state_transitions_machine_entity_version"
        ),
        sqlite_autoincrement=True,
    )
    return outbox, inbox, transitions


_VERSIONS = {1: _tables_v1}


def platform_tables(metadata: MetaData, version: int = PLATFORM_TABLES_VERSION) -> list[Table]:
    """Define the platform tables (``version`` of them) on ``metadata`` and return them."""
    build = _VERSIONS.get(version)
    if build is None:
        raise ValueError(f"unknown platform tables version {version}; known: {sorted(_VERSIONS)}")
    return list(build(metadata))


# The tables the outbox, inbox and state-machine functions query. Every service's
# copies have the same names and columns; the engine's schema_translate_map picks the schema.
OUTBOX, INBOX, TRANSITIONS = _tables_v1(new_metadata())
