"""The database a service holds: engine, sessions, transactions, health and migrations."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from sqlalchemy import MetaData, event, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from tentenone.config import BaseServiceSettings
from tentenone.errors import ConfigError
from tentenone.logging import get_logger
from tentenone.store import migrations
from tentenone.store.engine import (
    Backend,
    backend_of,
    create_engine,
    lock_schema,
    safe_url,
    service_url,
    validate_schema_name,
)
from tentenone.store.errors import DatabaseUnavailable, MigrationError
from tentenone.store.migrations import MigrationStatus
from tentenone.store.outbox import OUTBOX_ADDED_KEY, SOURCE_KEY

__all__ = ["Database"]

_log = get_logger(__name__)


class Database:
    """One service's database.

    ``url`` is ``postgresql+asyncpg://...`` (the service gets schema ``schema``,
    by default its name) or ``sqlite+aiosqlite:///path`` (``{service}`` in the
    URL is replaced by the service's name). ``metadata`` holds the service's
    tables; ``migrations`` is its Alembic folder (see ``tentenone.store.migrations``).
    """

    def __init__(
        self,
        url: str | URL,
        *,
        service: str,
        metadata: MetaData | None = None,
        migrations: Path | None = None,
        schema: str | None = None,
        echo: bool = False,
        pool_size: int = 5,
        pool_pre_ping: bool = True,
    ) -> None:
        if not isinstance(service, str) or not service.strip():
            raise ConfigError(f"service must be a non-empty name, got {service!r:.40}")
        if isinstance(url, str):
            url = service_url(url, service)
        self.service = service
        self.backend: Backend = backend_of(url)
        self.schema: str | None = None
        if self.backend is Backend.POSTGRESQL:
            self.schema = validate_schema_name(schema or service.replace("-", "_"))
        self.url = safe_url(url)
        self.metadata = metadata
        self.migrations = migrations
        self.engine: AsyncEngine = create_engine(
            url, schema=self.schema, echo=echo, pool_size=pool_size, pool_pre_ping=pool_pre_ping
        )
        self._raw_url = url
        self._outbox_listeners: list[Callable[[], None]] = []
        #: the transaction open in this task (a child task copies the context, so
        #: the task is compared too: it must open a transaction of its own)
        self._active: ContextVar[tuple[asyncio.Task[Any] | None, AsyncSession] | None] = ContextVar(
            f"transaction-{service}", default=None
        )
        # A Session class of our own, so commit hooks see only this database's sessions.
        self._session_class: type[Session] = type("ServiceSession", (Session,), {})
        event.listen(self._session_class, "after_commit", self._after_commit)
        event.listen(self._session_class, "after_rollback", self._after_rollback)
        self.sessions = async_sessionmaker(
            self.engine,
            class_=AsyncSession,
            sync_session_class=self._session_class,
            expire_on_commit=False,
            info={SOURCE_KEY: service},
        )

    @classmethod
    def from_settings(
        cls,
        settings: BaseServiceSettings,
        *,
        metadata: MetaData | None = None,
        migrations: Path | None = None,
    ) -> Self:
        return cls(
            settings.database_url,
            service=settings.service_name,
            schema=settings.schema_name,
            metadata=metadata,
            migrations=migrations,
        )

    def __repr__(self) -> str:
        where = f" schema={self.schema}" if self.schema else ""
        return f"<Database {self.service} {self.url}{where}>"

    # --- sessions ---------------------------------------------------------

    def session(self) -> AsyncSession:
        """A new session (use ``async with``); prefer :meth:`transaction`."""
        return self.sessions()

    @contextlib.asynccontextmanager
    async def transaction(self, *, new: bool = False) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on exit, rolled back on error.

        Inside another transaction of this database in the same task, it is
        that transaction's session under a savepoint: the inner block's writes
        roll back alone on error and commit with the outer one. A second
        transaction would be a second connection, and on SQLite (one writer,
        the write lock taken at BEGIN) it would wait for the first, which
        waits for it, until the busy timeout. ``new=True`` opens a second one
        all the same (PostgreSQL only, say two relays competing in a test).
        """
        task = asyncio.current_task()
        active = None if new else self._active.get()
        if active is not None and active[0] is task and active[1].in_transaction():
            async with active[1].begin_nested():
                yield active[1]
            return
        async with self.sessions() as session, session.begin():
            token = self._active.set((task, session))
            try:
                yield session
            finally:
                self._active.reset(token)

    def add_outbox_listener(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` after each commit that added outbox events; returns an unsubscriber.

        The relay uses it to wake at once instead of waiting for its next poll.
        Callbacks run in the committing task and must not block.
        """
        self._outbox_listeners.append(callback)
        return lambda: self._outbox_listeners.remove(callback)

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(OUTBOX_ADDED_KEY, False):
            for callback in list(self._outbox_listeners):
                try:
                    callback()
                except Exception:
                    _log.exception("outbox listener failed", extra={"service": self.service})

    def _after_rollback(self, session: Session) -> None:
        session.info.pop(OUTBOX_ADDED_KEY, None)

    # --- health -------------------------------------------------------------

    async def ping(self, timeout: float = 2.0) -> None:  # noqa: ASYNC109 - a bounded health check
        """Return if the database answers within ``timeout`` seconds, else raise."""
        try:
            async with asyncio.timeout(timeout), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except TimeoutError:
            raise DatabaseUnavailable(
                f"database {self.url} did not answer within {timeout} s"
            ) from None
        except Exception as exc:
            raise DatabaseUnavailable(f"database {self.url} unreachable: {exc}") from exc

    # --- schema and migrations ---------------------------------------------

    async def ensure_schema(self) -> None:
        """Create the service's PostgreSQL schema when missing (nothing on SQLite)."""
        if self.schema is None:
            return
        async with self.engine.begin() as conn:
            await lock_schema(conn, self.schema)
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))

    async def create_all(self) -> None:
        """Create the tables of ``metadata`` directly, without migrations (tests, tools)."""
        if self.metadata is None:
            raise MigrationError(f"{self!r} has no metadata to create tables from")
        await self.ensure_schema()
        async with self.engine.begin() as conn:
            await conn.run_sync(self.metadata.create_all)

    async def migrate(self, revision: str = "head") -> None:
        """Upgrade to ``revision`` (Alembic), creating the schema first; run on start."""
        await migrations.upgrade(self, revision)

    async def migration_status(self) -> MigrationStatus:
        """The applied revisions, the heads, and whether the database is at head."""
        return await migrations.status(self)

    # --- lifecycle ----------------------------------------------------------

    async def close(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
