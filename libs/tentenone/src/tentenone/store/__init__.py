"""tentenone.store: the relational store every service and the app use.

- :class:`Database`: engine (PostgreSQL schema per service, or a SQLite file),
  sessions, ``transaction()``, ``ping()``, ``migrate()``, ``migration_status()``.
- :func:`service_registry`: a SQLModel base on the service's own MetaData.
- Outbox (:func:`add_event` ...) and inbox (:func:`claim`) in every service's schema.
- Alembic per service: :mod:`tentenone.store.migrations`.
"""

from tentenone.store.database import Database
from tentenone.store.engine import Backend, create_engine, default_sqlite_url
from tentenone.store.errors import (
    ConcurrentModification,
    DatabaseUnavailable,
    InvalidDatabaseUrl,
    MigrationError,
    PayloadTooLarge,
)
from tentenone.store.inbox import claim, claim_many, purge_inbox
from tentenone.store.migrations import MigrationStatus, migrations_dir
from tentenone.store.models import service_registry
from tentenone.store.outbox import (
    OutboxEvent,
    add_event,
    add_events,
    fetch_unpublished,
    mark_attempted,
    mark_published,
    pending_stats,
    purge_published,
)
from tentenone.store.types import UtcDateTime, utcnow

__all__ = [
    "Backend",
    "ConcurrentModification",
    "Database",
    "DatabaseUnavailable",
    "InvalidDatabaseUrl",
    "MigrationError",
    "MigrationStatus",
    "OutboxEvent",
    "PayloadTooLarge",
    "UtcDateTime",
    "add_event",
    "add_events",
    "claim",
    "claim_many",
    "create_engine",
    "default_sqlite_url",
    "fetch_unpublished",
    "mark_attempted",
    "mark_published",
    "migrations_dir",
    "pending_stats",
    "purge_inbox",
    "purge_published",
    "service_registry",
    "utcnow",
]
