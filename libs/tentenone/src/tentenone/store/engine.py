"""Async engines chosen by URL: PostgreSQL (asyncpg) or SQLite (aiosqlite).

PostgreSQL: one schema per service. Tables are declared without a schema and
mapped onto the service's schema by ``schema_translate_map``, so the same
table classes serve the coordinator (a schema each) and the app or the
embedded default (a SQLite file each).

SQLite: WAL journal, foreign keys on, a busy timeout, and every transaction
opened with ``BEGIN IMMEDIATE``. Taking the write lock at BEGIN means two
writers queue behind each other instead of one failing with "database is
locked" when it upgrades a read lock; the second then reads the first's
committed rows, so optimistic version checks fail cleanly.
"""

from __future__ import annotations

import enum
import hashlib
import re
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, StaticPool

from tentenone.store.errors import InvalidDatabaseUrl

__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "Backend",
    "backend_of",
    "create_engine",
    "default_sqlite_url",
    "lock_schema",
    "safe_url",
    "service_url",
    "validate_schema_name",
]

SQLITE_BUSY_TIMEOUT_MS = 10_000

_DRIVERS = {"postgresql+asyncpg": "postgresql", "sqlite+aiosqlite": "sqlite"}
_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class Backend(enum.StrEnum):
    POSTGRESQL = "postgresql"
    SQLITE = "sqlite"


def _parse(url: str | URL) -> URL:
    if not isinstance(url, str | URL):
        raise InvalidDatabaseUrl(f"database URL must be a string, got {type(url).__name__}")
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise InvalidDatabaseUrl(f"cannot parse database URL: {exc}") from None


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, for logs and error messages."""
    return _parse(url).render_as_string(hide_password=True)


def backend_of(url: str | URL) -> Backend:
    """Which backend ``url`` names; refuses drivers the store does not support."""
    parsed = _parse(url)
    backend = _DRIVERS.get(parsed.drivername)
    if backend is None:
        raise InvalidDatabaseUrl(
            f"unsupported database URL {safe_url(parsed)!r}: use postgresql+asyncpg://... "
            "or sqlite+aiosqlite:///path",
            driver=parsed.drivername,
        )
    return Backend(backend)


def validate_schema_name(schema: str) -> str:
    """A PostgreSQL schema name we can put in DDL without quoting surprises."""
    if not isinstance(schema, str) or not _SCHEMA_RE.fullmatch(schema):
        raise InvalidDatabaseUrl(
            f"invalid schema name {schema!r}: lower-case letters, digits and '_', "
            "starting with a letter or '_', at most 63 characters"
        )
    return schema


def default_sqlite_url(service: str, data_dir: str | Path = ".data") -> str:
    """The embedded default: one SQLite file per service, so services never share tables."""
    return f"sqlite+aiosqlite:///{Path(data_dir) / f'{service}.db'}"


def service_url(url: str, service: str) -> str:
    """``url`` with ``{service}`` replaced by the service's name.

    One setting (``TENTENONE_DATABASE_URL=sqlite+aiosqlite:///.data/{service}.db``)
    then gives every service its own SQLite file.
    """
    if not isinstance(url, str):
        raise InvalidDatabaseUrl(f"database URL must be a string, got {type(url).__name__}")
    return url.replace("{service}", service)


async def lock_schema(conn: AsyncConnection, schema: str, lock_timeout: str = "120s") -> None:
    """Take the schema's DDL lock for the rest of ``conn``'s transaction (PostgreSQL).

    Replicas that create the schema or migrate it at the same time queue here
    instead of failing on each other's DDL. Bounded by ``lock_timeout``.
    """
    validate_schema_name(schema)
    if not re.fullmatch(r"\d+(ms|s|min)", lock_timeout):
        raise ValueError(f"lock_timeout {lock_timeout!r} must look like '500ms', '120s' or '2min'")
    digest = hashlib.blake2b(f"tentenone.ddl:{schema}".encode(), digest_size=8).digest()
    await conn.execute(text(f"SET LOCAL lock_timeout = '{lock_timeout}'"))
    await conn.execute(
        text("SELECT pg_advisory_xact_lock(:key)"),
        {"key": int.from_bytes(digest, "big", signed=True)},
    )


def create_engine(
    url: str | URL,
    *,
    schema: str | None = None,
    echo: bool = False,
    pool_size: int = 5,
    pool_pre_ping: bool = True,
    for_migrations: bool = False,
) -> AsyncEngine:
    """An async engine for ``url``; on PostgreSQL ``schema`` is required.

    ``for_migrations``: an unpooled PostgreSQL engine whose sessions also have
    ``search_path`` set to the schema, so Alembic's reflection (autogenerate)
    and raw SQL in migrations see the service's schema as the default one.
    """
    parsed = _parse(url)
    backend = backend_of(parsed)
    if backend is Backend.POSTGRESQL:
        if schema is None:
            raise InvalidDatabaseUrl("a PostgreSQL engine needs the service's schema name")
        validate_schema_name(schema)
        options = {"schema_translate_map": {None: schema}}
        if for_migrations:
            return create_async_engine(
                parsed,
                echo=echo,
                poolclass=NullPool,
                connect_args={"server_settings": {"search_path": schema}},
                execution_options=options,
            )
        engine = create_async_engine(
            parsed, echo=echo, pool_size=pool_size, execution_options=options
        )
        if pool_pre_ping:
            _ping_idle_connections(engine)
        return engine
    return _create_sqlite_engine(parsed, echo=echo)


#: a pooled connection unused for longer than this is pinged before it is handed out
IDLE_PING_S = 5.0


def _ping_idle_connections(engine: AsyncEngine) -> None:
    """Check a pooled connection before use only when it sat idle.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout, and asyncpg's ping
    is three round trips (BEGIN, ``;``, ROLLBACK): it doubled the cost of a
    short transaction. A connection used within the last few seconds is alive
    unless the server restarted in that window; then the first statement fails
    with a disconnect error, SQLAlchemy invalidates the pool, and the caller's
    retry (a redelivery, the client's next request) gets a fresh connection.
    """

    def on_connect(_dbapi: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def on_checkin(_dbapi: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def on_checkout(dbapi: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is not None and time.monotonic() - idle_since < IDLE_PING_S:
            return
        try:
            dbapi.ping()
        except Exception as exc:
            # The pool discards this connection and checks out another (up to 3 tries).
            raise DisconnectionError(f"pooled connection is dead: {exc}") from exc

    event.listen(engine.sync_engine, "connect", on_connect)
    event.listen(engine.sync_engine, "checkin", on_checkin)
    event.listen(engine.sync_engine, "checkout", on_checkout)


def _create_sqlite_engine(url: URL, *, echo: bool) -> AsyncEngine:
    database = url.database or ""
    kwargs: dict[str, Any] = {}
    if database in ("", ":memory:"):
        # One shared connection: every new connection would be a new, empty database.
        kwargs["poolclass"] = StaticPool
    else:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
    )
    event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Stop the driver from issuing its own deferred BEGIN; _sqlite_on_begin issues ours.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # FULL: a committed transaction survives power loss, not only a process crash.
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")
