"""Declaring a service's tables: a SQLModel base on the service's own MetaData.

Each service's tables live on their own MetaData (with the platform tables
added), so one process can host every service in the embedded default and
each service's Alembic autogenerate sees only its own tables::

    from sqlmodel import Field, SQLModel
    from tentenone.store import service_registry

    class OrderbookTable(SQLModel, registry=service_registry()):
        pass

    class Order(OrderbookTable, table=True):
        id: str = Field(primary_key=True)

Tables are declared without a schema; on PostgreSQL the engine maps them onto
the service's schema. Table definitions the app and the coordinator share are
non-table SQLModel classes in ``tentenone.store`` that each side subclasses
with ``table=True`` on its own base.
"""

from __future__ import annotations

from sqlalchemy.orm import registry

from tentenone.store.tables import new_metadata, platform_tables

__all__ = ["service_registry"]


def service_registry() -> registry:
    """A fresh SQLAlchemy registry whose MetaData already holds the platform tables."""
    metadata = new_metadata()
    platform_tables(metadata)
    return registry(metadata=metadata)
