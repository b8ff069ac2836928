"""Errors of the store: each a `TentenoneError` with its own stable code."""

from __future__ import annotations

from tentenone.errors import (
    ConfigError,
    ConflictError,
    PayloadTooLarge,
    TentenoneError,
    Unavailable,
)

__all__ = [
    "ConcurrentModification",
    "DatabaseUnavailable",
    "InvalidDatabaseUrl",
    "MigrationError",
    "PayloadTooLarge",
]


class ConcurrentModification(ConflictError):
    """Another writer changed the row first (optimistic concurrency); retry from a fresh read."""

    code = "concurrent_modification"


class DatabaseUnavailable(Unavailable):
    """The database cannot be reached or did not answer in time."""

    code = "database_unavailable"


class InvalidDatabaseUrl(ConfigError):
    """The database URL names a backend or driver the store does not support."""

    code = "invalid_database_url"


class MigrationError(TentenoneError):
    """Migrations could not be found or applied."""

    code = "migration_failed"
