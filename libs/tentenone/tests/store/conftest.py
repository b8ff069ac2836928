from collections.abc import AsyncIterator

import pytest

from tentenone.store import Database, service_registry


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A service database on both backends, with the platform tables created."""
    database = Database(db_url, service="svc", metadata=service_registry().metadata)
    await database.create_all()
    try:
        yield database
    finally:
        await database.close()
